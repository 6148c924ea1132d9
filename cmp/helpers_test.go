package cmp

import (
	"archive/tar"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/argoproj/argo-cd/v3/cmpserver/apiclient"
	"github.com/argoproj/argo-cd/v3/pkg/apis/application/v1alpha1"
	argocmp "github.com/argoproj/argo-cd/v3/util/cmp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/argocd-image-resolver/argocd-image-resolver/resolve"
	"github.com/argocd-image-resolver/argocd-image-resolver/test/registrytest"
	"github.com/argocd-image-resolver/argocd-image-resolver/test/tartest"
)

// testRegistry is a ggcr in-memory registry on loopback that counts
// requests and can hold requests for some repositories.
type testRegistry struct {
	host     string
	requests atomic.Int64
	// hold blocks requests whose path contains a key until the channel is
	// closed or the request is cancelled; entered gets a value first.
	mu      sync.Mutex
	hold    map[string]chan struct{}
	entered chan string
}

func newTestRegistry(t *testing.T) *testRegistry {
	t.Helper()
	reg := &testRegistry{hold: map[string]chan struct{}{}, entered: make(chan string, 16)}
	reg.host = registrytest.New(t, registrytest.WithHandler(func(inner http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			reg.requests.Add(1)
			reg.mu.Lock()
			var gate chan struct{}
			for key, ch := range reg.hold {
				if strings.Contains(r.URL.Path, key) {
					gate = ch
				}
			}
			reg.mu.Unlock()
			if gate != nil {
				select {
				case reg.entered <- r.URL.Path:
				default:
				}
				select {
				case <-gate:
				case <-r.Context().Done():
					return
				}
			}
			inner.ServeHTTP(w, r)
		})
	})).Host()
	return reg
}

// holdPath makes requests whose path contains key wait for the returned
// release function (or their own cancellation).
func (r *testRegistry) holdPath(key string) (release func()) {
	ch := make(chan struct{})
	r.mu.Lock()
	r.hold[key] = ch
	r.mu.Unlock()
	var once sync.Once
	return func() { once.Do(func() { close(ch) }) }
}

func (r *testRegistry) push(t *testing.T, repo string, tags ...string) {
	t.Helper()
	for _, tag := range tags {
		registrytest.Push(t, r.host+"/"+repo+":"+tag)
	}
}

// env is a test harness: registry, resolver, server, client.
type harness struct {
	reg     *testRegistry
	srv     *Server
	client  apiclient.ConfigManagementPluginServiceClient
	workDir string
	stop    func() error
}

type recorded struct {
	app     App
	specs   []resolve.Spec
	results []resolve.Result
}

type recorderFunc func(App, []resolve.Spec, []resolve.Result)

func (f recorderFunc) Record(a App, s []resolve.Spec, r []resolve.Result) { f(a, s, r) }

func shortTempDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "cmp")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

func startServer(t *testing.T, reg *testRegistry, opts ...Option) *harness {
	t.Helper()
	return startServerSetup(t, reg, serverSetup{}, opts...)
}

// serverSetup is what a test may change beyond the server options: the
// resolver's options and where the resolver and the server log.
type serverSetup struct {
	resolver []resolve.Option
	logs     io.Writer
}

func startServerSetup(t *testing.T, reg *testRegistry, setup serverSetup, opts ...Option) *harness {
	t.Helper()
	logs := setup.logs
	if logs == nil {
		logs = io.Discard
	}
	logger := slog.New(slog.NewTextHandler(logs, nil))
	resolver, err := resolve.New(append([]resolve.Option{resolve.WithInsecure(), resolve.WithLogger(logger)}, setup.resolver...)...)
	if err != nil {
		t.Fatal(err)
	}
	return startServerWith(t, reg, resolver, append([]Option{WithLogger(logger)}, opts...)...)
}

