package e2e

import (
	"context"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	cmpclient "github.com/argoproj/argo-cd/v3/cmpserver/apiclient"
	"github.com/argoproj/argo-cd/v3/pkg/apis/application/v1alpha1"
	argocmp "github.com/argoproj/argo-cd/v3/util/cmp"
	"google.golang.org/protobuf/types/known/emptypb"

	"github.com/argocd-image-resolver/argocd-image-resolver/cmp"
	"github.com/argocd-image-resolver/argocd-image-resolver/examples"
	"github.com/argocd-image-resolver/argocd-image-resolver/render"
	"github.com/argocd-image-resolver/argocd-image-resolver/resolve"
	"github.com/argocd-image-resolver/argocd-image-resolver/test/harness"
	"github.com/argocd-image-resolver/argocd-image-resolver/test/registrytest"
)

var benchAPIVersions = []string{"v1", "apps/v1", "networking.k8s.io/v1"}

// pluginEnv is the environment argocd-repo-server sends with a render of the
// example Application (built with Argo CD's own Env and parameter code).
func pluginEnv(tb testing.TB, params v1alpha1.ApplicationSourcePluginParameters) []string {
	tb.Helper()
	appEnv := v1alpha1.Env{
		{Name: "ARGOCD_APP_NAME", Value: "web"},
		{Name: "ARGOCD_APP_NAMESPACE", Value: "web"},
		{Name: "ARGOCD_APP_PROJECT_NAME", Value: "default"},
		{Name: "ARGOCD_APP_REVISION", Value: "0123456789abcdef0123456789abcdef01234567"},
		{Name: "ARGOCD_APP_SOURCE_REPO_URL", Value: "https://git.example.invalid/apps.git"},
		{Name: "ARGOCD_APP_SOURCE_PATH", Value: "examples/web"},
		{Name: "ARGOCD_APP_SOURCE_TARGET_REVISION", Value: "HEAD"},
	}
	env := append(appEnv.Environ(), "KUBE_VERSION=1.31.0", "KUBE_API_VERSIONS="+strings.Join(benchAPIVersions, ","))
	paramEnv, err := params.Environ()
	if err != nil {
		tb.Fatal(err)
	}
	return append(env, paramEnv...)
}

// socketRender does what argocd-repo-server does for one render through a
// plugin sidecar: dial the socket, check the plugin configuration, stream
// the repository with its metadata and wait for the manifests.
func socketRender(ctx context.Context, socket, appPath, repoRoot string, env []string) ([]string, error) {
	conn, client, err := cmpclient.NewConfigManagementPluginClientSet(socket).NewConfigManagementPluginClient()
	if err != nil {
		return nil, err
	}
	defer func() { _ = conn.Close() }()
	if _, err := client.CheckPluginConfiguration(ctx, &emptypb.Empty{}); err != nil {
		return nil, err
	}
	stream, err := client.GenerateManifest(ctx)
	if err != nil {
		return nil, err
	}
	if err := argocmp.SendRepoStream(ctx, appPath, repoRoot, stream, env, nil); err != nil {
		return nil, err
	}
	resp, err := stream.CloseAndRecv()
	if err != nil {
		return nil, err
	}
	return resp.GetManifests(), nil
}

// BenchmarkWarmRenderSocketVsInProcess compares one warm render of the
// example chart through the plugin socket (Argo CD's CMP client, tarball,
// checksum, extraction, cached resolution, Helm) with the in-process Helm
// render of the same chart and image, in the same run. It reports both
// latencies and their ratio. No Argo CD binary is needed.
//
//	go test ./test/e2e/ -run '^$' -bench WarmRender -benchtime 200x
func BenchmarkWarmRenderSocketVsInProcess(b *testing.B) {
	reg := registrytest.New(b)
	image := reg.Host() + "/acme/web"
	digests := reg.PushTags(b, "acme/web", exampleTags...)

	resolver, err := resolve.New(resolve.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))))
	if err != nil {
		b.Fatal(err)
	}
	srv, err := cmp.New(resolver,
		cmp.WithSocketDir(harness.ShortTempDir(b, "cmpb")),
		cmp.WithWorkDir(b.TempDir()),
		cmp.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))),
	)
	if err != nil {
		b.Fatal(err)
	}
	if err := srv.Listen(); err != nil {
		b.Fatal(err)
	}
	harness.RunInProcess(b, "cmp server", srv.Serve)

	repoRoot := b.TempDir()
	if _, err := examples.WriteChart(filepath.Join(repoRoot, "examples")); err != nil {
		b.Fatal(err)
	}
	appPath := filepath.Join(repoRoot, "examples", examples.ChartDir)
	env := pluginEnv(b, appParameters(image))
	req := render.Request{
		RepoRoot:    repoRoot,
		ChartDir:    appPath,
		ReleaseName: "web",
		Namespace:   "web",
		KubeVersion: "1.31.0",
		APIVersions: benchAPIVersions,
		Images: []render.Image{{
			Alias: "web", Repository: image, Tag: "1.6.3", Digest: digests["1.6.3"],
			Pin: resolve.PinTag, NamePath: "image.repository",
		}},
	}

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	// Warm up: the first socket render fills the resolver cache.
	viaSocket, err := socketRender(ctx, srv.SocketPath(), appPath, repoRoot, env)
	if err != nil {
		b.Fatalf("socket render: %v", err)
	}
	inProcess, err := render.Render(ctx, req)
	if err != nil {
		b.Fatalf("in-process render: %v", err)
	}
	want := image + ":1.6.3"
	if got := containerImages(viaSocket); len(got) != 1 || got[0] != want {
		b.Fatalf("socket render images %q, want %q", got, want)
	}
	if got := containerImages(inProcess.Manifests); len(got) != 1 || got[0] != want {
		b.Fatalf("in-process render images %q, want %q", got, want)
	}

	var socketTime, renderTime time.Duration
	iterations := 0
	for b.Loop() {
		iterations++
		start := time.Now()
		if _, err := socketRender(ctx, srv.SocketPath(), appPath, repoRoot, env); err != nil {
			b.Fatalf("socket render: %v", err)
		}
		mid := time.Now()
		if _, err := render.Render(ctx, req); err != nil {
			b.Fatalf("in-process render: %v", err)
		}
		socketTime += mid.Sub(start)
		renderTime += time.Since(mid)
	}
	n := float64(iterations)
	b.ReportMetric(float64(socketTime.Nanoseconds())/n, "socket-ns/op")
	b.ReportMetric(float64(renderTime.Nanoseconds())/n, "inprocess-ns/op")
	if renderTime > 0 {
		b.ReportMetric(float64(socketTime)/float64(renderTime), "socket/inprocess")
	}
}
