package worker

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/argoproj/argo-cd/v3/cmpserver/apiclient"
	argocmp "github.com/argoproj/argo-cd/v3/util/cmp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/argocd-image-resolver/argocd-image-resolver/cmp"
	"github.com/argocd-image-resolver/argocd-image-resolver/resolve"
)

// TestRunawayRenderThroughTheSocket: through the CMP socket, with Argo
// CD's own client, a chart whose template loops for minutes fails with
// DeadlineExceeded at the caller's deadline, its worker is gone when the
// answer arrives, and the next Application renders on the one slot.
func TestRunawayRenderThroughTheSocket(t *testing.T) {
	pool := newTestPool(t, DefaultMaxOutput, WithSize(1))
	resolver, err := resolve.New(resolve.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		t.Fatal(err)
	}
	sockDir, err := os.MkdirTemp("", "wk")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(sockDir) })
	srv, err := cmp.New(resolver, cmp.WithRenderer(pool), cmp.WithSocketDir(sockDir), cmp.WithWorkDir(t.TempDir()),
		cmp.WithParallelism(1), cmp.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Listen(); err != nil { // the socket exists before the first dial
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ctx) }()
	conn, err := grpc.NewClient("unix://"+srv.SocketPath(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(); cancel(); <-served })
	client := apiclient.NewConfigManagementPluginServiceClient(conn)

	repo := t.TempDir()
	runaway := writeChart(t, map[string]string{
		"templates/loop.yaml": "{{- range $i := until 100000 }}{{- range $j := until 100000 }}{{- end }}{{- end }}\n",
	})
	fine := writeChart(t, nil)
	for name, dir := range map[string]string{"runaway": runaway, "fine": fine} {
		if err := os.Rename(dir, filepath.Join(repo, name)); err != nil {
			t.Fatal(err)
		}
	}
	generate := func(app string, within time.Duration) (*apiclient.ManifestResponse, error) {
		ctx, cancel := context.WithTimeout(context.Background(), within)
		defer cancel()
		stream, err := client.GenerateManifest(ctx)
		if err != nil {
			return nil, err
		}
		env := []string{"ARGOCD_APP_NAME=" + app, "ARGOCD_APP_NAMESPACE=default", "KUBE_VERSION=1.31.0"}
		if err := argocmp.SendRepoStream(ctx, filepath.Join(repo, app), repo, stream, env, nil); err != nil && !errors.Is(err, io.EOF) {
			return nil, err
		}
		return stream.CloseAndRecv()
	}

	// The server answers 200 ms before the caller's deadline; on a
	// loaded machine the caller's own deadline may come first, so the
	// message is checked in TestRunawayTemplateIsStopped and the kill
	// here.
	_, err = generate("runaway", 2*time.Second)
	if st, _ := status.FromError(err); st.Code() != codes.DeadlineExceeded {
		t.Fatalf("runaway render: %v, want DeadlineExceeded", err)
	}
	resp, err := generate("fine", 30*time.Second)
	if err != nil {
		t.Fatalf("the next render on the one slot: %v", err)
	}
	if !strings.Contains(strings.Join(resp.Manifests, "\n"), "ghcr.io/acme/web:1.0.0") {
		t.Fatalf("manifests %v", resp.Manifests)
	}
	if got := testutilCount(pool); got != 1 {
		t.Fatalf("%v workers killed, want 1", got)
	}
}
