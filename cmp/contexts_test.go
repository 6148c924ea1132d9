package cmp

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/argoproj/argo-cd/v3/cmpserver/apiclient"
	"github.com/argoproj/argo-cd/v3/pkg/apis/application/v1alpha1"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/argocd-image-resolver/argocd-image-resolver/test/tartest"
)

// TestConcurrentRendersNeverLoseAFinishedResult: many clients render at
// once through the socket, warm, so each render is short; a render that
// finished must be answered even though its context is cancelled right
// after (the worker's cleanup used to race the handler's select and
// report "finished after the deadline").
func TestConcurrentRendersNeverLoseAFinishedResult(t *testing.T) {
	// More Ps than cores: the OS then stops goroutines anywhere, as a
	// loaded node does, and the window between a worker's result and its
	// cleanup is hit often enough to see.
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(8))
	reg := newTestRegistry(t)
	reg.push(t, "acme/web", "1.2.3")
	// Work directories on tmpfs when there is one: removing a directory
	// there takes microseconds, which is what makes the race frequent.
	opts := []Option{WithParallelism(16)}
	if fi, err := os.Stat("/dev/shm"); err == nil && fi.IsDir() {
		dir, err := os.MkdirTemp("/dev/shm", "cmp-race")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = os.RemoveAll(dir) })
		opts = append(opts, WithWorkDir(dir))
	}
	h := startServer(t, reg, opts...)
	env := pluginEnv(t, "web", webParams(reg, "^1"))
	if _, err := h.generate(context.Background(), t, "apps/web", env); err != nil {
		t.Fatal(err)
	}
	// A parameter announcement of an app without images does almost
	// nothing after extraction: the shortest render there is.
	bare := rawStream{appRelPath: "apps/web", data: tartest.Tgz(t, chartEntries()...)}
	const clients, each = 16, 150
	var failures atomic.Int64
	var first sync.Once
	var firstErr error
	var wg sync.WaitGroup
	for c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range each {
				var err error
				if c%2 == 0 {
					var resp *apiclient.ManifestResponse
					resp, err = h.generate(context.Background(), t, "apps/web", env)
					if err == nil && !strings.Contains(manifestsText(resp), "acme/web:1.2.3") {
						err = errors.New("manifests without the resolved image")
					}
				} else {
					err = h.announceRaw(context.Background(), t, bare)
				}
				if err != nil {
					failures.Add(1)
					first.Do(func() { firstErr = err })
				}
			}
		}()
	}
	wg.Wait()
	if n := failures.Load(); n != 0 {
		t.Fatalf("%d of %d concurrent renders failed; first: %v", n, clients*each, firstErr)
	}
	h.assertNoLeftovers(t)
}

// TestSlowRegistryDeadlineDoesNotPoisonTheNextRender: a render whose
// deadline passes while the registry is slow fails with its own deadline;
// the next render of the same image, with time to spare, resolves: the
// first caller's deadline was not cached as a registry failure, and the
// lookup it started went on.
func TestSlowRegistryDeadlineDoesNotPoisonTheNextRender(t *testing.T) {
	reg := newTestRegistry(t)
	reg.push(t, "acme/slow", "1.0.0")
	release := reg.holdPath("/acme/slow/tags/")
	h := startServer(t, reg)
	params := v1alpha1.ApplicationSourcePluginParameters{
		arrayParam("images", "slow="+reg.host+"/acme/slow:^1"),
		mapParam("image-options", map[string]string{"slow.helm.image-name": "image.repository"}),
	}
	env := pluginEnv(t, "web", params)

	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_, err := h.generate(ctx, t, "apps/web", env)
	if st, _ := status.FromError(err); st.Code() != codes.DeadlineExceeded {
		t.Fatalf("short render: %v, want DeadlineExceeded", err)
	}
	// The registry answers now (a slow one, not a dead one).
	release()
	ctx, cancel = context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	resp, err := h.generate(ctx, t, "apps/web", env)
	if err != nil {
		t.Fatalf("the next render, with a 20s deadline, failed: %v", err)
	}
	mustContain(t, manifestsText(resp), "acme/slow:1.0.0")
	h.assertNoLeftovers(t)
}

