package resolve

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/argocd-image-resolver/argocd-image-resolver/store"
	"github.com/argocd-image-resolver/argocd-image-resolver/test/registrytest"
)

var webTags = []string{"1.5.0", "1.6.0", "1.6.3", "1.7.0", "2.0.0-rc.1", "latest"}

func TestResolvePicksSemverAndExplains(t *testing.T) {
	reg := newTestRegistry(t)
	digests := pushTags(t, reg.host, "acme/web", time.Now(), nil, webTags...)
	shared := store.NewMemory()
	r := newTestResolver(t, WithStore(shared))
	spec := specFor(t, "web="+reg.host+"/acme/web:~1.6", nil)

	res, err := r.ResolveOne(context.Background(), spec)
	if err != nil {
		t.Fatal(err)
	}
	if res.Tag != "1.6.3" || res.Digest != digests["1.6.3"] {
		t.Fatalf("got %s %s, want 1.6.3 %s", res.Tag, res.Digest, digests["1.6.3"])
	}
	if res.Source != SourceRegistry || res.Registry != reg.host || res.Alias != "web" || res.Strategy != StrategySemver || res.Constraint != "~1.6" {
		t.Fatalf("unexpected result %+v", res)
	}
	// The result layer keeps the result, not the candidates.
	keys, err := shared.Keys(context.Background(), keyEntry)
	if err != nil {
		t.Fatal(err)
	}
	results := 0
	for _, k := range keys {
		if !isLayerEntry(LayerResult)(k) {
			continue
		}
		results++
		vals, _ := shared.Get(context.Background(), k)
		if strings.Contains(string(vals[0]), "candidates") || strings.Contains(string(vals[0]), "2.0.0-rc.1") {
			t.Errorf("stored result holds candidates: %s", vals[0])
		}
	}
	if results != 1 {
		t.Fatalf("%d stored results, want 1", results)
	}

	for _, tc := range []struct {
		name string
		// fresh explains with a new resolver on the same store: nothing
		// in its front, as on another replica.
		fresh bool
	}{
		{name: "cached result, same process"},
		{name: "cached result, another replica", fresh: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			explainer := r
			if tc.fresh {
				explainer = newTestResolver(t, WithStore(shared))
			}
			reg.counter.Reset()
			ex, err := explainer.Explain(context.Background(), spec)
			if err != nil {
				t.Fatal(err)
			}
			if ex.Tag != "1.6.3" || ex.Source != SourceCache {
				t.Fatalf("explained %+v, want the cached 1.6.3", ex.Result)
			}
			if n := reg.counter.Count(""); n != 0 {
				t.Errorf("explaining a cached result made %d registry requests, want 0", n)
			}
			byTag := map[string]Candidate{}
			for _, c := range ex.Candidates {
				byTag[c.Tag] = c
			}
			if len(byTag) != len(webTags) || ex.Candidates[0].Tag != "1.6.3" || !ex.Candidates[0].Accepted {
				t.Fatalf("candidates %+v: want all %d tags, 1.6.3 accepted first", ex.Candidates, len(webTags))
			}
			for _, tag := range []string{"1.7.0", "2.0.0-rc.1", "latest"} {
				if c := byTag[tag]; c.Accepted || c.Reason == "" {
					t.Errorf("candidate %s = %+v; want rejected with a reason", tag, c)
				}
			}
		})
	}

	// A spec no tag satisfies explains every rejection with the error.
	ex, err := r.Explain(context.Background(), specFor(t, "web="+reg.host+"/acme/web:~3", nil))
	if !errors.Is(err, ErrNoMatch) || len(ex.Candidates) != len(webTags) {
		t.Fatalf("no match: %v, candidates %+v", err, ex.Candidates)
	}
}

