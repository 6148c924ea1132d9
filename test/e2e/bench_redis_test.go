package e2e

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/redis/go-redis/v9"

	"github.com/argocd-image-resolver/argocd-image-resolver/cmp"
	"github.com/argocd-image-resolver/argocd-image-resolver/examples"
	"github.com/argocd-image-resolver/argocd-image-resolver/resolve"
	"github.com/argocd-image-resolver/argocd-image-resolver/store"
	"github.com/argocd-image-resolver/argocd-image-resolver/test/harness"
	"github.com/argocd-image-resolver/argocd-image-resolver/test/redistest"
	"github.com/argocd-image-resolver/argocd-image-resolver/test/registrytest"
)

func discard() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// benchServer is an in-process CMP server on its own socket, as one
// sidecar with serve's defaults (4 render slots).
func benchServer(b *testing.B, ctx context.Context, opts ...resolve.Option) *cmp.Server {
	b.Helper()
	resolver, err := resolve.New(append([]resolve.Option{resolve.WithLogger(discard())}, opts...)...)
	if err != nil {
		b.Fatal(err)
	}
	srv, err := cmp.New(resolver,
		cmp.WithSocketDir(harness.ShortTempDir(b, "cmpb")),
		cmp.WithWorkDir(b.TempDir()),
		cmp.WithLogger(discard()),
	)
	if err != nil {
		b.Fatal(err)
	}
	if err := srv.Listen(); err != nil {
		b.Fatal(err)
	}
	go func() { _ = srv.Serve(ctx) }()
	return srv
}

func benchRedisClient(b *testing.B, addr string) *redis.Client {
	b.Helper()
	c := redis.NewClient(&redis.Options{Addr: addr, ContextTimeoutEnabled: true})
	b.Cleanup(func() { _ = c.Close() })
	return c
}

// BenchmarkWarmRenderRedisVsMemory compares a warm render of the example
// chart through the socket with the cache in memory (no Redis) and with
// the cache in Redis behind the in-process layer (--memory-ttl 5s), in one
// loop so that both see the same machine load. Runs long enough to cross
// the memory-ttl several times, so the Redis reads it causes are counted.
//
//	go test ./test/e2e/ -run '^$' -bench WarmRenderRedisVsMemory -benchtime 1000x
func BenchmarkWarmRenderRedisVsMemory(b *testing.B) {
	srvRedis := redistest.Start(b)
	reg := registrytest.New(b)
	image := reg.Host() + "/acme/web"
	reg.PushTags(b, "acme/web", exampleTags...)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	memory := benchServer(b, ctx)
	shared := benchServer(b, ctx, resolve.WithStore(store.NewRedis(benchRedisClient(b, srvRedis.Addr()))))

	repoRoot := b.TempDir()
	if _, err := examples.WriteChart(filepath.Join(repoRoot, "examples")); err != nil {
		b.Fatal(err)
	}
	appPath := filepath.Join(repoRoot, "examples", examples.ChartDir)
	env := pluginEnv(b, appParameters(image))
	for _, srv := range []*cmp.Server{memory, shared} {
		got, err := socketRender(ctx, srv.SocketPath(), appPath, repoRoot, env)
		if err != nil {
			b.Fatal(err)
		}
		if imgs := containerImages(got); len(imgs) != 1 || imgs[0] != image+":1.6.3" {
			b.Fatalf("images %q", imgs)
		}
	}
	timed := func(srv *cmp.Server) time.Duration {
		start := time.Now()
		if _, err := socketRender(ctx, srv.SocketPath(), appPath, repoRoot, env); err != nil {
			b.Fatal(err)
		}
		return time.Since(start)
	}
	var memTime, redisTime time.Duration
	n := 0
	for b.Loop() {
		// Alternate which goes first, so that neither always pays for the
		// other's garbage.
		if n%2 == 0 {
			memTime += timed(memory)
			redisTime += timed(shared)
		} else {
			redisTime += timed(shared)
			memTime += timed(memory)
		}
		n++
	}
	b.ReportMetric(float64(memTime.Microseconds())/float64(n), "memory-µs/render")
	b.ReportMetric(float64(redisTime.Microseconds())/float64(n), "redis-µs/render")
	b.ReportMetric(float64(redisTime)/float64(memTime), "redis/memory")
}

