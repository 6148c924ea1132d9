package envtest

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/argocd-image-resolver/argocd-image-resolver/refresh"
	"github.com/argocd-image-resolver/argocd-image-resolver/resolve"
	"github.com/argocd-image-resolver/argocd-image-resolver/test/registrytest"
)

// requestCounter counts the Application requests a client sends, by kind.
type requestCounter struct {
	gets, patches, lists atomic.Int64
}

// wrap counts through cfg's transport. A GET of one Application (path
// .../applications/<name>) is what the watched cache saves; list and watch
// requests are the cache's own.
func (c *requestCounter) wrap(cfg *rest.Config) *rest.Config {
	cfg = rest.CopyConfig(cfg)
	cfg.WrapTransport = func(rt http.RoundTripper) http.RoundTripper {
		return roundTripper(func(r *http.Request) (*http.Response, error) {
			if _, name, ok := strings.Cut(r.URL.Path, "/applications/"); ok && name != "" {
				switch r.Method {
				case http.MethodGet:
					c.gets.Add(1)
				case http.MethodPatch:
					c.patches.Add(1)
				}
			} else if strings.HasSuffix(r.URL.Path, "/applications") && r.Method == http.MethodGet {
				c.lists.Add(1)
			}
			return rt.RoundTrip(r)
		})
	}
	return cfg
}

type roundTripper func(*http.Request) (*http.Response, error)

func (f roundTripper) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// stormResult is what one storm measured.
type stormResult struct {
	apps      int
	rate      float64
	storm     time.Duration // push to the last storm patch
	unrelated time.Duration // unrelated push to its patch
	// stormLeft is how many storm Applications were still to be patched
	// when the unrelated one was.
	stormLeft int
	gets      int64
	patches   int64
}

// stormSetup is a control plane with n plugin Applications on one image,
// all tracked, plus one Application on another image.
type stormSetup struct {
	cfg      *rest.Config
	reg      *registrytest.Registry
	resolver *resolve.Resolver
	tracker  *refresh.Tracker
	apps     int
}

const stormNS = "argocd"

func newStorm(tb testing.TB, n int) *stormSetup {
	tb.Helper()
	env := startAPIServer(tb)
	ctx := context.Background()
	admin := rest.CopyConfig(env.Config)
	admin.QPS, admin.Burst = 500, 500
	core, err := kubernetes.NewForConfig(admin)
	if err != nil {
		tb.Fatal(err)
	}
	if _, err := core.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: stormNS}}, metav1.CreateOptions{}); err != nil {
		tb.Fatal(err)
	}
	dyn, err := dynamic.NewForConfig(admin)
	if err != nil {
		tb.Fatal(err)
	}
	reg := registrytest.New(tb)
	reg.Push(tb, "acme/web:1.0.0")
	reg.Push(tb, "acme/api:1.0.0")
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	resolver, err := resolve.New(resolve.WithLogger(logger))
	if err != nil {
		tb.Fatal(err)
	}
	web, err := resolve.ParseSpec("web=" + reg.Host() + "/acme/web:^1.0")
	if err != nil {
		tb.Fatal(err)
	}
	api, err := resolve.ParseSpec("api=" + reg.Host() + "/acme/api:^1.0")
	if err != nil {
		tb.Fatal(err)
	}
	webRes, err := resolver.Resolve(ctx, []resolve.Spec{web})
	if err != nil {
		tb.Fatal(err)
	}
	apiRes, err := resolver.Resolve(ctx, []resolve.Spec{api})
	if err != nil {
		tb.Fatal(err)
	}
	tracker := refresh.NewTracker(refresh.WithDefaultNamespace(stormNS))
	tracker.Record(refresh.App{Name: "api", Namespace: stormNS}, []resolve.Spec{api}, apiRes)

	names := make(chan string)
	var wg sync.WaitGroup
	var createErr atomic.Value
	for range 8 {
		wg.Go(func() {
			for name := range names {
				obj := applicationObject(stormNS, name)
				if _, err := dyn.Resource(refresh.ApplicationResource).Namespace(stormNS).Create(ctx, obj, metav1.CreateOptions{}); err != nil {
					createErr.Store(err)
				}
			}
		})
	}
	names <- "api"
	for i := range n {
		name := fmt.Sprintf("web-%04d", i)
		names <- name
		tracker.Record(refresh.App{Name: name, Namespace: stormNS}, []resolve.Spec{web}, webRes)
	}
	close(names)
	wg.Wait()
	if err, ok := createErr.Load().(error); ok {
		tb.Fatalf("creating Applications: %v", err)
	}
	return &stormSetup{cfg: env.Config, reg: reg, resolver: resolver, tracker: tracker, apps: n}
}