func TestConcurrentResolutionsShareOneTagListCall(t *testing.T) {
	reg := newTestRegistry(t)
	pushTags(t, reg.host, "acme/web", time.Now(), nil, webTags...)
	r := newTestResolver(t, WithCacheTTL(2*time.Minute))
	spec := specFor(t, "web="+reg.host+"/acme/web:~1.6", nil)
	reg.counter.Reset()

	resolveConcurrently := func(n int) []Result {
		results := make([]Result, n)
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				res, err := r.ResolveOne(context.Background(), spec)
				if err != nil {
					t.Error(err)
				}
				results[i] = res
			}()
		}
		close(start)
		wg.Wait()
		return results
	}

	for _, res := range resolveConcurrently(64) {
		if res.Tag != "1.6.3" {
			t.Fatalf("tag %q", res.Tag)
		}
	}
	if got := reg.counter.Count("list"); got != 1 {
		t.Fatalf("cold: %d tag-list calls for 64 concurrent resolutions, want 1", got)
	}
	if got := reg.counter.Count("head"); got != 1 {
		t.Fatalf("cold: %d HEAD calls, want 1", got)
	}

	reg.counter.Reset()
	for _, res := range resolveConcurrently(16) {
		if res.Source != SourceCache || res.Tag != "1.6.3" {
			t.Fatalf("warm: %+v", res)
		}
	}
	if got := reg.counter.Count(""); got != 0 {
		t.Fatalf("warm cache made %d registry calls, want 0", got)
	}

	r.clock.Advance(2*time.Minute + time.Second)
	resolveConcurrently(16)
	if got := reg.counter.Count("list"); got != 1 {
		t.Fatalf("after TTL: %d tag-list calls, want 1", got)
	}
}

func TestStaleServedWhenRegistryFails(t *testing.T) {
	cases := []struct {
		name   string
		faults func(string, *http.Request) fault
		ctx    func() (context.Context, context.CancelFunc)
		opts   []Option
	}{
		{name: "500", faults: failOp("list", http.StatusInternalServerError)},
		{name: "429", faults: func(op string, _ *http.Request) fault {
			if op == "list" {
				return fault{status: http.StatusTooManyRequests, retryAfter: "1"}
			}
			return fault{}
		}},
		{name: "timeout", faults: func(op string, _ *http.Request) fault { return fault{hang: op == "list"} },
			ctx: func() (context.Context, context.CancelFunc) {
				return context.WithTimeout(context.Background(), 300*time.Millisecond)
			},
			// The hung call goes on after the caller left, until the
			// registry timeout.
			opts: []Option{WithRegistryTimeout(time.Second)}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			reg := newTestRegistry(t)
			pushTags(t, reg.host, "acme/web", time.Now(), nil, webTags...)
			prom := prometheus.NewRegistry()
			r := newTestResolver(t, append(tc.opts, WithMetrics(prom))...)
			spec := specFor(t, "web="+reg.host+"/acme/web:~1.6", nil)
			if _, err := r.ResolveOne(context.Background(), spec); err != nil {
				t.Fatal(err)
			}

			r.clock.Advance(3 * time.Minute)
			reg.counter.SetFaults(tc.faults)
			ctx, cancel := context.Background(), context.CancelFunc(func() {})
			if tc.ctx != nil {
				ctx, cancel = tc.ctx()
			}
			defer cancel()
			res, err := r.ResolveOne(ctx, spec)
			if err != nil {
				t.Fatalf("want stale result, got error %v", err)
			}
			if res.Source != SourceStale || res.Tag != "1.6.3" {
				t.Fatalf("got %+v, want 1.6.3 from stale", res)
			}
			if got := testutil.ToFloat64(r.metrics.resolutions.WithLabelValues(resolutionStale)); got != 1 {
				t.Errorf("stale resolutions = %v, want 1", got)
			}
			if got := testutil.ToFloat64(r.metrics.lookups.WithLabelValues(LayerTags, lookupStale)); got != 1 {
				t.Errorf("stale tag lookups = %v, want 1", got)
			}
			if !strings.Contains(r.logs.String(), "stale") || !strings.Contains(r.logs.String(), "alias=web") {
				t.Errorf("no stale log line naming the alias:\n%s", r.logs.String())
			}
			var staleEntry *Entry
			for _, e := range r.Snapshot() {
				if e.Layer == LayerTags && !e.Negative {
					staleEntry = &e
				}
			}
			if staleEntry == nil || !staleEntry.Stale || staleEntry.LastError == "" {
				t.Errorf("snapshot tag entry = %+v; want stale with the last error", staleEntry)
			}

			// Past stale-ttl nothing is served any more.
			r.clock.Advance(DefaultStaleTTL)
			if _, err := r.ResolveOne(ctx, spec); err == nil {
				t.Fatal("resolved after stale-ttl with a failing registry")
			}
		})
	}
}