// BenchmarkReplicasColdRenders counts registry requests when 3 replicas
// each get 200 concurrent cold renders of a 10-image chart (600 renders,
// 6000 image resolutions per op): with the replicas sharing Redis, and, as
// the baseline of the same run, each with its own memory.
//
//	go test ./test/e2e/ -run '^$' -bench ReplicasColdRenders -benchtime 3x
func BenchmarkReplicasColdRenders(b *testing.B) {
	const replicas, concurrent, images = 3, 200, 10
	srvRedis := redistest.Start(b)
	client := benchRedisClient(b, srvRedis.Addr())
	reg := newCountingRegistry(b)
	for i := range images {
		reg.PushTags(b, fmt.Sprintf("acme/svc%d", i), "1.0.0", "1.0.3", "1.1.0")
	}
	root, chart := multiChart(b, images)
	params := multiParams(reg.Host(), images)
	env := pluginEnv(b, params)

	// One client per replica, as each sidecar has its own, warmed up like
	// the client of a sidecar that has been running: its pool holds open
	// connections (the data is what is cold).
	clients := make([]*redis.Client, replicas)
	for i := range clients {
		clients[i] = benchRedisClient(b, srvRedis.Addr())
		var wg sync.WaitGroup
		for range 20 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if err := clients[i].Ping(context.Background()).Err(); err != nil {
					b.Error(err)
				}
			}()
		}
		wg.Wait()
	}
	for _, mode := range []string{"redis", "memory"} {
		b.Run(mode, func(b *testing.B) {
			var lists, requests, renders, redisErrors int
			ops := 0
			for b.Loop() {
				ops++
				if err := client.FlushAll(context.Background()).Err(); err != nil {
					b.Fatal(err)
				}
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
				servers := make([]*cmp.Server, replicas)
				metrics := make([]*store.Metrics, replicas)
				for i := range servers {
					var opts []resolve.Option
					metrics[i] = store.NewMetrics(nil)
					if mode == "redis" {
						opts = append(opts, resolve.WithStore(store.NewRedis(clients[i], store.WithMetrics(metrics[i]))))
					}
					servers[i] = benchServer(b, ctx, opts...)
				}
				reg.counts()
				var wg sync.WaitGroup
				errs := make(chan error, replicas*concurrent)
				for _, srv := range servers {
					for range concurrent {
						wg.Add(1)
						go func() {
							defer wg.Done()
							got, err := socketRender(ctx, srv.SocketPath(), chart, root, env)
							if err == nil && len(containerImages(got)) != images {
								err = fmt.Errorf("rendered %q", containerImages(got))
							}
							errs <- err
						}()
					}
				}
				wg.Wait()
				close(errs)
				for err := range errs {
					if err != nil {
						b.Fatal(err)
					}
				}
				l, total := reg.counts()
				for repo, n := range l {
					if strings.HasPrefix(repo, "acme/svc") {
						lists += n
					}
				}
				requests += total
				renders += replicas * concurrent
				for _, m := range metrics {
					for _, op := range []string{"get", "set", "setnx", "scan", "publish", "unlock"} {
						n := int(testutil.ToFloat64(m.Errors.WithLabelValues(op)))
						if n > 0 {
							b.Logf("%s errors: %d", op, n)
						}
						redisErrors += n
					}
				}
				cancel()
			}
			b.ReportMetric(float64(redisErrors)/float64(ops), "redis-errors/op")
			b.ReportMetric(float64(lists)/float64(ops), "tag-lists/op")
			b.ReportMetric(float64(requests)/float64(ops), "registry-requests/op")
			b.ReportMetric(float64(renders)/float64(ops), "renders/op")
		})
	}
}