func applicationObject(ns, name string) *unstructured.Unstructured {
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "argoproj.io/v1alpha1",
		"kind":       "Application",
		"metadata":   map[string]any{"name": name, "namespace": ns},
		"spec": map[string]any{
			"project":     "default",
			"source":      map[string]any{"repoURL": "https://git.example.com/acme/deploy.git", "path": "apps/" + name, "plugin": map[string]any{"name": pluginName}},
			"destination": map[string]any{"server": "https://kubernetes.default.svc", "namespace": name},
		},
	}}
}

// run pushes a new web tag, wakes the refresher as the webhook does, and
// pushes an unrelated api tag once a quarter of the storm is out. The
// refresher's Kubernetes client has QPS and burst at the refresher's rate,
// and its cache of Applications has synced before the push, as when it
// leads.
func (s *stormSetup) run(tb testing.TB, rate float64, burst int) stormResult {
	tb.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	var counts requestCounter
	cfg := counts.wrap(s.cfg)
	cfg.QPS, cfg.Burst = float32(rate), burst
	kube, err := refresh.NewKubernetesFromConfig(cfg, refresh.WithListNamespaces(stormNS))
	if err != nil {
		tb.Fatal(err)
	}
	if err := kube.Watch(ctx); err != nil {
		tb.Fatal(err)
	}

	type patched struct {
		app string
		at  time.Time
	}
	done := make(chan patched, s.apps+1)
	r := refresh.NewRefresher(s.tracker, s.resolver, kube,
		refresh.WithRate(rate, burst), refresh.WithLogger(logger), refresh.WithInterval(time.Hour),
		refresh.WithAttemptHook(func(tr refresh.Trigger) {
			if tr.Result != refresh.ResultTriggered {
				tb.Errorf("attempt %s: %s %s", tr.App.Key(), tr.Result, tr.Error)
			}
			done <- patched{tr.App.Name, time.Now()}
		}))
	var wg sync.WaitGroup
	wg.Go(func() { _ = r.Run(ctx) })
	defer wg.Wait()
	defer cancel()

	web, api := s.reg.Host()+"/acme/web", s.reg.Host()+"/acme/api"
	s.reg.Push(tb, "acme/web:1.1.0")
	s.resolver.Invalidate(web)
	start := time.Now()
	r.Wake(web)

	res := stormResult{apps: s.apps, rate: rate}
	var unrelatedAt time.Time
	stormDone := 0
	limit := time.After(time.Duration(float64(s.apps)/rate*float64(time.Second)) + 2*time.Minute)
	for stormDone < s.apps || res.unrelated == 0 {
		select {
		case p := <-done:
			if p.app == "api" {
				res.unrelated = p.at.Sub(unrelatedAt)
				res.stormLeft = s.apps - stormDone
				continue
			}
			stormDone++
			res.storm = p.at.Sub(start)
			if stormDone == s.apps/4 {
				s.reg.Push(tb, "acme/api:1.1.0")
				s.resolver.Invalidate(api)
				unrelatedAt = time.Now()
				r.Wake(api)
			}
		case <-limit:
			tb.Fatalf("after the time limit: %d of %d storm Applications patched, unrelated patched: %v", stormDone, s.apps, res.unrelated > 0)
		}
	}
	res.gets, res.patches = counts.gets.Load(), counts.patches.Load()
	return res
}

