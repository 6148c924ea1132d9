package cmp

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/argoproj/argo-cd/v3/cmpserver/apiclient"
	"github.com/argoproj/argo-cd/v3/pkg/apis/application/v1alpha1"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/emptypb"

	"github.com/argocd-image-resolver/argocd-image-resolver/render"
	"github.com/argocd-image-resolver/argocd-image-resolver/resolve"
	"github.com/argocd-image-resolver/argocd-image-resolver/test/tartest"
)

func webParams(reg *testRegistry, constraint string, extra ...v1alpha1.ApplicationSourcePluginParameter) v1alpha1.ApplicationSourcePluginParameters {
	p := v1alpha1.ApplicationSourcePluginParameters{
		arrayParam("images", "web="+reg.host+"/acme/web:"+constraint),
		mapParam("image-options", map[string]string{"web.helm.image-name": "image.repository"}),
	}
	return append(p, extra...)
}

func TestGenerateManifestHappyPath(t *testing.T) {
	reg := newTestRegistry(t)
	reg.push(t, "acme/web", "1.6.0", "1.6.3", "1.7.0", "2.0.0-rc.1")
	var mu sync.Mutex
	var recs []recorded
	h := startServer(t, reg, WithRecorder(recorderFunc(func(a App, s []resolve.Spec, r []resolve.Result) {
		mu.Lock()
		defer mu.Unlock()
		recs = append(recs, recorded{a, s, r})
	})))

	env := pluginEnv(t, "team-a_web", webParams(reg, "~1.6"))
	resp, err := h.generate(context.Background(), t, "apps/web", env)
	if err != nil {
		t.Fatalf("GenerateManifest: %v", err)
	}
	text := manifestsText(resp)
	mustContain(t, text,
		`image: "`+reg.host+`/acme/web:1.6.3"`,
		"name: web",           // release name = Application name without "<ns>_"
		"namespace: web-prod", // ARGOCD_APP_NAMESPACE
		`kube-version: "v1.31.2"`,
	)

	mu.Lock()
	defer mu.Unlock()
	if len(recs) != 1 {
		t.Fatalf("recorder called %d times, want 1", len(recs))
	}
	want := App{Name: "web", Namespace: "team-a", Project: "default", RepoURL: "https://git.example/acme/deploy.git",
		Path: "apps/web", TargetRevision: "HEAD", DestinationNamespace: "web-prod"}
	if recs[0].app != want {
		t.Errorf("recorded app %+v, want %+v", recs[0].app, want)
	}
	if len(recs[0].results) != 1 || recs[0].results[0].Tag != "1.6.3" || recs[0].specs[0].Alias != "web" {
		t.Errorf("recorded %+v %+v", recs[0].specs, recs[0].results)
	}
	h.assertNoLeftovers(t)
}

func TestGenerateManifestSecondRenderUsesCache(t *testing.T) {
	reg := newTestRegistry(t)
	reg.push(t, "acme/web", "1.0.0")
	h := startServer(t, reg)
	env := pluginEnv(t, "web", webParams(reg, "^1"))
	if _, err := h.generate(context.Background(), t, "apps/web", env); err != nil {
		t.Fatal(err)
	}
	before := reg.requests.Load()
	resp, err := h.generate(context.Background(), t, "apps/web", env)
	if err != nil {
		t.Fatal(err)
	}
	mustContain(t, manifestsText(resp), "acme/web:1.0.0")
	if n := reg.requests.Load() - before; n != 0 {
		t.Errorf("warm render made %d registry requests, want 0", n)
	}
}