// TestSharedLookupOutlivesTheRenderThatStartedIt: a render that starts a
// registry lookup gives up at its deadline; a second render waiting on the
// same lookup, with a longer deadline, still gets the answer.
func TestSharedLookupOutlivesTheRenderThatStartedIt(t *testing.T) {
	reg := newTestRegistry(t)
	reg.push(t, "acme/slow", "1.0.0")
	release := reg.holdPath("/acme/slow/tags/")
	defer release()
	h := startServer(t, reg)
	before := reg.requests.Load()
	params := v1alpha1.ApplicationSourcePluginParameters{
		arrayParam("images", "slow="+reg.host+"/acme/slow:^1"),
		mapParam("image-options", map[string]string{"slow.helm.image-name": "image.repository"}),
	}
	env := pluginEnv(t, "web", params)

	short, cancelShort := context.WithTimeout(context.Background(), 1500*time.Millisecond)
	defer cancelShort()
	firstDone := make(chan error, 1)
	go func() {
		_, err := h.generate(short, t, "apps/web", env)
		firstDone <- err
	}()
	<-reg.entered // the first render's lookup waits on the registry

	type answer struct {
		text string
		err  error
	}
	second := make(chan answer, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		resp, err := h.generate(ctx, t, "apps/web", env)
		second <- answer{manifestsText(resp), err}
	}()
	if err := <-firstDone; err == nil {
		t.Fatal("the first render resolved although the registry was held past its deadline")
	}
	release()
	got := <-second
	if got.err != nil {
		t.Fatalf("the second render failed with the first one's deadline: %v", got.err)
	}
	mustContain(t, got.text, "acme/slow:1.0.0")
	if n := reg.requests.Load() - before; n > 4 {
		t.Errorf("%d registry requests; the second render should have joined the first lookup", n)
	}
	h.assertNoLeftovers(t)
}

// TestCancelledRenderIsNotCached: the repo-server cancels a render (its
// client went away) while the registry is slow; that cancellation is not
// remembered as a registry error.
func TestCancelledRenderIsNotCached(t *testing.T) {
	reg := newTestRegistry(t)
	reg.push(t, "acme/slow", "1.0.0")
	release := reg.holdPath("/acme/slow/tags/")
	h := startServer(t, reg)
	params := v1alpha1.ApplicationSourcePluginParameters{
		arrayParam("images", "slow="+reg.host+"/acme/slow:^1"),
		mapParam("image-options", map[string]string{"slow.helm.image-name": "image.repository"}),
	}
	env := pluginEnv(t, "web", params)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := h.generate(ctx, t, "apps/web", env)
		done <- err
	}()
	<-reg.entered
	cancel()
	if err := <-done; err == nil {
		t.Fatal("a cancelled render succeeded")
	}
	release()
	resp, err := h.generate(context.Background(), t, "apps/web", env)
	if err != nil {
		t.Fatalf("the render after a cancelled one failed: %v", err)
	}
	mustContain(t, manifestsText(resp), "acme/slow:1.0.0")
	h.assertNoLeftovers(t)
}

// announceRaw asks for the parameter announcement of a hand-made tarball.
func (h *harness) announceRaw(ctx context.Context, t *testing.T, rs rawStream) error {
	t.Helper()
	stream, err := h.client.GetParametersAnnouncement(ctx)
	if err != nil {
		return err
	}
	sum := sha256.Sum256(rs.data)
	meta := &apiclient.ManifestRequestMetadata{
		AppName: filepath.Base(rs.appRelPath), AppRelPath: rs.appRelPath,
		Checksum: hex.EncodeToString(sum[:]), Size_: int64(len(rs.data)),
	}
	if err := stream.Send(&apiclient.AppStreamRequest{Request: &apiclient.AppStreamRequest_Metadata{Metadata: meta}}); err != nil {
		return err
	}
	if err := stream.Send(&apiclient.AppStreamRequest{Request: &apiclient.AppStreamRequest_File{File: &apiclient.File{Chunk: rs.data}}}); err != nil {
		return err
	}
	_, err = stream.CloseAndRecv()
	return err
}
