// Package deps pins the module graph while packages are being written in
// parallel; removed once every dependency is imported by real code.
package deps

import (
	_ "github.com/Masterminds/semver/v3"
	_ "github.com/argoproj/argo-cd/v3/cmpserver/apiclient"
	_ "github.com/argoproj/argo-cd/v3/reposerver/apiclient"
	_ "github.com/awslabs/amazon-ecr-credential-helper/ecr-login"
	_ "github.com/chrismellard/docker-credential-acr-env/pkg/credhelper"
	_ "github.com/cyphar/filepath-securejoin"
	_ "github.com/distribution/distribution/v3/registry/handlers"
	_ "github.com/google/go-containerregistry/pkg/registry"
	_ "github.com/google/go-containerregistry/pkg/v1/google"
	_ "github.com/google/go-containerregistry/pkg/v1/remote"
	_ "github.com/patrickmn/go-cache"
	_ "github.com/prometheus/client_golang/prometheus"
	_ "github.com/spf13/cobra"
	_ "golang.org/x/sync/singleflight"
	_ "golang.org/x/time/rate"
	_ "helm.sh/helm/v3/pkg/action"
	_ "helm.sh/helm/v3/pkg/downloader"
	_ "k8s.io/client-go/dynamic"
	_ "sigs.k8s.io/controller-runtime/pkg/envtest"
)