// TestBadRequestsKeepServing sends each bad request, checks its gRPC
// error, then checks the same server still renders and left nothing behind.
func TestBadRequestsKeepServing(t *testing.T) {
	reg := newTestRegistry(t)
	reg.push(t, "acme/web", "1.2.3")
	h := startServer(t, reg,
		WithMaxTarSize(1<<20),
		WithMaxExtractedBytes(4<<20),
		WithMaxFiles(1000),
	)
	goodEnv := pluginEnv(t, "web", webParams(reg, "^1"))

	manyFiles := []tartest.Entry{}
	for i := range 10_000 {
		manyFiles = append(manyFiles, tartest.File(fmt.Sprintf("apps/web/f%05d", i), "x"))
	}
	bomb := tartest.Gzip(t, tartest.Tar(t, append(chartEntries(), tartest.Entry{
		Hdr:  tarHeader("apps/web/zeros", 64<<20),
		Body: make([]byte, 64<<20),
	})...))
	if len(bomb) > 1<<20 {
		t.Fatalf("bomb is %d bytes compressed; want it under the 1 MiB tar cap", len(bomb))
	}
	valid := tartest.Tgz(t, chartEntries()...)
	huge := bytes.Repeat([]byte("0123456789abcdef"), (2<<20)/16)

	cases := []struct {
		name string
		rs   rawStream
		code codes.Code
		msg  string
	}{
		{"checksum mismatch", rawStream{appRelPath: "apps/web", data: valid, checksum: strings.Repeat("ab", 32)}, codes.InvalidArgument, "checksum mismatch"},
		{"oversized by metadata", rawStream{appRelPath: "apps/web", data: huge}, codes.ResourceExhausted, "over the 1048576-byte limit"},
		{"oversized while streaming", rawStream{appRelPath: "apps/web", data: huge, size: 10}, codes.ResourceExhausted, "exceeds the 1048576-byte limit"},
		{"not gzip", rawStream{appRelPath: "apps/web", data: []byte("plain text")}, codes.InvalidArgument, "not a gzip stream"},
		{"absolute path", rawStream{appRelPath: "apps/web", data: tartest.Tgz(t, append(chartEntries(), tartest.File("/etc/evil", "x"))...)}, codes.InvalidArgument, `absolute path "/etc/evil"`},
		{"dot-dot path", rawStream{appRelPath: "apps/web", data: tartest.Tgz(t, append(chartEntries(), tartest.File("apps/../../evil", "x"))...)}, codes.InvalidArgument, "contains '..'"},
		{"symlink out", rawStream{appRelPath: "apps/web", data: tartest.Tgz(t, append(chartEntries(), tartest.Symlink("apps/web/passwd", "../../../etc/passwd"))...)}, codes.InvalidArgument, "points outside the repository"},
		{"absolute symlink", rawStream{appRelPath: "apps/web", data: tartest.Tgz(t, append(chartEntries(), tartest.Symlink("apps/web/passwd", "/etc/passwd"))...)}, codes.InvalidArgument, "points outside the repository"},
		{"symlink chain out", rawStream{appRelPath: "apps/web", data: tartest.Tgz(t, append(chartEntries(), tartest.Symlink("apps/web/top", "../.."), tartest.Symlink("apps/web/up", "top/.."))...)}, codes.InvalidArgument, `symlink "apps/web/up" resolves outside the repository`},
		{"hard link out", rawStream{appRelPath: "apps/web", data: tartest.Tgz(t, append(chartEntries(), tartest.Hardlink("apps/web/shadow", "/etc/shadow"))...)}, codes.InvalidArgument, "hard link"},
		{"hard link dot-dot", rawStream{appRelPath: "apps/web", data: tartest.Tgz(t, append(chartEntries(), tartest.Hardlink("apps/web/shadow", "../../etc/shadow"))...)}, codes.InvalidArgument, "hard link"},
		{"device file", rawStream{appRelPath: "apps/web", data: tartest.Tgz(t, append(chartEntries(), tartest.Entry{Hdr: devHeader("apps/web/null")})...)}, codes.InvalidArgument, "devices, fifos and sockets are refused"},
		{"10k tiny files", rawStream{appRelPath: "apps/web", data: tartest.Tgz(t, manyFiles...)}, codes.InvalidArgument, "more than 1000 entries"},
		{"gzip bomb", rawStream{appRelPath: "apps/web", data: bomb}, codes.InvalidArgument, "contents exceed 4194304 bytes"},
		{"app path outside", rawStream{appRelPath: "../elsewhere", data: valid}, codes.InvalidArgument, "leaves the repository"},
		{"missing chart", rawStream{appRelPath: "apps/nochart", data: tartest.Tgz(t, tartest.File("apps/nochart/README.md", "hi"))}, codes.InvalidArgument, `no Helm chart at path "apps/nochart"`},
		{"missing app path", rawStream{appRelPath: "apps/gone", data: valid}, codes.InvalidArgument, `application path "apps/gone" is not a directory`},
		{"bad parameters JSON", rawStream{appRelPath: "apps/web", data: valid, env: []string{"ARGOCD_APP_PARAMETERS={not json"}}, codes.InvalidArgument, "ARGOCD_APP_PARAMETERS is not the JSON list"},
		{"unknown parameter", rawStream{appRelPath: "apps/web", data: valid, env: []string{`ARGOCD_APP_PARAMETERS=[{"name":"imagez","array":["a"]}]`}}, codes.InvalidArgument, `unknown parameter "imagez"`},
		{"bad image spec", rawStream{appRelPath: "apps/web", data: valid, env: []string{`ARGOCD_APP_PARAMETERS=[{"name":"images","array":["web=UPPER/Case:1"]}]`}}, codes.InvalidArgument, `images[0] "web=UPPER/Case:1"`},
		{"no tag matches", rawStream{appRelPath: "apps/web", data: valid, env: []string{`ARGOCD_APP_PARAMETERS=[{"name":"images","array":["web=` + reg.host + `/acme/web:~9.0"]}]`}}, codes.FailedPrecondition, "web"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := h.sendRaw(context.Background(), t, tc.rs)
			st, _ := status.FromError(err)
			t.Logf("%v: %s", st.Code(), st.Message())
			if st.Code() != tc.code || !strings.Contains(st.Message(), tc.msg) {
				t.Errorf("got %v %q, want %v containing %q", st.Code(), st.Message(), tc.code, tc.msg)
			}
			resp, err := h.generate(context.Background(), t, "apps/web", goodEnv)
			if err != nil {
				t.Fatalf("server stopped serving after %s: %v", tc.name, err)
			}
			mustContain(t, manifestsText(resp), "acme/web:1.2.3")
			h.assertNoLeftovers(t)
		})
	}
}