func TestErrorWithNothingCachedNamesAliasImageRegistryCause(t *testing.T) {
	reg := newTestRegistry(t)
	reg.counter.SetFaults(failOp("list", http.StatusInternalServerError))
	prom := prometheus.NewRegistry()
	r := newTestResolver(t, WithMetrics(prom), WithNegativeTTL(10*time.Second))
	spec := specFor(t, "web="+reg.host+"/acme/web:~1.6", nil)

	_, err := r.ResolveOne(context.Background(), spec)
	if err == nil {
		t.Fatal("resolved against a failing registry with nothing cached")
	}
	msg := err.Error()
	for _, want := range []string{"resolve web", reg.host + "/acme/web", "list tags from registry " + reg.host, "500", "check the registry is reachable"} {
		if !strings.Contains(msg, want) {
			t.Errorf("error %q lacks %q", msg, want)
		}
	}
	var re *ResolveError
	if !errors.As(err, &re) || re.Alias != "web" || re.Registry != reg.host {
		t.Errorf("error is not a ResolveError naming alias and registry: %#v", err)
	}
	if got := testutil.ToFloat64(r.metrics.resolutions.WithLabelValues(resolutionError)); got != 1 {
		t.Errorf("error resolutions = %v, want 1", got)
	}

	// The failure is cached briefly: no second call within negative-ttl.
	calls := reg.counter.Count("list")
	if _, err := r.ResolveOne(context.Background(), spec); err == nil {
		t.Fatal("second resolution succeeded")
	}
	if got := reg.counter.Count("list"); got != calls {
		t.Fatalf("negative cache: %d more tag-list calls within negative-ttl, want 0", got-calls)
	}
	r.clock.Advance(11 * time.Second)
	_, _ = r.ResolveOne(context.Background(), spec)
	if got := reg.counter.Count("list"); got != calls+1 {
		t.Fatalf("after negative-ttl: %d more tag-list calls, want 1", got-calls)
	}
}

func TestResolveAggregatesErrorsAndKeepsResults(t *testing.T) {
	reg := newTestRegistry(t)
	pushTags(t, reg.host, "acme/web", time.Now(), nil, webTags...)
	pushTags(t, reg.host, "acme/db", time.Now(), nil, "15.2")
	specs, err := ParseSpecs([]string{
		"web=" + reg.host + "/acme/web:~1.6",
		"api=" + reg.host + "/acme/api:~1.0",
		"db=" + reg.host + "/acme/db",
	}, map[string]string{"db.override-tag": "15.2"})
	if err != nil {
		t.Fatal(err)
	}
	r := newTestResolver(t)
	results, err := r.Resolve(context.Background(), specs)
	if err == nil || !strings.Contains(err.Error(), "resolve api") {
		t.Fatalf("want an error naming api, got %v", err)
	}
	if len(results) != 2 || results[0].Alias != "web" || results[0].Tag != "1.6.3" || results[1].Alias != "db" || !results[1].Pinned || results[1].Tag != "15.2" {
		t.Fatalf("results %+v", results)
	}
	if !strings.Contains(err.Error(), "check the image name") {
		t.Errorf("404 error lacks the hint: %v", err)
	}
}

// TestPinIsOneCachedHEADAndPauseMakesNoCall: a pin costs one HEAD, cached
// like any digest; a tag the registry lacks is a *PinError naming the 404;
// a paused image asks nothing.
func TestPinIsOneCachedHEADAndPauseMakesNoCall(t *testing.T) {
	reg := newTestRegistry(t)
	digests := pushTags(t, reg.host, "acme/web", time.Now(), nil, "1.2.3")
	r := newTestResolver(t)
	pinned := specFor(t, "web="+reg.host+"/acme/web", map[string]string{"web.override-tag": "1.2.3"})
	reg.counter.Reset() // the push made requests of its own
	for i := range 2 {
		res, err := r.ResolveOne(context.Background(), pinned)
		if err != nil || !res.Pinned || res.Tag != "1.2.3" || res.Digest != digests["1.2.3"] || res.Warning != "" {
			t.Fatalf("pinned (round %d): %+v %v", i, res, err)
		}
	}
	if got := reg.counter.Count("head"); got != 1 {
		t.Errorf("%d HEAD requests for two resolutions of one pin, want 1", got)
	}
	if got := reg.counter.Count("list"); got != 0 {
		t.Errorf("a pin listed the tags %d times", got)
	}

	missing := specFor(t, "web="+reg.host+"/acme/web", map[string]string{"web.override-tag": "9.9.9"})
	_, err := r.ResolveOne(context.Background(), missing)
	var pe *PinError
	if !errors.As(err, &pe) || !errors.Is(err, ErrPinNotFound) || pe.Status != 404 || pe.Tag != "9.9.9" {
		t.Fatalf("missing pin: %v, want a *PinError with status 404", err)
	}
	if !strings.Contains(err.Error(), "resolve web (") || !strings.Contains(err.Error(), "HTTP 404") {
		t.Errorf("missing pin error %q lacks the alias or the answer", err)
	}

	before := reg.counter.Count("")
	paused := specFor(t, "web="+reg.host+"/acme/web", map[string]string{"web.ignore-tags": "*"})
	res, err := r.ResolveOne(context.Background(), paused)
	if err != nil || !res.Paused || res.Tag != "" {
		t.Fatalf("paused: %+v %v", res, err)
	}
	if got := reg.counter.Count("") - before; got != 0 {
		t.Fatalf("%d registry calls for a paused spec", got)
	}
	if got := testutil.ToFloat64(r.metrics.resolutions.WithLabelValues(resolutionPaused)); got != 1 {
		t.Errorf("paused resolutions = %v", got)
	}
}

