package e2e

import (
	"fmt"
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/argoproj/argo-cd/v3/pkg/apis/application/v1alpha1"

	"github.com/argocd-image-resolver/argocd-image-resolver/test/redistest"
	"github.com/argocd-image-resolver/argocd-image-resolver/test/registrytest"
)

// kustomizeFiles is a Kustomize application under apps/web. Its base runs
// the image under the name its manifests give it, acme/web:0.1.0 (not the
// registry's repository), in a Deployment's init container and container,
// beside a sidecar of another image, with a Service. overlays/prod
// prefixes the names, patches the replicas and sets its own images entry
// for acme/web (newTag 0.2.0), which the resolved version must win over.
//
// Two more applications name a remote base at remote, a URL the test
// serves: apps/remote names it itself, apps/remote-in-base through a local
// base.
func kustomizeFiles(remote string) map[string]string {
	return map[string]string{
		"apps/web/base/kustomization.yaml": `apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
  - deployment.yaml
  - service.yaml
`,
		"apps/web/base/deployment.yaml": `apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: 1
  selector:
    matchLabels:
      app: web
  template:
    metadata:
      labels:
        app: web
    spec:
      initContainers:
        - name: migrate
          image: acme/web:0.1.0
          args: [migrate]
      containers:
        - name: web
          image: acme/web:0.1.0
        - name: proxy
          image: docker.io/library/busybox:1.36
`,
		"apps/web/base/service.yaml": `apiVersion: v1
kind: Service
metadata:
  name: web
spec:
  selector:
    app: web
  ports:
    - port: 80
      targetPort: 8080
`,
		"apps/web/overlays/prod/kustomization.yaml": `apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
namePrefix: prod-
resources:
  - ../../base
images:
  - name: acme/web
    newTag: 0.2.0
patches:
  - target:
      kind: Deployment
      name: web
    patch: |-
      - op: replace
        path: /spec/replicas
        value: 3
`,
		"apps/remote/kustomization.yaml":              "resources:\n  - ../web/base\n  - " + remote + "\n",
		"apps/remote-in-base/kustomization.yaml":      "resources:\n  - base\n",
		"apps/remote-in-base/base/kustomization.yaml": "resources:\n  - " + remote + "\n",
	}
}

// TestRepoServerKustomize renders a Kustomize overlay through each
// release's repo-server and our `serve`: Kustomize builds it with the
// resolved version set in its images (under the manifests' name,
// web.kustomize.image-name, renamed to the registry's repository), which
// wins over the overlay's own entry, in the init container and container
// that run it; the sidecar keeps its image, the overlay's prefix and patch
// and the kustomize-common-labels parameter apply. A kustomization naming
// a remote base, itself or through a local base, is refused with an error
// that reaches the repo-server's caller, and no request leaves for it.
func TestRepoServerKustomize(t *testing.T) {
	var hits atomic.Int64
	remoteSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		hits.Add(1)
		fmt.Fprint(w, "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: fetched\n")
	}))
	t.Cleanup(remoteSrv.Close)
	remote := remoteSrv.URL + "/acme/base.git?ref=v1"

	forEachArgoCD(t, func(t *testing.T, argo argoCD) {
		reg := registrytest.New(t)
		image := reg.Host() + "/acme/web"
		reg.PushTags(t, "acme/web", exampleTags...)
		srv := startServe(t)
		rs := startRepoServer(t, argo.bin, redistest.Start(t).Addr(), srv.sockDir)
		repoURL, _ := gitRepoWith(t, kustomizeFiles(remote))
		params := v1alpha1.ApplicationSourcePluginParameters{
			{Name: "images", OptionalArray: &v1alpha1.OptionalArray{Array: []string{"web=" + image + ":~1.6"}}},
			{Name: "image-options", OptionalMap: &v1alpha1.OptionalMap{Map: map[string]string{
				"web.kustomize.image-name": "acme/web",
			}}},
			{Name: "kustomize-common-labels", OptionalMap: &v1alpha1.OptionalMap{Map: map[string]string{"team": "web"}}},
		}

		t.Run("overlay", func(t *testing.T) {
			manifests := rs.generate(t, repoURL, "apps/web/overlays/prod", srv.name, params)
			objects := renderedObjects(t, manifests)
			resolved := image + ":1.6.3"
			assertWorkloadImages(t, objects, map[string]string{
				"Deployment/prod-web initContainers[migrate]": resolved,
				"Deployment/prod-web containers[web]":         resolved,
				"Deployment/prod-web containers[proxy]":       "docker.io/library/busybox:1.36",
			}, manifests)
			want := []string{"Deployment/prod-web", "Service/prod-web"}
			if got := slices.Sorted(maps.Keys(objects)); !slices.Equal(got, want) {
				t.Errorf("rendered %v, want %v\n%s", got, want, dump(manifests))
			}
			if got, _ := valueAt(objects["Deployment/prod-web"], "spec", "replicas").(float64); got != 3 {
				t.Errorf("Deployment/prod-web spec.replicas = %v, want the overlay's patch, 3\n%s", got, dump(manifests))
			}
			for _, at := range [][]string{
				{"Deployment/prod-web", "metadata", "labels", "team"},
				{"Deployment/prod-web", "spec", "template", "metadata", "labels", "team"},
				{"Service/prod-web", "metadata", "labels", "team"},
			} {
				if got := stringAt(objects[at[0]], at[1:]...); got != "web" {
					t.Errorf("%s %s = %q, want the kustomize-common-labels parameter's \"web\"\n%s", at[0], strings.Join(at[1:], "."), got, dump(manifests))
				}
			}
		})

		for _, c := range []struct{ path, file string }{
			{"apps/remote", "apps/remote/kustomization.yaml"},
			{"apps/remote-in-base", "apps/remote-in-base/base/kustomization.yaml"},
		} {
			t.Run("remote base refused/"+c.path, func(t *testing.T) {
				before := hits.Load()
				err := rs.generateErr(t, repoURL, c.path, srv.name, params)
				t.Logf("render of %s fails with: %v", c.path, err)
				for _, want := range []string{c.file, remote, "is a remote reference"} {
					if !strings.Contains(err.Error(), want) {
						t.Errorf("error %q does not name %q", err, want)
					}
				}
				if n := hits.Load() - before; n != 0 {
					t.Errorf("%d requests reached the remote base's server, want none", n)
				}
			})
		}
	})
}