func TestDeadlineExceededMidRender(t *testing.T) {
	reg := newTestRegistry(t)
	reg.push(t, "acme/web", "1.2.3")
	reg.push(t, "acme/slow", "1.0.0")
	release := reg.holdPath("/acme/slow/")
	defer release()
	h := startServer(t, reg)

	params := v1alpha1.ApplicationSourcePluginParameters{
		arrayParam("images", "slow="+reg.host+"/acme/slow:^1"),
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_, err := h.generate(ctx, t, "apps/web", pluginEnv(t, "web", params))
	st, _ := status.FromError(err)
	t.Logf("%v: %s", st.Code(), st.Message())
	if st.Code() != codes.DeadlineExceeded {
		t.Fatalf("got %v, want DeadlineExceeded", err)
	}
	// The server's own message (sent before the caller's deadline) names
	// the application and the alias.
	mustContain(t, st.Message(), "application web", "slow", "deadline")

	resp, err := h.generate(context.Background(), t, "apps/web", pluginEnv(t, "web", webParams(reg, "^1")))
	if err != nil {
		t.Fatalf("server stopped serving after a deadline: %v", err)
	}
	mustContain(t, manifestsText(resp), "acme/web:1.2.3")
	h.assertNoLeftovers(t)
}

func TestGracefulShutdownFinishesInflightRender(t *testing.T) {
	reg := newTestRegistry(t)
	reg.push(t, "acme/gate", "1.0.0")
	release := reg.holdPath("/acme/gate/")
	h := startServer(t, reg, WithGracePeriod(time.Minute))

	params := v1alpha1.ApplicationSourcePluginParameters{
		arrayParam("images", "gate="+reg.host+"/acme/gate:^1"),
		mapParam("image-options", map[string]string{"gate.helm.image-tag": "image.tag", "gate.helm.image-name": "image.repository"}),
	}
	type answer struct {
		resp *apiclient.ManifestResponse
		err  error
	}
	done := make(chan answer, 1)
	go func() {
		resp, err := h.generate(context.Background(), t, "apps/web", pluginEnv(t, "web", params))
		done <- answer{resp, err}
	}()
	<-reg.entered // the render is waiting on the registry

	stopped := make(chan error, 1)
	go func() { stopped <- h.stop() }()
	// Shutdown has begun; the in-flight render still completes when the
	// registry answers.
	release()
	a := <-done
	if a.err != nil {
		t.Fatalf("in-flight render failed during shutdown: %v", a.err)
	}
	mustContain(t, manifestsText(a.resp), "acme/gate:1.0.0")
	if err := <-stopped; err != nil {
		t.Fatalf("Serve: %v", err)
	}
	if _, err := os.Stat(h.srv.SocketPath()); !os.IsNotExist(err) {
		t.Errorf("socket still present after shutdown: %v", err)
	}
	h.assertNoLeftovers(t)
}

func TestListenReplacesStaleSocket(t *testing.T) {
	dir := shortTempDir(t)
	cfg, err := LoadPluginConfig("")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, cfg.SocketName())
	l, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	l.(*net.UnixListener).SetUnlinkOnClose(false)
	l.Close()
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("stale socket not left behind: %v", err)
	}
	reg := newTestRegistry(t)
	h := startServer(t, reg, WithSocketDir(dir))
	if _, err := h.client.CheckPluginConfiguration(context.Background(), &emptypb.Empty{}); err != nil {
		t.Fatalf("server on a replaced stale socket: %v", err)
	}

	notSocket := shortTempDir(t)
	if err := os.WriteFile(filepath.Join(notSocket, cfg.SocketName()), []byte("data"), 0o600); err != nil {
		t.Fatal(err)
	}
	srv, err := New(fakeResolver{}, WithSocketDir(notSocket), WithWorkDir(t.TempDir()))
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Listen(); err == nil || !strings.Contains(err.Error(), "not a socket") {
		t.Errorf("Listen over a regular file: %v, want a refusal", err)
	}
}