func TestDigestStrategyFollowsTag(t *testing.T) {
	reg := newTestRegistry(t)
	first := pushTags(t, reg.host, "acme/web", time.Now(), nil, "main")
	r := newTestResolver(t)
	spec := specFor(t, "web="+reg.host+"/acme/web:main", map[string]string{"web.update-strategy": "digest"})
	res, err := r.ResolveOne(context.Background(), spec)
	if err != nil || res.Tag != "main" || res.Digest != first["main"] {
		t.Fatalf("got %+v %v", res, err)
	}
	second := pushTags(t, reg.host, "acme/web", time.Now(), nil, "main")
	if n := r.Invalidate(reg.host + "/acme/web"); n == 0 {
		t.Fatal("Invalidate removed nothing")
	}
	res, err = r.ResolveOne(context.Background(), spec)
	if err != nil || res.Digest != second["main"] || res.Source != SourceRegistry {
		t.Fatalf("after push and invalidate: %+v %v", res, err)
	}
}

func TestNewestBuildReadsConfigsThroughBoundedCache(t *testing.T) {
	reg := newTestRegistry(t)
	base := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	pushTags(t, reg.host, "acme/job", base, nil, "a")
	pushTags(t, reg.host, "acme/job", base.Add(2*time.Hour), nil, "b")
	// c's arm64 image is the newest of all, but amd64 is what is allowed.
	registrytest.Push(t, reg.host+"/acme/job:c", registrytest.Platforms("linux/amd64", "linux/arm64"),
		registrytest.CreatedFor("linux/amd64", base.Add(time.Hour)),
		registrytest.CreatedFor("linux/arm64", base.Add(5*time.Hour)))
	r := newTestResolver(t, WithMetadataCacheSize(2))
	ctx := context.Background()

	spec := specFor(t, "job="+reg.host+"/acme/job", map[string]string{"job.update-strategy": "newest-build", "job.platforms": "linux/amd64"})
	res, err := r.ResolveOne(ctx, spec)
	if err != nil || res.Tag != "b" {
		t.Fatalf("amd64: got %+v %v; want b", res, err)
	}
	spec = specFor(t, "job="+reg.host+"/acme/job", map[string]string{"job.update-strategy": "newest-build"})
	res, err = r.ResolveOne(ctx, spec)
	if err != nil || res.Tag != "c" {
		t.Fatalf("any platform: got %+v %v; want c", res, err)
	}

	configs := 0
	for _, e := range r.Snapshot() {
		if e.Layer == LayerConfig {
			configs++
			if !e.ExpiresAt.IsZero() {
				t.Errorf("config entry %s expires", e.Key)
			}
		}
	}
	if configs != 2 {
		t.Fatalf("config layer holds %d entries, want the bound 2", configs)
	}

	meta := &repoMetadata{ctx: ctx, r: r.Resolver, spec: spec, trace: &trace{}}
	meta.repo, _, _ = r.repository(reg.host + "/acme/job")
	platforms, err := meta.Platforms("c")
	if err != nil || strings.Join(platforms, ",") != "linux/amd64,linux/arm64" {
		t.Fatalf("platforms of c: %v %v", platforms, err)
	}
}

