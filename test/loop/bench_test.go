package loop

import (
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"
)

// benchDeadline bounds one push's way to the status of every Application.
const benchDeadline = 5 * time.Minute

// The two ways a push reaches the sidecar, as the benchmark configures
// them (see BENCHMARKS.md).
var benchModes = []struct {
	name string
	opts planeOptions
	// notify: CI calls `notify` right after the push.
	notify bool
}{
	{
		// Only the webhook shows a push: tag lists stay fresh for an hour,
		// so the periodic pass never finds a change by itself. The interval
		// is short only because it is also the guard "one hard refresh per
		// Application per interval"; pushes are paced past it.
		name:   "webhook",
		opts:   planeOptions{refreshInterval: 2 * time.Second, cacheTTL: time.Hour},
		notify: true,
	},
	{
		// No webhook: the periodic pass finds the push. The defaults are
		// --refresh-interval 2m and --cache-ttl 1m; this is the same ratio
		// scaled down, and pushes come at a random moment of the interval.
		name: "interval",
		opts: planeOptions{refreshInterval: 10 * time.Second, cacheTTL: 5 * time.Second},
	},
}

// noSelfHealBackoff turns off Argo CD's self-heal backoff (see the package
// documentation): every push here is one more self-heal of the same
// revision, which the default backoff would delay by up to 5 minutes.
var noSelfHealBackoff = []string{"--self-heal-backoff-timeout-seconds", "0"}

// BenchmarkPushToStatus measures push → status.summary.images shows the
// new tag through the real application controller, for 1 and for 100
// Applications sharing the image, with and without the webhook. Each loop
// iteration is one push; run it with -benchtime Nx for N pushes.
func BenchmarkPushToStatus(b *testing.B) {
	for _, m := range benchModes {
		b.Run(m.name, func(b *testing.B) {
			opts := m.opts
			opts.controllerArgs = noSelfHealBackoff
			p := startPlane(b, opts)
			for _, n := range []int{1, 100} {
				b.Run(fmt.Sprintf("apps=%d", n), func(b *testing.B) {
					p.benchPushes(b, fmt.Sprintf("acme/bench-%s-%d", m.name, n), fmt.Sprintf("web-%s-%d", m.name, n), n, m.notify)
				})
			}
		})
	}
}

// BenchmarkSelfHealBackoff is the webhook case for one Application with
// Argo CD's default self-heal backoff: the n-th push at the same git
// revision waits until 2 s × 3^(n-2) (capped at 300 s) after the previous
// sync ended. Run it with a few pushes (-benchtime 5x).
func BenchmarkSelfHealBackoff(b *testing.B) {
	p := startPlane(b, benchModes[0].opts)
	p.benchPushes(b, "acme/bench-backoff", "web-backoff", 1, true)
}