type fakeResolver struct{}

func (fakeResolver) Resolve(context.Context, []resolve.Spec) ([]resolve.Result, error) {
	return nil, nil
}

func TestSocketName(t *testing.T) {
	cfg, err := LoadPluginConfig("")
	if err != nil {
		t.Fatal(err)
	}
	if got := cfg.SocketName(); got != "image-resolver.sock" {
		t.Errorf("socket name %q", got)
	}
	t.Setenv("ARGOCD_PLUGINSOCKFILEPATH", "/run/plugins")
	srv, err := New(fakeResolver{}, WithWorkDir(t.TempDir()))
	if err != nil {
		t.Fatal(err)
	}
	if got := srv.SocketPath(); got != "/run/plugins/image-resolver.sock" {
		t.Errorf("socket path %q", got)
	}
}

func TestCheckPluginConfigurationAndMatchRepository(t *testing.T) {
	reg := newTestRegistry(t)
	base, err := LoadPluginConfig("")
	if err != nil {
		t.Fatal(err)
	}
	withDiscover := func(d PluginDiscover) *PluginConfig {
		c := *base
		c.Spec.Discover = d
		return &c
	}
	cases := []struct {
		name       string
		cfg        *PluginConfig
		appPath    string
		configured bool
		supported  bool
	}{
		{"no discovery", base, "apps/web", false, false},
		{"fileName matches", withDiscover(PluginDiscover{FileName: "Chart.y*ml"}), "apps/web", true, true},
		{"fileName misses", withDiscover(PluginDiscover{FileName: "kustomization.yaml"}), "apps/web", true, false},
		{"glob matches deep", withDiscover(PluginDiscover{Find: PluginFind{Glob: "**/deployment.yaml"}}), "apps/web", true, true},
		{"glob misses", withDiscover(PluginDiscover{Find: PluginFind{Glob: "**/*.jsonnet"}}), "apps/web", true, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := startServer(t, reg, WithPluginConfig(tc.cfg))
			cfg, err := h.client.CheckPluginConfiguration(context.Background(), &emptypb.Empty{})
			if err != nil {
				t.Fatal(err)
			}
			if cfg.IsDiscoveryConfigured != tc.configured || cfg.ProvideGitCreds {
				t.Errorf("CheckPluginConfiguration = %+v", cfg)
			}
			stream, err := h.client.MatchRepository(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			root, _ := filepath.Abs("testdata/repo")
			if err := sendRepo(stream, root, tc.appPath); err != nil {
				t.Fatal(err)
			}
			resp, err := stream.CloseAndRecv()
			if err != nil {
				t.Fatal(err)
			}
			if resp.IsSupported != tc.supported || resp.IsDiscoveryEnabled != tc.configured {
				t.Errorf("MatchRepository = %+v, want supported=%v discovery=%v", resp, tc.supported, tc.configured)
			}
			h.assertNoLeftovers(t)
		})
	}
}

func TestGetParametersAnnouncement(t *testing.T) {
	reg := newTestRegistry(t)
	reg.push(t, "acme/web", "1.4.0", "1.5.2")
	h := startServer(t, reg)
	stream, err := h.client.GetParametersAnnouncement(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	root, _ := filepath.Abs("testdata/repo")
	env := pluginEnv(t, "web", webParams(reg, "^1"))
	if err := sendRepo(stream, root, "apps/web", env...); err != nil {
		t.Fatal(err)
	}
	resp, err := stream.CloseAndRecv()
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]string{}
	for _, a := range resp.ParameterAnnouncements {
		byName[a.Name] = a.CollectionType + ":" + a.String_
	}
	for _, n := range []string{"images", "image-options", "value-files", "values", "helm-parameters", "helm-string-parameters", "release-name", "skip-crds", "ignore-missing-value-files"} {
		if _, ok := byName[n]; !ok {
			t.Errorf("static parameter %q not announced", n)
		}
	}
	if got := byName["image.web"]; got != "string:1.5.2" {
		t.Errorf("image.web announced as %q, want the resolved tag 1.5.2", got)
	}
	h.assertNoLeftovers(t)
}