func TestSnapshotAndInvalidate(t *testing.T) {
	reg := newTestRegistry(t)
	pushTags(t, reg.host, "acme/web", time.Now(), nil, webTags...)
	pushTags(t, reg.host, "acme/api", time.Now(), nil, "1.0.0")
	r := newTestResolver(t)
	for _, s := range []string{"web=" + reg.host + "/acme/web:~1.6", "api=" + reg.host + "/acme/api"} {
		if _, err := r.ResolveOne(context.Background(), specFor(t, s, nil)); err != nil {
			t.Fatal(err)
		}
	}
	layers := map[string]int{}
	for _, e := range r.Snapshot() {
		layers[e.Layer]++
		if e.Repository == "" || e.Summary == "" || e.CachedAt.IsZero() || e.Stale {
			t.Errorf("incomplete entry %+v", e)
		}
	}
	if layers[LayerTags] != 2 || layers[LayerDigest] != 2 || layers[LayerResult] != 2 {
		t.Fatalf("layers %v", layers)
	}
	if n := r.Invalidate(reg.host + "/acme/web"); n != 3 {
		t.Fatalf("Invalidate(web) expired %d, want 3", n)
	}
	// The tag list and digest stay as stale copies (served if the registry
	// fails); the result, which has none, is gone.
	left := map[string]int{}
	for _, e := range r.Snapshot() {
		if strings.HasSuffix(e.Repository, "/acme/web") {
			if !e.Stale {
				t.Fatalf("fresh entry left after invalidate: %+v", e)
			}
			left[e.Layer]++
		}
	}
	if left[LayerTags] != 1 || left[LayerDigest] != 1 || left[LayerResult] != 0 {
		t.Fatalf("stale copies after invalidate: %v, want the tag list and the digest", left)
	}
	if n := r.Invalidate(""); n != 3 {
		t.Fatalf("Invalidate(all) expired %d, want 3", n)
	}
	for _, e := range r.Snapshot() {
		if !e.Stale {
			t.Fatalf("fresh entry left after invalidating all: %+v", e)
		}
	}
}

func TestInvalidateDockerHubShortForms(t *testing.T) {
	for _, form := range []string{"nginx", "docker.io/library/nginx", "index.docker.io/library/nginx", "library/nginx", "nginx:1.27", "docker.io/library/nginx@sha256:0000000000000000000000000000000000000000000000000000000000000000"} {
		t.Run(form, func(t *testing.T) {
			r := newTestResolver(t)
			for _, repo := range []string{"index.docker.io/library/nginx", "index.docker.io/library/redis"} {
				r.cache.putEntry(context.Background(), r.cache.slot(LayerTags, repo, repo, "-", generation{}), []string{"1"}, "1 tags")
			}
			if n := r.Invalidate(form); n != 1 {
				t.Fatalf("Invalidate(%q) expired %d, want 1", form, n)
			}
		})
	}
}

func TestDefaultRegistryAndNamespace(t *testing.T) {
	reg := newTestRegistry(t)
	pushTags(t, reg.host, "acme/web", time.Now(), nil, "1.0.0")
	conf, err := ParseRegistriesConfig([]byte("registries:\n- name: local\n  prefix: " + reg.host + "\n  default: true\n  defaultns: acme\n"))
	if err != nil {
		t.Fatal(err)
	}
	r := newTestResolver(t, WithRegistriesConfig(conf))
	res, err := r.ResolveOne(context.Background(), specFor(t, "web", nil))
	if err != nil || res.Tag != "1.0.0" || res.Registry != reg.host {
		t.Fatalf("got %+v %v", res, err)
	}
}

func TestRegistryRequestMetrics(t *testing.T) {
	reg := newTestRegistry(t)
	pushTags(t, reg.host, "acme/web", time.Now(), nil, webTags...)
	prom := prometheus.NewRegistry()
	r := newTestResolver(t, WithMetrics(prom))
	spec := specFor(t, "web="+reg.host+"/acme/web:~1.6", nil)
	for range 2 {
		if _, err := r.ResolveOne(context.Background(), spec); err != nil {
			t.Fatal(err)
		}
	}
	if got := testutil.ToFloat64(r.metrics.requests.WithLabelValues(otherRegistries, "list", "200")); got != 1 {
		t.Errorf("list requests = %v", got)
	}
	if got := testutil.ToFloat64(r.metrics.requests.WithLabelValues(otherRegistries, "head", "200")); got != 1 {
		t.Errorf("head requests = %v", got)
	}
	if got := testutil.ToFloat64(r.metrics.lookups.WithLabelValues(LayerResult, lookupHit)); got != 1 {
		t.Errorf("result hits = %v", got)
	}
	if got := testutil.ToFloat64(r.metrics.resolutions.WithLabelValues(resolutionOK)); got != 2 {
		t.Errorf("ok resolutions = %v", got)
	}
	n, err := testutil.GatherAndCount(prom)
	if err != nil || n == 0 {
		t.Fatalf("nothing registered: %d %v", n, err)
	}
	if _, err := New(WithMetrics(prom)); err == nil {
		t.Error("registering twice on one registry did not fail")
	}
}
