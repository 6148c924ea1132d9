package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/argocd-image-resolver/argocd-image-resolver/examples"
	"github.com/argocd-image-resolver/argocd-image-resolver/test/harness"
	"github.com/argocd-image-resolver/argocd-image-resolver/test/registrytest"
)

// BenchmarkSocketThroughput measures what `serve` sustains through its
// socket: warm renders of the example chart by 1, 4 and 16 concurrent
// clients (Argo CD's own CMP client, as argocd-repo-server sends a render),
// renders per second and the 99th percentile latency. It runs the binary
// of IMAGE_RESOLVER_BIN and, when THROUGHPUT_BASELINE_BIN names another
// build (an earlier commit), that one too, one after the other in the same
// run, so that the two compare on one machine's load. THROUGHPUT_SECONDS
// (default 10) is the time per cell; THROUGHPUT_FILES (default 0) puts that
// many other files beside the chart, as a monorepo does.
//
//	IMAGE_RESOLVER_BIN=bin/argocd-image-resolver THROUGHPUT_BASELINE_BIN=/tmp/before/bin/argocd-image-resolver \
//	  go test ./test/e2e/ -run '^$' -bench SocketThroughput -benchtime 1x
func BenchmarkSocketThroughput(b *testing.B) {
	bins := []struct{ name, path string }{}
	if base := os.Getenv("THROUGHPUT_BASELINE_BIN"); base != "" {
		bins = append(bins, struct{ name, path string }{"baseline", base})
	}
	bins = append(bins, struct{ name, path string }{"current", harness.RequireBinary(b, "IMAGE_RESOLVER_BIN")})
	seconds := envInt(b, "THROUGHPUT_SECONDS", 10)
	otherFiles := envInt(b, "THROUGHPUT_FILES", 0)

	reg := registrytest.New(b)
	image := reg.Host() + "/acme/web"
	reg.PushTags(b, "acme/web", exampleTags...)
	repoRoot := b.TempDir()
	if _, err := examples.WriteChart(filepath.Join(repoRoot, "examples")); err != nil {
		b.Fatal(err)
	}
	for i := range otherFiles {
		p := filepath.Join(repoRoot, "apps", fmt.Sprintf("app-%03d", i/10), fmt.Sprintf("file-%d.yaml", i))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			b.Fatal(err)
		}
		if err := os.WriteFile(p, fmt.Appendf(nil, "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm-%d\ndata:\n  n: %q\n", i, strconv.Itoa(i)), 0o644); err != nil {
			b.Fatal(err)
		}
	}
	appPath := filepath.Join(repoRoot, "examples", examples.ChartDir)
	env := pluginEnv(b, appParameters(image))

	for _, bin := range bins {
		b.Run(bin.name, func(b *testing.B) {
			sockDir := harness.ShortTempDir(b, "tput")
			serve := harness.StartProcess(b, "serve", exec.Command(bin.path, "serve", "--socket-dir", sockDir, "--work-dir", b.TempDir(),
				"--http-addr", "", "--debug-addr", "", "--refresh-backend", "none", "--log-level", "warn", "--parallelism", "4"))
			socket := filepath.Join(sockDir, "image-resolver.sock")
			harness.WaitFor(b, "serve's socket", serve.Done(), func() error { return harness.Dial("unix", socket) })
			ctx := context.Background()
			if _, err := socketRender(ctx, socket, appPath, repoRoot, env); err != nil {
				b.Fatalf("warm-up render: %v", err)
			}
			for _, clients := range []int{1, 4, 16} {
				b.Run(fmt.Sprintf("clients=%d", clients), func(b *testing.B) {
					for range b.N {
						rate, p99, failed := throughput(ctx, socket, appPath, repoRoot, env, clients, time.Duration(seconds)*time.Second)
						if failed > 0 {
							b.Fatalf("%d renders failed", failed)
						}
						b.ReportMetric(rate, "renders/s")
						b.ReportMetric(float64(p99.Microseconds())/1000, "p99-ms")
					}
				})
			}
		})
	}
}

// throughput renders with clients concurrent callers for d and returns
// renders per second, the 99th percentile latency and the failures.
func throughput(ctx context.Context, socket, appPath, repoRoot string, env []string, clients int, d time.Duration) (float64, time.Duration, int) {
	var mu sync.Mutex
	var latencies []time.Duration
	failed := 0
	stop := time.Now().Add(d)
	var wg sync.WaitGroup
	for range clients {
		wg.Go(func() {
			for time.Now().Before(stop) {
				start := time.Now()
				_, err := socketRender(ctx, socket, appPath, repoRoot, env)
				took := time.Since(start)
				mu.Lock()
				if err != nil {
					failed++
				} else {
					latencies = append(latencies, took)
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if len(latencies) == 0 {
		return 0, 0, failed
	}
	slices.Sort(latencies)
	return float64(len(latencies)) / d.Seconds(), latencies[len(latencies)*99/100], failed
}

// envInt reads a whole number from the environment, or def.
func envInt(tb testing.TB, name string, def int) int {
	tb.Helper()
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		tb.Fatalf("%s=%q: %v", name, v, err)
	}
	return n
}