func TestParallelismBoundsRenders(t *testing.T) {
	reg := newTestRegistry(t)
	reg.push(t, "acme/gate", "1.0.0")
	reg.push(t, "acme/web", "1.2.3")
	release := reg.holdPath("/acme/gate/")
	defer release()
	// On disk, to see when a repository reaches it.
	h := startServer(t, reg, WithParallelism(1), WithMaxMemoryRepo(0))

	gated := v1alpha1.ApplicationSourcePluginParameters{
		arrayParam("images", "gate="+reg.host+"/acme/gate:^1"),
		mapParam("image-options", map[string]string{"gate.helm.image-name": "image.repository"}),
	}
	first := make(chan error, 1)
	go func() {
		_, err := h.generate(context.Background(), t, "apps/web", pluginEnv(t, "first", gated))
		first <- err
	}()
	<-reg.entered // the only slot is taken

	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_, err := h.generate(ctx, t, "apps/web", pluginEnv(t, "second", webParams(reg, "^1")))
	st, _ := status.FromError(err)
	if st.Code() != codes.DeadlineExceeded || !strings.Contains(st.Message(), "all render slots are busy (parallelism 1)") {
		t.Fatalf("second render: %v, want DeadlineExceeded waiting for a slot", err)
	}
	// The waiting render's repository never reached the disk: only the
	// first render's work directory exists.
	if entries, err := os.ReadDir(h.srv.renderDir); err != nil || len(entries) != 1 {
		t.Fatalf("work directories while one render holds the only slot: %v %v, want 1", entries, err)
	}

	release()
	if err := <-first; err != nil {
		t.Fatalf("first render: %v", err)
	}
	if _, err := h.generate(context.Background(), t, "apps/web", pluginEnv(t, "third", webParams(reg, "^1"))); err != nil {
		t.Fatalf("render after the slot was freed: %v", err)
	}
	h.assertNoLeftovers(t)
}

