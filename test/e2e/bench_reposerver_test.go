package e2e

import (
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/argoproj/argo-cd/v3/pkg/apis/application/v1alpha1"
	"github.com/argoproj/argo-cd/v3/reposerver/apiclient"
	utiltls "github.com/argoproj/argo-cd/v3/util/tls"

	"github.com/argocd-image-resolver/argocd-image-resolver/test/harness"
	"github.com/argocd-image-resolver/argocd-image-resolver/test/redistest"
	"github.com/argocd-image-resolver/argocd-image-resolver/test/registrytest"
)

// BenchmarkRepoServerPluginVsHelm asks the real argocd-repo-server
// (ARGOCD_BIN) for the example chart's manifests, once as a plugin source
// rendered by `serve` (IMAGE_RESOLVER_BIN, its own process, warm cache) and
// once as Argo CD's native Helm source with the tag the plugin resolves
// given as a Helm parameter (HELM_BIN on the repo-server's PATH), in a
// repository with 0, 300 and 3000 other files beside the chart. The two
// alternate render by render, NoCache set as a hard refresh sets it, so
// both pay the repo-server's own work (revision lookup, checkout); the
// plugin path adds the repo-server's tar and gzip of the repository and
// the stream to the sidecar. REPOSERVER_RENDERS (default 20) renders of
// each per cell; the medians and their ratio are reported. A last cell
// repeats 3000 files with the repo-server sending the plugin only the
// Application's manifest-generate-paths.
//
//	ARGOCD_BIN=.cache/argocd-v3.6.1/argocd HELM_BIN=.cache/helm-v3.22.0/helm IMAGE_RESOLVER_BIN=bin/argocd-image-resolver \
//	  go test ./test/e2e/ -run '^$' -bench RepoServerPluginVsHelm -benchtime 1x
func BenchmarkRepoServerPluginVsHelm(b *testing.B) {
	argocdBin := harness.RequireBinary(b, "ARGOCD_BIN")
	harness.RequireBinary(b, "HELM_BIN")
	bin := harness.RequireBinary(b, "IMAGE_RESOLVER_BIN")
	renders := envInt(b, "REPOSERVER_RENDERS", 20)

	reg := registrytest.New(b)
	image := reg.Host() + "/acme/web"
	reg.PushTags(b, "acme/web", exampleTags...)
	sockDir := harness.ShortTempDir(b, "rsb")
	serve := harness.StartProcess(b, "serve", exec.Command(bin, "serve", "--socket-dir", sockDir, "--work-dir", b.TempDir(),
		"--http-addr", "", "--debug-addr", "", "--refresh-backend", "none", "--log-level", "warn"))
	harness.WaitFor(b, "serve's socket", serve.Done(), func() error { return harness.Dial("unix", filepath.Join(sockDir, "image-resolver.sock")) })
	redis := redistest.Start(b).Addr()
	rs := startRepoServer(b, argocdBin, redis, sockDir)
	for _, others := range []int{0, 300, 3000} {
		b.Run(fmt.Sprintf("files=%d", others), func(b *testing.B) {
			benchPluginVsHelm(b, rs, image, others, renders, "")
		})
	}
	// The repo-server setting that sends the plugin only the files under
	// the Application's manifest-generate-paths (here its own folder).
	b.Run("files=3000/manifest-generate-paths", func(b *testing.B) {
		b.Setenv("ARGOCD_REPO_SERVER_PLUGIN_USE_MANIFEST_GENERATE_PATHS", "true")
		narrow := startRepoServer(b, argocdBin, redis, sockDir)
		benchPluginVsHelm(b, narrow, image, 3000, renders, ".")
	})
}

// benchPluginVsHelm is one cell of BenchmarkRepoServerPluginVsHelm: the
// example chart beside others files, rendered through rs alternately by
// the plugin and by native Helm; generatePaths is the Application's
// argocd.argoproj.io/manifest-generate-paths annotation ("" for none).
func benchPluginVsHelm(b *testing.B, rs *repoServer, image string, others, renders int, generatePaths string) {
	conn, client, err := apiclient.NewRepoServerClientset(rs.addr, 60, utiltls.Configuration{DisableTLS: true}).NewRepoServerClient()
	if err != nil {
		b.Fatal(err)
	}
	defer func() { _ = conn.Close() }()
	files := make(map[string]string, others)
	for i := range others {
		files[fmt.Sprintf("apps/app-%03d/file-%d.yaml", i/10, i)] = fmt.Sprintf("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm-%d\ndata:\n  n: %q\n", i, fmt.Sprint(i))
	}
	repoURL, chartPath := gitRepoWith(b, files)
	pluginReq := manifestRequest(repoURL, chartPath, "image-resolver", appParameters(image))
	helmReq := manifestRequest(repoURL, chartPath, "", nil)
	helmReq.ApplicationSource = &v1alpha1.ApplicationSource{
		RepoURL: repoURL, Path: chartPath, TargetRevision: "HEAD",
		Helm: &v1alpha1.ApplicationSourceHelm{ReleaseName: "web", Parameters: []v1alpha1.HelmParameter{
			{Name: "image.repository", Value: image}, {Name: "image.tag", Value: "1.6.3"},
		}},
	}
	for _, req := range []*apiclient.ManifestRequest{pluginReq, helmReq} {
		req.KubeVersion = rs.argo.kubeVersion()
		req.AnnotationManifestGeneratePaths = generatePaths
	}
	render := func(req *apiclient.ManifestRequest) time.Duration {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		start := time.Now()
		resp, err := client.GenerateManifest(ctx, req)
		took := time.Since(start)
		if err != nil {
			b.Fatalf("GenerateManifest: %v", err)
		}
		if !strings.Contains(strings.Join(resp.GetManifests(), "\n"), image+":1.6.3") {
			b.Fatalf("manifests do not run %s:1.6.3:\n%s", image, dump(resp.GetManifests()))
		}
		return took
	}
	for range b.N {
		render(pluginReq) // warm: the checkout and the plugin's cache
		render(helmReq)
		var viaPlugin, viaHelm []time.Duration
		for range renders {
			viaPlugin = append(viaPlugin, render(pluginReq))
			viaHelm = append(viaHelm, render(helmReq))
		}
		p, h := median(viaPlugin), median(viaHelm)
		b.ReportMetric(float64(p.Microseconds())/1000, "plugin-ms")
		b.ReportMetric(float64(h.Microseconds())/1000, "helm-ms")
		b.ReportMetric(p.Seconds()/h.Seconds(), "plugin/helm")
	}
}

// median is the middle of durations (which it sorts).
func median(ds []time.Duration) time.Duration {
	slices.Sort(ds)
	return ds[len(ds)/2]
}