// benchPushes creates n Applications on repo, waits until all run 1.6.3,
// then pushes 1.6.4, 1.6.5, ... one per iteration and measures when each
// Application's status shows it.
func (p *plane) benchPushes(b *testing.B, repo, prefix string, n int, notify bool) {
	logMachine(b)
	names := make([]string, n)
	for i := range names {
		names[i] = fmt.Sprintf("%s-%03d", prefix, i)
	}
	p.reg.PushTags(b, repo, "1.6.0", "1.6.3")
	start := time.Now()
	for _, name := range names {
		p.createApp(b, p.newApp(b, name, repo, nil))
	}
	p.waitAll(b, names, p.image(repo)+":1.6.3", 15*time.Minute)
	b.Logf("%d Applications created and synced in %s", n, time.Since(start).Round(time.Millisecond))

	var (
		all      []float64 // per push: until the last Application shows it
		perApp   []float64 // per push and Application
		triggers []float64 // per push and Application: until the hard refresh
		syncs    []float64 // per push and Application: until the automated sync started
	)
	const renderCount = `argocd_image_resolver_render_duration_seconds_count{result="success"}`
	const renderSum = `argocd_image_resolver_render_duration_seconds_sum{result="success"}`
	renders0, renderTime0 := p.serve.metric(b, renderCount), p.serve.metric(b, renderSum)
	patch := 4
	for b.Loop() {
		p.pace(b, names, notify)
		tag := fmt.Sprintf("1.6.%d", patch)
		patch++
		p.reg.PushTags(b, repo, tag)
		pushed := time.Now()
		if notify {
			p.serve.notify(b, p.image(repo), tag)
		}
		image := p.image(repo) + ":" + tag
		p.waitAll(b, names, image, benchDeadline)
		var last time.Duration
		for _, name := range names {
			seen, ok := p.watch.imageSeenAfter(name, image, pushed)
			if !ok {
				b.Fatalf("%s shows %s, but not since the push", name, image)
			}
			d := seen.Sub(pushed)
			perApp = append(perApp, d.Seconds())
			last = max(last, d)
			if at, ok := p.watch.refreshedAfter(name, pushed); ok {
				triggers = append(triggers, at.Sub(pushed).Seconds())
			}
			if at, ok := p.watch.syncedAfter(name, pushed); ok {
				syncs = append(syncs, at.Sub(pushed).Seconds())
			}
		}
		all = append(all, last.Seconds())
		if n == 1 {
			b.Logf("push %s → status %s", tag, last.Round(time.Millisecond))
		} else {
			b.Logf("push %s → all %d Applications show it %s (p50 %s)", tag, n, last.Round(time.Millisecond), secs(percentile(perApp[len(perApp)-n:], 50)))
		}
	}
	b.ReportMetric(percentile(all, 50), "p50-s")
	b.ReportMetric(percentile(all, 99), "p99-s")
	b.ReportMetric(percentile(triggers, 50), "refresh-p50-s")
	b.ReportMetric(percentile(syncs, 50), "sync-start-p50-s")
	if renders := p.serve.metric(b, renderCount) - renders0; renders > 0 {
		b.ReportMetric((p.serve.metric(b, renderSum)-renderTime0)/renders, "render-avg-s")
		b.ReportMetric(renders/float64(len(all)*n), "renders/app/push")
	}
	if n > 1 {
		b.ReportMetric(percentile(perApp, 50), "app-p50-s")
		b.ReportMetric(percentile(perApp, 99), "app-p99-s")
	}
	b.ReportMetric(0, "ns/op")
}

// waitAll waits until every Application shows image.
func (p *plane) waitAll(b *testing.B, names []string, image string, timeout time.Duration) {
	b.Helper()
	p.watch.wait(b, fmt.Sprintf("%d Applications showing %s", len(names), image), timeout, func() error {
		waiting := 0
		var first error
		for _, name := range names {
			if err := p.watch.showing(name, image); err != nil {
				waiting++
				if first == nil {
					first = fmt.Errorf("%s: %w", name, err)
				}
			}
		}
		if waiting > 0 {
			return fmt.Errorf("%d still waiting; %v", waiting, first)
		}
		return nil
	})
}

// pace decides when the next push comes. With the webhook, it waits until
// the refresher's guard (one hard refresh per Application per
// --refresh-interval) has passed since the last hard refresh, so that no
// push waits for the next pass instead of its webhook. Without it, it
// waits a random part of the interval, as pushes come at any moment of
// the refresher's cycle. Either wait paces the load; neither synchronises
// with a component.
func (p *plane) pace(b *testing.B, names []string, notify bool) {
	b.Helper()
	interval := p.opts.refreshInterval
	var wait time.Duration
	if notify {
		var last time.Time
		for _, name := range names {
			if at := p.watch.lastRefresh(name); at.After(last) {
				last = at
			}
		}
		if !last.IsZero() {
			wait = time.Until(last.Add(interval + 200*time.Millisecond))
		}
	} else {
		wait = rand.N(interval)
	}
	if wait <= 0 {
		return
	}
	b.StopTimer()
	<-time.After(wait)
	b.StartTimer()
}

// percentile is the nearest-rank percentile of xs (NaN when empty).
func percentile(xs []float64, p float64) float64 {
	if len(xs) == 0 {
		return math.NaN()
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	i := int(math.Ceil(p/100*float64(len(s)))) - 1
	return s[max(0, min(i, len(s)-1))]
}

func secs(s float64) string {
	return time.Duration(s * float64(time.Second)).Round(time.Millisecond).String()
}

// logMachine records what the figures were measured on.
func logMachine(b *testing.B) {
	model := "unknown CPU"
	if data, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(data), "\n") {
			if v, ok := strings.CutPrefix(line, "model name"); ok {
				model = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(v), ":"))
				break
			}
		}
	}
	load, _ := os.ReadFile("/proc/loadavg")
	b.Logf("machine: %s, %d CPUs, load average %s, %s", model, runtime.NumCPU(), strings.Join(strings.Fields(string(load))[:3], " "), runtime.Version())
}
