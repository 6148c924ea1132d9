package plugin

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/argoproj/argo-cd/v3/cmpserver/apiclient"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/types/known/emptypb"

	testharness "github.com/argocd-image-resolver/argocd-image-resolver/test/harness"
)

// TestServeCommand runs `serve` with an extension's runner, calls the
// socket, then cancels like SIGTERM and checks the socket is removed.
func TestServeCommand(t *testing.T) {
	sockDir, err := os.MkdirTemp("", "srv")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(sockDir)

	wired := make(chan *serveWiring, 1)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var logs testharness.SyncBuffer
	cmd := newServeCommand(observeWiring(func(w *serveWiring) { wired <- w }))
	cmd.SetErr(&logs)
	cmd.SetArgs([]string{"--socket-dir", sockDir, "--work-dir", t.TempDir(), "--log-format", "json", "--parallelism", "2",
		"--http-addr", "127.0.0.1:0", "--debug-addr", "127.0.0.1:0"})
	done := make(chan error, 1)
	go func() { done <- cmd.ExecuteContext(ctx) }()

	w := <-wired
	<-w.Ready
	sock := filepath.Join(sockDir, "image-resolver.sock")
	conn, err := grpc.NewClient("unix://"+sock, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	resp, err := apiclient.NewConfigManagementPluginServiceClient(conn).CheckPluginConfiguration(ctx, &emptypb.Empty{})
	if err != nil {
		t.Fatalf("CheckPluginConfiguration over the socket: %v", err)
	}
	if resp.IsDiscoveryConfigured || resp.ProvideGitCreds {
		t.Errorf("unexpected configuration %+v", resp)
	}
	if w.Resolver == nil || w.Metrics == nil || w.Plugin.Metadata.Name != "image-resolver" {
		t.Errorf("wiring incomplete: %+v", w)
	}

	cancel()
	if err := <-done; err != nil {
		t.Fatalf("serve: %v", err)
	}
	if _, err := os.Stat(sock); !os.IsNotExist(err) {
		t.Errorf("socket not removed: %v", err)
	}
	if !strings.Contains(logs.String(), `"msg":"serving Argo CD config management plugin"`) {
		t.Errorf("no JSON start line in logs:\n%s", logs.String())
	}
}

func TestNewLoggerFormats(t *testing.T) {
	var buf bytes.Buffer
	l, err := newLogger(&buf, "", "debug")
	if err != nil {
		t.Fatal(err)
	}
	l.Debug("hello", "k", "v")
	if !strings.HasPrefix(buf.String(), "{") {
		t.Errorf("non-terminal default should be JSON: %s", buf.String())
	}
	buf.Reset()
	l, _ = newLogger(&buf, "text", "info")
	l.Info("hello")
	if !strings.Contains(buf.String(), "msg=hello") {
		t.Errorf("text format: %s", buf.String())
	}
	if _, err := newLogger(&buf, "text", "loud"); err == nil {
		t.Error("bad level accepted")
	}
}

// TestServeRefusesASocketInUse: a second `serve` on the same socket
// directory exits with an error and leaves the first one serving; /readyz
// of the first turns unready once its socket file is no longer its own.
func TestServeRefusesASocketInUse(t *testing.T) {
	sockDir, err := os.MkdirTemp("", "srv")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(sockDir)
	httpAddr := freeAddr(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var logs testharness.SyncBuffer
	first := NewRootCommand()
	first.SetErr(&logs)
	first.SetArgs([]string{"serve", "--socket-dir", sockDir, "--work-dir", t.TempDir(), "--log-format", "json",
		"--http-addr", httpAddr, "--debug-addr", "", "--refresh-backend", "none"})
	done := make(chan error, 1)
	go func() { done <- first.ExecuteContext(ctx) }()
	readyz := func() int {
		t.Helper()
		resp, err := http.Get("http://" + httpAddr + "/readyz")
		if err != nil {
			return 0
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	sock := filepath.Join(sockDir, "image-resolver.sock")
	waitFor(t, func() bool { return readyz() == http.StatusOK }, done)

	second := NewRootCommand()
	second.SetErr(io.Discard)
	second.SetArgs([]string{"serve", "--socket-dir", sockDir, "--work-dir", t.TempDir(), "--http-addr", "", "--debug-addr", "", "--refresh-backend", "none"})
	err = second.ExecuteContext(context.Background())
	if err == nil || !strings.Contains(err.Error(), "another process answers on "+sock) {
		t.Fatalf("second serve: %v, want a refusal", err)
	}
	if code := readyz(); code != http.StatusOK {
		t.Fatalf("first serve /readyz = %d after the refused second one", code)
	}
	if err := os.Remove(sock); err != nil {
		t.Fatal(err)
	}
	if code := readyz(); code != http.StatusServiceUnavailable {
		t.Errorf("/readyz = %d with the socket gone, want 503", code)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("serve: %v\n%s", err, logs.String())
	}
}

// waitFor polls cond (a readiness probe) until it holds; it fails when the
// command stops first.
func waitFor(t *testing.T, cond func() bool, done <-chan error) {
	t.Helper()
	for !cond() {
		select {
		case err := <-done:
			t.Fatalf("serve stopped: %v", err)
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// TestRenderWorkerTransportRefuses: the default transport of a render
// worker refuses every request, naming it without its credentials.
func TestRenderWorkerTransportRefuses(t *testing.T) {
	req, err := http.NewRequest(http.MethodGet, "http://user:secret@169.254.169.254/latest/", nil)
	if err != nil {
		t.Fatal(err)
	}
	_, err = (&http.Client{Transport: refusedTransport{}}).Do(req)
	var refused *NoNetworkError
	if !errors.As(err, &refused) || strings.Contains(err.Error(), "secret") {
		t.Fatalf("err = %v, want a NoNetworkError without the password", err)
	}
}
