package plugin

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/argoproj/argo-cd/v3/cmpserver/apiclient"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/types/known/emptypb"
)

// syncBuffer is a bytes.Buffer safe for the logger and the test.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// TestServeCommand runs `serve` with an extension's runner, calls the
// socket, then cancels like SIGTERM and checks the socket is removed.
func TestServeCommand(t *testing.T) {
	sockDir, err := os.MkdirTemp("", "srv")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(sockDir)

	wired := make(chan *serveWiring, 1)
	saved := serveExtensions
	t.Cleanup(func() { serveExtensions = saved })
	registerServeExtension(serveExtension{
		Wire: func(_ context.Context, w *serveWiring) error {
			w.Runners = append(w.Runners, func(ctx context.Context) error {
				wired <- w
				<-ctx.Done()
				return nil
			})
			return nil
		},
	})

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var logs syncBuffer
	cmd := NewRootCommand()
	cmd.SetErr(&logs)
	cmd.SetArgs([]string{"serve", "--socket-dir", sockDir, "--work-dir", t.TempDir(), "--log-format", "json", "--parallelism", "2",
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