// TestRefreshStorm: one push to the image of many Applications, and a push
// to another image during the storm. Every Application gets exactly one
// PATCH and no GET (the pending-refresh annotation comes from the watched
// cache), and the unrelated Application does not wait for the storm.
// STORM_APPS sets the number of Applications (default 200); the timings
// are measured by BenchmarkRefreshStorm.
func TestRefreshStorm(t *testing.T) {
	n := 200
	if v := os.Getenv("STORM_APPS"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil || n < 8 {
			t.Fatalf("STORM_APPS=%q: want a number of Applications, at least 8", v)
		}
	}
	s := newStorm(t, n)
	res := s.run(t, refresh.DefaultRate, refresh.DefaultBurst)
	t.Logf("%d Applications at %v/s: storm %v (ideal %v), unrelated push patched after %v with %d storm Applications still waiting; %d GETs, %d PATCHes",
		n, res.rate, res.storm.Round(time.Millisecond), time.Duration(float64(n-refresh.DefaultBurst)/res.rate*float64(time.Second)),
		res.unrelated.Round(time.Millisecond), res.stormLeft, res.gets, res.patches)
	if res.patches != int64(n+1) {
		t.Errorf("%d PATCHes for %d Applications, want one each", res.patches, n+1)
	}
	if res.gets != 0 {
		t.Errorf("%d GETs of single Applications; the watched cache should answer them all", res.gets)
	}
	if res.stormLeft == 0 {
		t.Errorf("the unrelated push was patched only after the whole storm")
	}
}

// BenchmarkRefreshStorm measures the storm with 2000 Applications (or
// STORM_APPS) at the default rate, and as the baseline, in the same run,
// the old shape on 200 of them: client-go's default limits (QPS 5, burst
// 10) and a GET before each PATCH, which paced hard refreshes at 2.5/s.
// Run: go test ./test/envtest/ -run '^$' -bench RefreshStorm -benchtime 1x
func BenchmarkRefreshStorm(b *testing.B) {
	n := 2000
	if v := os.Getenv("STORM_APPS"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil || n < 8 {
			b.Fatalf("STORM_APPS=%q: want a number of Applications, at least 8", v)
		}
	}
	for b.Loop() {
		s := newStorm(b, n)
		res := s.run(b, refresh.DefaultRate, refresh.DefaultBurst)
		base := newBaseline(b, min(n, 200))
		ideal := float64(n) / res.rate
		b.ReportMetric(res.storm.Seconds(), "storm-s")
		b.ReportMetric(ideal+5, "bound-s")
		b.ReportMetric(float64(n)/res.storm.Seconds(), "patches/s")
		b.ReportMetric(base, "baseline-patches/s")
		b.ReportMetric(float64(n)/res.storm.Seconds()/base, "speedup")
		b.ReportMetric(float64(res.unrelated.Milliseconds()), "unrelated-ms")
		b.ReportMetric(float64(res.stormLeft), "storm-left-at-unrelated")
		b.ReportMetric(float64(res.gets), "gets")
		if res.storm.Seconds() > ideal+5 {
			b.Errorf("storm took %v, over N/rate + 5 s = %.0f s", res.storm, ideal+5)
		}
		if res.unrelated > time.Second {
			b.Errorf("unrelated push patched after %v, over 1 s", res.unrelated)
		}
	}
}

// newBaseline measures the hard refreshes per second of the old shape:
// client-go's default rate limit and a GET before each PATCH (no watched
// cache), n Applications on one push.
func newBaseline(b *testing.B, n int) float64 {
	s := newStorm(b, n)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cfg := rest.CopyConfig(s.cfg)
	cfg.QPS, cfg.Burst = 5, 10
	kube, err := refresh.NewKubernetesFromConfig(cfg)
	if err != nil {
		b.Fatal(err)
	}
	var patched atomic.Int64
	all := make(chan struct{})
	// Only the Backend methods: without Watch there is no cache, and each
	// refresh reads the Application first, as before.
	uncached := struct{ refresh.Backend }{kube}
	r := refresh.NewRefresher(s.tracker, s.resolver, uncached, refresh.WithRate(1000, 1000),
		refresh.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))), refresh.WithInterval(time.Hour),
		refresh.WithAttemptHook(func(tr refresh.Trigger) {
			if patched.Add(1) == int64(n) {
				close(all)
			}
		}))
	web := s.reg.Host() + "/acme/web"
	s.reg.Push(b, "acme/web:1.1.0")
	s.resolver.Invalidate(web)
	start := time.Now()
	r.Wake(web)
	var wg sync.WaitGroup
	wg.Go(func() { _ = r.Run(ctx) })
	defer wg.Wait()
	defer cancel()
	<-all
	return float64(n) / time.Since(start).Seconds()
}