func TestMatchRepositoryWithoutDiscoveryCapsTheStream(t *testing.T) {
	reg := newTestRegistry(t)
	h := startServer(t, reg, WithMaxTarSize(1024))
	stream, err := h.client.MatchRepository(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	_ = stream.Send(&apiclient.AppStreamRequest{Request: &apiclient.AppStreamRequest_Metadata{Metadata: &apiclient.ManifestRequestMetadata{AppRelPath: "."}}})
	_ = stream.Send(&apiclient.AppStreamRequest{Request: &apiclient.AppStreamRequest_File{File: &apiclient.File{Chunk: make([]byte, 4096)}}})
	_, err = stream.CloseAndRecv()
	if st, _ := status.FromError(err); st.Code() != codes.ResourceExhausted {
		t.Fatalf("got %v, want ResourceExhausted", err)
	}
}

// panicRenderer panics on its first call, then renders with Helm.
type panicRenderer struct {
	HelmRenderer
	once sync.Once
}

func (p *panicRenderer) Prepare(ctx context.Context, req render.Request) (Prepared, error) {
	p.once.Do(func() { panic("boom") })
	return p.HelmRenderer.Prepare(ctx, req)
}

func TestPanicInRenderIsAnErrorNotACrash(t *testing.T) {
	reg := newTestRegistry(t)
	reg.push(t, "acme/web", "1.2.3")
	h := startServer(t, reg, WithRenderer(&panicRenderer{}))
	env := pluginEnv(t, "web", webParams(reg, "^1"))
	_, err := h.generate(context.Background(), t, "apps/web", env)
	if st, _ := status.FromError(err); st.Code() != codes.Internal || !strings.Contains(st.Message(), "internal error: boom") {
		t.Fatalf("got %v, want Internal naming the panic", err)
	}
	if _, err := h.generate(context.Background(), t, "apps/web", env); err != nil {
		t.Fatalf("server stopped serving after a panic: %v", err)
	}
	h.assertNoLeftovers(t)
}

// TestSecondServerRefusesALiveSocket: a second plugin started on the same
// socket directory must refuse to start instead of taking the socket over
// (and deleting it on exit) while the first one keeps answering.
func TestSecondServerRefusesALiveSocket(t *testing.T) {
	reg := newTestRegistry(t)
	reg.push(t, "acme/web", "1.2.3")
	first := startServer(t, reg)

	second, err := New(fakeResolver{}, WithSocketDir(filepath.Dir(first.srv.SocketPath())), WithWorkDir(t.TempDir()), WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		t.Fatal(err)
	}
	err = second.Listen()
	if err == nil || !strings.Contains(err.Error(), "another process answers on "+first.srv.SocketPath()) {
		t.Fatalf("second Listen: %v, want a refusal naming the socket", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := second.Serve(ctx); err == nil {
		t.Fatal("second Serve started on a live socket")
	}
	if err := first.srv.Ready(); err != nil {
		t.Errorf("first server not ready after the refused second one: %v", err)
	}
	resp, err := first.generate(context.Background(), t, "apps/web", pluginEnv(t, "web", webParams(reg, "^1")))
	if err != nil {
		t.Fatalf("first server stopped answering: %v", err)
	}
	mustContain(t, manifestsText(resp), "acme/web:1.2.3")
}

// TestServeRemovesOnlyItsOwnSocket: when the socket path was taken over by
// another process (its file replaced), shutting down leaves that file in
// place, and readiness reports the loss before that.
func TestServeRemovesOnlyItsOwnSocket(t *testing.T) {
	reg := newTestRegistry(t)
	h := startServer(t, reg)
	path := h.srv.SocketPath()
	if err := h.srv.Ready(); err != nil {
		t.Fatalf("not ready while listening: %v", err)
	}
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	other, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	err = h.srv.Ready()
	if err == nil || !strings.Contains(err.Error(), path) {
		t.Errorf("Ready after the socket was replaced: %v, want an error naming %s", err, path)
	}
	if err := h.stop(); err != nil {
		t.Fatalf("Serve: %v", err)
	}
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("shutdown removed the socket another process created: %v", err)
	}
	c, err := net.Dial("unix", path)
	if err != nil {
		t.Fatalf("the other process's socket stopped answering: %v", err)
	}
	c.Close()
}

// TestFastFailureIsNotReportedAsCancelled: a render that fails at once
// must answer with its own error, never with the cancellation of its own
// context (the render goroutine used to cancel it right after sending the
// result, and the server could pick either).
func TestFastFailureIsNotReportedAsCancelled(t *testing.T) {
	h := startServer(t, newTestRegistry(t))
	data := tartest.Tgz(t, chartEntries()...)
	for i := range 300 {
		_, err := h.sendRaw(context.Background(), t, rawStream{appRelPath: "apps/web", data: data,
			env: []string{`ARGOCD_APP_PARAMETERS=[{"name":"imagse","array":[]}]`}})
		if st, _ := status.FromError(err); st.Code() != codes.InvalidArgument {
			t.Fatalf("render %d: %v, want InvalidArgument", i, err)
		}
	}
}

// TestLeftoversOfAKilledServerAreSwept: work directories a killed process
// left in its folder are removed when the next server takes the socket;
// another server's folder in the same work dir is not touched.
func TestLeftoversOfAKilledServerAreSwept(t *testing.T) {
	workDir := t.TempDir()
	newServer := func(sockDir string) *Server {
		srv, err := New(nopResolver{}, WithSocketDir(sockDir), WithWorkDir(workDir), WithLogger(slog.New(slog.DiscardHandler)))
		if err != nil {
			t.Fatal(err)
		}
		return srv
	}
	mine, other := shortTempDir(t), shortTempDir(t)
	first := newServer(mine)
	if err := first.Listen(); err != nil {
		t.Fatal(err)
	}
	neighbour := newServer(other)
	if err := neighbour.Listen(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = neighbour.listener.Close() })
	left := filepath.Join(first.renderDir, "render-123", "repo")
	busy := filepath.Join(neighbour.renderDir, "render-456")
	for _, d := range []string{left, busy} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	// The first server dies without cleaning up: its socket file stays,
	// nobody answers on it.
	_ = first.listener.Close()

	second := newServer(mine)
	if err := second.Listen(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = second.listener.Close() })
	if _, err := os.Stat(filepath.Dir(left)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a killed server's work directory survived the next start: %v", err)
	}
	if _, err := os.Stat(busy); err != nil {
		t.Errorf("another server's work directory was removed: %v", err)
	}
}

// nopResolver stands in where no image is resolved.
type nopResolver struct{}

func (nopResolver) Resolve(context.Context, []resolve.Spec) ([]resolve.Result, error) {
	return nil, nil
}