// startServerWith serves resolver instead of a default one.
func startServerWith(t *testing.T, reg *testRegistry, resolver Resolver, opts ...Option) *harness {
	t.Helper()
	sockDir := shortTempDir(t)
	workDir := t.TempDir()
	base := []Option{
		WithSocketDir(sockDir),
		WithWorkDir(workDir),
		WithLogger(slog.New(slog.DiscardHandler)),
	}
	srv, err := New(resolver, append(base, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	if len(srv.SocketPath()) >= 100 {
		t.Fatalf("socket path too long: %s", srv.SocketPath())
	}
	if err := srv.Listen(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ctx) }()
	conn, err := grpc.NewClient("unix://"+srv.SocketPath(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	var stopErr error
	stop := func() error {
		once.Do(func() {
			cancel()
			stopErr = <-served
			conn.Close()
		})
		return stopErr
	}
	t.Cleanup(func() { _ = stop() })
	return &harness{reg: reg, srv: srv, client: apiclient.NewConfigManagementPluginServiceClient(conn), workDir: workDir, stop: stop}
}

// assertNoLeftovers waits for background work and checks the server's
// folder of the work dir is empty.
func (h *harness) assertNoLeftovers(t *testing.T) {
	t.Helper()
	h.srv.inflight.Wait()
	entries, err := os.ReadDir(h.srv.renderDir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		t.Errorf("left in the work dir: %s", e.Name())
	}
}

// pluginEnv is the env Argo CD sends for an Application with these plugin
// parameters, produced by Argo CD's own code.
func pluginEnv(t *testing.T, appName string, params v1alpha1.ApplicationSourcePluginParameters, extra ...string) []string {
	t.Helper()
	env, err := params.Environ()
	if err != nil {
		t.Fatal(err)
	}
	env = append(env,
		"ARGOCD_APP_NAME="+appName,
		"ARGOCD_APP_NAMESPACE=web-prod",
		"ARGOCD_APP_PROJECT_NAME=default",
		"ARGOCD_APP_SOURCE_REPO_URL=https://git.example/acme/deploy.git",
		"ARGOCD_APP_SOURCE_PATH=apps/web",
		"ARGOCD_APP_SOURCE_TARGET_REVISION=HEAD",
		"KUBE_VERSION=1.31.2",
		"KUBE_API_VERSIONS=v1,apps/v1",
	)
	return append(env, extra...)
}

func strParam(name, v string) v1alpha1.ApplicationSourcePluginParameter {
	return v1alpha1.ApplicationSourcePluginParameter{Name: name, String_: &v}
}

func arrayParam(name string, v ...string) v1alpha1.ApplicationSourcePluginParameter {
	return v1alpha1.ApplicationSourcePluginParameter{Name: name, OptionalArray: &v1alpha1.OptionalArray{Array: v}}
}

func mapParam(name string, v map[string]string) v1alpha1.ApplicationSourcePluginParameter {
	return v1alpha1.ApplicationSourcePluginParameter{Name: name, OptionalMap: &v1alpha1.OptionalMap{Map: v}}
}

// generate sends testdata/repo (appPath relative to it) the way the
// repo-server does, with Argo CD's own stream sender.
func (h *harness) generate(ctx context.Context, t *testing.T, appPath string, env []string) (*apiclient.ManifestResponse, error) {
	t.Helper()
	root, err := filepath.Abs("testdata/repo")
	if err != nil {
		t.Fatal(err)
	}
	stream, err := h.client.GenerateManifest(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := argocmp.SendRepoStream(ctx, filepath.Join(root, appPath), root, stream, env, nil); err != nil && !errors.Is(err, io.EOF) {
		// The server may answer (and close) before reading everything.
		if _, rerr := stream.CloseAndRecv(); rerr != nil {
			return nil, rerr
		}
		t.Fatalf("sending the repository: %v", err)
	}
	return stream.CloseAndRecv()
}

// chartEntries is a minimal valid chart at apps/web.
func chartEntries() []tartest.Entry {
	return []tartest.Entry{
		tartest.File("apps/web/Chart.yaml", "apiVersion: v2\nname: web\nversion: 0.1.0\n"),
		tartest.File("apps/web/templates/cm.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n"),
	}
}

// rawStream sends a hand-made tarball; checksum and size default to the
// true values when empty/negative.
type rawStream struct {
	appRelPath string
	env        []string
	data       []byte
	checksum   string
	size       int64
}

func (h *harness) sendRaw(ctx context.Context, t *testing.T, rs rawStream) (*apiclient.ManifestResponse, error) {
	t.Helper()
	stream, err := h.client.GenerateManifest(ctx)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(rs.data)
	meta := &apiclient.ManifestRequestMetadata{
		AppName:    filepath.Base(rs.appRelPath),
		AppRelPath: rs.appRelPath,
		Checksum:   hex.EncodeToString(sum[:]),
		Size_:      int64(len(rs.data)),
	}
	if rs.checksum != "" {
		meta.Checksum = rs.checksum
	}
	if rs.size > 0 {
		meta.Size_ = rs.size
	}
	for _, kv := range rs.env {
		k, v, _ := strings.Cut(kv, "=")
		meta.Env = append(meta.Env, &apiclient.EnvEntry{Name: k, Value: v})
	}
	send := func(m *apiclient.AppStreamRequest) bool {
		if err := stream.Send(m); err != nil {
			if errors.Is(err, io.EOF) {
				return false
			}
			t.Fatalf("send: %v", err)
		}
		return true
	}
	if send(&apiclient.AppStreamRequest{Request: &apiclient.AppStreamRequest_Metadata{Metadata: meta}}) {
		const chunk = 32 << 10
		for off := 0; off < len(rs.data); off += chunk {
			end := min(off+chunk, len(rs.data))
			if !send(&apiclient.AppStreamRequest{Request: &apiclient.AppStreamRequest_File{File: &apiclient.File{Chunk: rs.data[off:end]}}}) {
				break
			}
		}
	}
	return stream.CloseAndRecv()
}

func manifestsText(resp *apiclient.ManifestResponse) string {
	return strings.Join(resp.GetManifests(), "\n---\n")
}

func mustContain(t *testing.T, text string, want ...string) {
	t.Helper()
	for _, w := range want {
		if !strings.Contains(text, w) {
			t.Errorf("missing %q in:\n%s", w, text)
		}
	}
}

func errText(err error) string { return fmt.Sprint(err) }

func tarHeader(name string, size int64) tar.Header {
	return tar.Header{Name: name, Typeflag: tar.TypeReg, Mode: 0o644, Size: size}
}

func devHeader(name string) tar.Header {
	return tar.Header{Name: name, Typeflag: tar.TypeChar, Mode: 0o666, Devmajor: 1, Devminor: 3}
}

// sendRepo streams a directory with Argo CD's sender.
func sendRepo(stream argocmp.StreamSender, root, appPath string, env ...string) error {
	return argocmp.SendRepoStream(context.Background(), filepath.Join(root, appPath), root, stream, env, nil)
}

func fifoHeader(name string) tar.Header {
	return tar.Header{Name: name, Typeflag: tar.TypeFifo, Mode: 0o644}
}
