package refresh_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/argocd-image-resolver/argocd-image-resolver/refresh"
	"github.com/argocd-image-resolver/argocd-image-resolver/resolve"
	"github.com/argocd-image-resolver/argocd-image-resolver/test/clocktest"
	"github.com/argocd-image-resolver/argocd-image-resolver/test/registrytest"
)

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func TestDiff(t *testing.T) {
	spec := func(alias, pin, strategy string) resolve.Spec {
		return resolve.Spec{Alias: alias, Image: "ghcr.io/acme/" + alias, Options: resolve.Options{Pin: pin, Strategy: strategy}}
	}
	res := func(alias, tag, digest string, pinned bool) resolve.Result {
		return resolve.Result{Alias: alias, Tag: tag, Digest: digest, Pinned: pinned}
	}
	tests := []struct {
		name     string
		spec     resolve.Spec
		rendered []resolve.Result
		fresh    []resolve.Result
		want     []refresh.Change
	}{
		{"same tag", spec("web", "tag", "semver"), []resolve.Result{res("web", "1.0.0", "sha256:a", false)}, []resolve.Result{res("web", "1.0.0", "sha256:a", false)}, nil},
		{"new tag", spec("web", "tag", "semver"), []resolve.Result{res("web", "1.0.0", "", false)}, []resolve.Result{res("web", "1.1.0", "", false)},
			[]refresh.Change{{Alias: "web", Image: "ghcr.io/acme/web", From: "1.0.0", To: "1.1.0"}}},
		{"digest ignored with pin tag", spec("web", "tag", "semver"), []resolve.Result{res("web", "1.0.0", "sha256:a", false)}, []resolve.Result{res("web", "1.0.0", "sha256:b", false)}, nil},
		{"digest counts with pin digest", spec("web", "digest", "semver"), []resolve.Result{res("web", "1.0.0", "sha256:a", false)}, []resolve.Result{res("web", "1.0.0", "sha256:b", false)},
			[]refresh.Change{{Alias: "web", Image: "ghcr.io/acme/web", From: "1.0.0@sha256:a", To: "1.0.0@sha256:b"}}},
		{"digest counts with tag+digest", spec("web", "tag+digest", "semver"), []resolve.Result{res("web", "1.0.0", "sha256:a", false)}, []resolve.Result{res("web", "1.0.0", "sha256:b", false)},
			[]refresh.Change{{Alias: "web", Image: "ghcr.io/acme/web", From: "1.0.0@sha256:a", To: "1.0.0@sha256:b"}}},
		{"digest strategy", spec("web", "", "digest"), []resolve.Result{res("web", "main", "sha256:a", false)}, []resolve.Result{res("web", "main", "sha256:b", false)},
			[]refresh.Change{{Alias: "web", Image: "ghcr.io/acme/web", From: "main@sha256:a", To: "main@sha256:b"}}},
		{"pinned when rendered", spec("web", "tag", "semver"), []resolve.Result{res("web", "0.9.0", "", true)}, []resolve.Result{res("web", "1.1.0", "", false)}, nil},
		{"pinned now", spec("web", "tag", "semver"), []resolve.Result{res("web", "1.0.0", "", false)}, []resolve.Result{res("web", "0.9.0", "", true)}, nil},
		{"paused", spec("web", "tag", "semver"), []resolve.Result{{Alias: "web", Tag: "1.0.0", Paused: true}}, []resolve.Result{{Alias: "web", Tag: "1.1.0", Paused: true}}, nil},
		{"failed to resolve now", spec("web", "tag", "semver"), []resolve.Result{res("web", "1.0.0", "", false)}, nil, nil},
		{"never rendered", spec("web", "tag", "semver"), nil, []resolve.Result{res("web", "1.0.0", "", false)}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := refresh.Diff([]resolve.Spec{tt.spec}, tt.rendered, tt.fresh)
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("Diff = %+v, want %+v", got, tt.want)
			}
		})
	}
}

// argoServer stands in for argocd-server's REST API. The real argocd-server
// cannot run in this test environment (it needs Redis, a cluster and its
// UI assets); the handler checks exactly what the real one would receive:
// path, query and bearer token.
type argoServer struct {
	t     *testing.T
	token string

	mu        sync.Mutex
	apps      map[string]map[string]any // "<ns>/<name>" -> Application object
	refreshes []string                  // request URIs with refresh=hard
	status    int                       // forced status for every request (0: normal)
}

func newArgoServer(t *testing.T, token string) (*argoServer, *httptest.Server) {
	a := &argoServer{t: t, token: token, apps: map[string]map[string]any{}}
	srv := httptest.NewServer(a)
	t.Cleanup(srv.Close)
	return a, srv
}

func appObject(ns, name, plugin string, annotations map[string]any) map[string]any {
	src := map[string]any{"repoURL": "https://git.example.com/acme/deploy.git", "path": "apps/" + name}
	if plugin != "" {
		src["plugin"] = map[string]any{"name": plugin}
	}
	return map[string]any{
		"metadata": map[string]any{"name": name, "namespace": ns, "annotations": annotations},
		"spec":     map[string]any{"project": "default", "source": src},
	}
}

func (a *argoServer) put(ns, name string, obj map[string]any) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.apps[ns+"/"+name] = obj
}

func (a *argoServer) setStatus(code int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.status = code
}

func (a *argoServer) refreshCount() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.refreshes)
}

func (a *argoServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if r.Method != http.MethodGet {
		a.t.Errorf("argocd-server got %s %s, want GET", r.Method, r.URL)
		w.WriteHeader(http.StatusMethodNotAllowed)
		return
	}
	if got := r.Header.Get("Authorization"); got != "Bearer "+a.token {
		w.WriteHeader(http.StatusUnauthorized)
		_, _ = w.Write([]byte(`{"error":"invalid session","code":16,"message":"invalid session: token is invalid"}`))
		return
	}
	if a.status != 0 {
		w.WriteHeader(a.status)
		_, _ = w.Write([]byte(`{"error":"forced","message":"forced failure"}`))
		return
	}
	if r.URL.Path == "/api/v1/applications" {
		var items []map[string]any
		for _, obj := range a.apps {
			items = append(items, obj)
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"items": items})
		return
	}
	name, ok := strings.CutPrefix(r.URL.Path, "/api/v1/applications/")
	if !ok || name == "" || strings.Contains(name, "/") {
		a.t.Errorf("unexpected path %q", r.URL.Path)
		w.WriteHeader(http.StatusNotFound)
		return
	}
	ns := r.URL.Query().Get("appNamespace")
	obj, found := a.apps[ns+"/"+name]
	if !found {
		w.WriteHeader(http.StatusNotFound)
		_, _ = w.Write([]byte(`{"error":"not found","code":5,"message":"applications.argoproj.io \"` + name + `\" not found"}`))
		return
	}
	switch r.URL.Query().Get("refresh") {
	case "":
	case "hard":
		a.refreshes = append(a.refreshes, r.URL.RequestURI())
		meta := obj["metadata"].(map[string]any)
		meta["annotations"] = map[string]any{refresh.RefreshAnnotation: "hard"}
	default:
		a.t.Errorf("refresh=%q, want hard", r.URL.Query().Get("refresh"))
	}
	_ = json.NewEncoder(w).Encode(obj)
}

// clearAnnotation plays Argo CD's application controller finishing a
// refresh.
func (a *argoServer) clearAnnotation(ns, name string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.apps[ns+"/"+name]["metadata"].(map[string]any)["annotations"] = map[string]any{}
}

func writeToken(t *testing.T, token string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(p, []byte(token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestArgoCDAPIBackend(t *testing.T) {
	const token = "argocd-token-abc123"
	argo, srv := newArgoServer(t, token)
	argo.put("team-a", "web", appObject("team-a", "web", "argocd-image-resolver", map[string]any{}))
	argo.put("team-a", "other", appObject("team-a", "other", "", map[string]any{}))
	backend, err := refresh.NewArgoCDAPI(srv.URL, writeToken(t, token))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	app := refresh.App{Name: "web", Namespace: "team-a", Project: "default"}

	if err := backend.Refresh(ctx, app); err != nil {
		t.Fatalf("Refresh: %v", err)
	}
	if argo.refreshCount() != 1 || argo.refreshes[0] != "/api/v1/applications/web?appNamespace=team-a&refresh=hard" {
		t.Fatalf("refresh requests = %v", argo.refreshes)
	}
	if err := backend.Refresh(ctx, app); !errors.Is(err, refresh.ErrRefreshPending) {
		t.Fatalf("second Refresh while annotated: err = %v, want ErrRefreshPending", err)
	}
	if argo.refreshCount() != 1 {
		t.Fatalf("refreshed again while the annotation was present")
	}
	if err := backend.Refresh(ctx, refresh.App{Name: "gone", Namespace: "team-a"}); !errors.Is(err, refresh.ErrAppNotFound) {
		t.Fatalf("missing app: err = %v, want ErrAppNotFound", err)
	}

	apps, err := backend.ListApps(ctx, []string{"argocd-image-resolver"})
	if err != nil {
		t.Fatal(err)
	}
	if len(apps) != 1 || apps[0].Key() != "team-a/web" {
		t.Fatalf("ListApps = %+v, want only team-a/web", apps)
	}

	bad, err := refresh.NewArgoCDAPI(srv.URL, writeToken(t, "wrong-token-xyz"))
	if err != nil {
		t.Fatal(err)
	}
	err = bad.Refresh(ctx, app)
	if err == nil || !strings.Contains(err.Error(), "applications, get") {
		t.Fatalf("bad token: err = %v, want a hint about the token's role", err)
	}
	if strings.Contains(err.Error(), "wrong-token-xyz") {
		t.Fatalf("error leaks the token: %v", err)
	}
}

func TestNewArgoCDAPIValidation(t *testing.T) {
	for _, tc := range []struct{ url, token string }{
		{"argocd-server:443", "/t"},
		{"https://user:pass@argocd.example.com", "/t"},
		{"https://argocd.example.com", ""},
	} {
		if _, err := refresh.NewArgoCDAPI(tc.url, tc.token); err == nil {
			t.Errorf("NewArgoCDAPI(%q, %q) accepted", tc.url, tc.token)
		}
	}
}

// refresherFixture wires a real resolver against a loopback registry, a
// tracker, and the Argo CD API backend against argoServer.
type refresherFixture struct {
	reg      *registrytest.Registry
	argo     *argoServer
	clock    *clocktest.Clock
	tracker  *refresh.Tracker
	resolver *resolve.Resolver
	r        *refresh.Refresher
	metrics  *refresh.Metrics
	spec     resolve.Spec
	app      refresh.App
}

const interval = time.Minute

func newRefresherFixture(t *testing.T, opts ...refresh.Option) *refresherFixture {
	t.Helper()
	f := &refresherFixture{reg: registrytest.New(t), clock: clocktest.New(time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC))}
	f.reg.Push(t, "acme/web:1.0.0")
	var srv *httptest.Server
	f.argo, srv = newArgoServer(t, "tok")
	f.app = refresh.App{Name: "web", Namespace: "team-a", Project: "default"}
	f.argo.put("team-a", "web", appObject("team-a", "web", "argocd-image-resolver", map[string]any{}))
	backend, err := refresh.NewArgoCDAPI(srv.URL, writeToken(t, "tok"))
	if err != nil {
		t.Fatal(err)
	}
	// The resolver's cache TTL is shorter than the refresh interval, as in
	// production defaults (1m and 2m): every poll sees the registry again.
	f.resolver, err = resolve.New(resolve.WithClock(f.clock.Now), resolve.WithCacheTTL(interval/2))
	if err != nil {
		t.Fatal(err)
	}
	f.spec, err = resolve.ParseSpec("web=" + f.reg.Host() + "/acme/web:^1.0")
	if err != nil {
		t.Fatal(err)
	}
	f.tracker = refresh.NewTracker(refresh.WithTrackerClock(f.clock.Now), refresh.WithHistorySize(2))
	f.metrics = refresh.NewMetrics(prometheus.NewRegistry())
	all := append([]refresh.Option{refresh.WithInterval(interval), refresh.WithClock(f.clock.Now),
		refresh.WithLogger(quietLogger()), refresh.WithMetrics(f.metrics)}, opts...)
	f.r = refresh.NewRefresher(f.tracker, f.resolver, backend, all...)
	return f
}

// render resolves and records like the CMP server does after a render.
func (f *refresherFixture) render(t *testing.T) {
	t.Helper()
	results, err := f.resolver.Resolve(context.Background(), []resolve.Spec{f.spec})
	if err != nil {
		t.Fatal(err)
	}
	f.tracker.Record(f.app, []resolve.Spec{f.spec}, results)
}

func results(ts []refresh.Trigger) []string {
	var out []string
	for _, t := range ts {
		out = append(out, t.Result)
	}
	return out
}

func TestRefresherGuards(t *testing.T) {
	f := newRefresherFixture(t)
	ctx := context.Background()
	f.render(t)

	if got := f.r.RunOnce(ctx); len(got) != 0 {
		t.Fatalf("nothing changed, yet attempts: %+v", got)
	}

	f.reg.Push(t, "acme/web:1.1.0")
	f.clock.Advance(interval)
	got := f.r.RunOnce(ctx)
	if !reflect.DeepEqual(results(got), []string{refresh.ResultTriggered}) {
		t.Fatalf("after push: %+v", got)
	}
	want := []refresh.Change{{Alias: "web", Image: f.spec.Image, From: "1.0.0", To: "1.1.0"}}
	if !reflect.DeepEqual(got[0].Changes, want) {
		t.Fatalf("changes = %+v, want %+v", got[0].Changes, want)
	}

	// Argo CD has not re-rendered yet; an interval later the annotation is
	// still there: the backend reports pending, nothing is sent.
	f.clock.Advance(interval)
	if got := f.r.RunOnce(ctx); !reflect.DeepEqual(results(got), []string{refresh.ResultPending}) {
		t.Fatalf("annotation present: %+v", got)
	}
	if f.argo.refreshCount() != 1 {
		t.Fatalf("refresh requests = %d, want 1", f.argo.refreshCount())
	}

	// Argo CD finished the refresh (annotation gone) but no render has been
	// recorded yet, so the tracker still holds 1.0.0: one interval after the
	// first trigger, another one is allowed...
	f.argo.clearAnnotation("team-a", "web")
	if got := f.r.RunOnce(ctx); !reflect.DeepEqual(results(got), []string{refresh.ResultTriggered}) {
		t.Fatalf("one interval after the first trigger: %+v", got)
	}
	// ...but no other within the next interval.
	f.argo.clearAnnotation("team-a", "web")
	f.clock.Advance(interval / 2)
	if got := f.r.RunOnce(ctx); len(got) != 0 {
		t.Fatalf("second trigger within one interval: %+v", got)
	}
	if f.argo.refreshCount() != 2 {
		t.Fatalf("refresh requests = %d, want 2", f.argo.refreshCount())
	}

	// The re-render records 1.1.0: nothing differs any more.
	f.render(t)
	f.clock.Advance(2 * interval)
	if got := f.r.RunOnce(ctx); len(got) != 0 {
		t.Fatalf("after re-render: %+v", got)
	}
	if v := testutil.ToFloat64(f.metrics.Triggers.WithLabelValues("argocd-api", refresh.ResultTriggered)); v != 2 {
		t.Fatalf("triggered metric = %v, want 2", v)
	}
	if v := testutil.ToFloat64(f.metrics.Triggers.WithLabelValues("argocd-api", refresh.ResultPending)); v != 1 {
		t.Fatalf("pending metric = %v, want 1", v)
	}
	hist := f.tracker.History()
	if len(hist) != 2 || hist[0].Changes[0].To != "1.1.0" {
		t.Fatalf("history = %+v", hist)
	}
}

func TestRefresherBackoffAndForget(t *testing.T) {
	f := newRefresherFixture(t, refresh.WithMaxBackoff(4*interval))
	ctx := context.Background()
	f.render(t)
	f.reg.Push(t, "acme/web:1.1.0")
	f.clock.Advance(interval)

	f.argo.setStatus(http.StatusServiceUnavailable)
	if got := f.r.RunOnce(ctx); !reflect.DeepEqual(results(got), []string{refresh.ResultError}) {
		t.Fatalf("API down: %+v", got)
	}
	// Back-off: one interval after the first failure, two after the second.
	f.clock.Advance(interval / 2)
	if got := f.r.RunOnce(ctx); len(got) != 0 {
		t.Fatalf("retried during back-off: %+v", got)
	}
	f.clock.Advance(interval / 2)
	if got := f.r.RunOnce(ctx); !reflect.DeepEqual(results(got), []string{refresh.ResultError}) {
		t.Fatalf("after first back-off: %+v", got)
	}
	f.clock.Advance(interval)
	if got := f.r.RunOnce(ctx); len(got) != 0 {
		t.Fatalf("second back-off should last two intervals: %+v", got)
	}
	status := f.tracker.Apps()[0]
	if status.RetryAfter == nil || status.LastTrigger == nil || status.LastTrigger.Result != refresh.ResultError {
		t.Fatalf("status does not show the failure: %+v", status)
	}

	f.argo.setStatus(0)
	f.argo.mu.Lock()
	delete(f.argo.apps, "team-a/web")
	f.argo.mu.Unlock()
	f.clock.Advance(interval)
	if got := f.r.RunOnce(ctx); !reflect.DeepEqual(results(got), []string{refresh.ResultNotFound}) {
		t.Fatalf("deleted app: %+v", got)
	}
	if f.tracker.Tracked(f.app.Key()) {
		t.Fatal("deleted app still tracked")
	}
	hist := f.tracker.History()
	if len(hist) != 2 || hist[0].Result != refresh.ResultError || hist[1].Result != refresh.ResultNotFound {
		t.Fatalf("history = %+v, want the last 2 attempts (bounded)", hist)
	}
}

func TestRefresherWakeChecksOnlyAppsUsingTheRepository(t *testing.T) {
	f := newRefresherFixture(t)
	ctx := context.Background()
	f.render(t)
	other, err := resolve.ParseSpec("api=" + f.reg.Host() + "/acme/api")
	if err != nil {
		t.Fatal(err)
	}
	f.reg.Push(t, "acme/api:2.0.0")
	apiResults, err := f.resolver.Resolve(ctx, []resolve.Spec{other})
	if err != nil {
		t.Fatal(err)
	}
	f.tracker.Record(refresh.App{Name: "api", Namespace: "team-a"}, []resolve.Spec{other}, apiResults)
	f.argo.put("team-a", "api", appObject("team-a", "api", "argocd-image-resolver", map[string]any{}))

	f.reg.Push(t, "acme/web:1.2.0")
	f.reg.Push(t, "acme/api:2.1.0")
	f.resolver.Invalidate(f.reg.Host() + "/acme/web")
	f.resolver.Invalidate(f.reg.Host() + "/acme/api")
	f.r.Wake(f.reg.Host() + "/acme/web")
	got := f.r.ProcessWakes(ctx)
	if len(got) != 1 || got[0].App.Key() != "team-a/web" || got[0].Result != refresh.ResultTriggered {
		t.Fatalf("wake for acme/web: %+v", got)
	}
	if got := f.r.ProcessWakes(ctx); len(got) != 0 {
		t.Fatalf("wakes are consumed once: %+v", got)
	}
}

func TestRefresherRunServesWakes(t *testing.T) {
	attempts := make(chan refresh.Trigger, 4)
	f := newRefresherFixture(t, refresh.WithAttemptHook(func(tr refresh.Trigger) { attempts <- tr }), refresh.WithInterval(time.Hour))
	f.render(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- f.r.Run(ctx) }()

	f.reg.Push(t, "acme/web:1.3.0")
	f.resolver.Invalidate(f.reg.Host() + "/acme/web")
	f.r.Wake(f.reg.Host() + "/acme/web")
	select {
	case tr := <-attempts:
		if tr.Result != refresh.ResultTriggered || tr.Changes[0].To != "1.3.0" {
			t.Fatalf("attempt = %+v", tr)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Run did not act on the wake-up (interval is one hour)")
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func TestStartupRefreshesUntrackedPluginApps(t *testing.T) {
	argo, srv := newArgoServer(t, "tok")
	argo.put("team-a", "web", appObject("team-a", "web", "argocd-image-resolver", map[string]any{}))
	argo.put("team-a", "tracked", appObject("team-a", "tracked", "argocd-image-resolver", map[string]any{}))
	argo.put("team-a", "helm", appObject("team-a", "helm", "", map[string]any{}))
	multi := appObject("team-b", "multi", "", map[string]any{})
	multi["spec"].(map[string]any)["sources"] = []any{
		map[string]any{"repoURL": "https://charts.example.com", "chart": "x"},
		map[string]any{"repoURL": "https://git.example.com/a.git", "plugin": map[string]any{"name": "argocd-image-resolver-v1"}},
	}
	argo.put("team-b", "multi", multi)
	backend, err := refresh.NewArgoCDAPI(srv.URL, writeToken(t, "tok"))
	if err != nil {
		t.Fatal(err)
	}
	tracker := refresh.NewTracker()
	tracker.Record(refresh.App{Name: "tracked", Namespace: "team-a"}, nil, nil)
	r := refresh.NewRefresher(tracker, nil, backend, refresh.WithLogger(quietLogger()),
		refresh.WithStartupListing(backend, []string{"argocd-image-resolver", "argocd-image-resolver-v1"}, 1000))
	got, err := r.Startup(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, tr := range got {
		if tr.Result != refresh.ResultTriggered || tr.Reason != refresh.ReasonStartup {
			t.Errorf("attempt %+v", tr)
		}
		keys = append(keys, tr.App.Key())
	}
	sort.Strings(keys)
	if !reflect.DeepEqual(keys, []string{"team-a/web", "team-b/multi"}) {
		t.Fatalf("startup refreshed %v, want team-a/web and team-b/multi", keys)
	}
}

func TestTrackerAppsRedactsRepoURL(t *testing.T) {
	tr := refresh.NewTracker(refresh.WithDefaultNamespace("argocd"))
	tr.Record(refresh.App{Name: "web", RepoURL: "https://bot:ghp_secret123@github.com/acme/deploy.git"},
		[]resolve.Spec{{Alias: "web", Image: "ghcr.io/acme/web"}},
		[]resolve.Result{{Alias: "web", Image: "ghcr.io/acme/web", Tag: "1.0.0"}})
	apps := tr.Apps()
	if len(apps) != 1 || apps[0].App.Key() != "argocd/web" {
		t.Fatalf("apps = %+v", apps)
	}
	b, _ := json.Marshal(apps)
	if strings.Contains(string(b), "ghp_secret123") {
		t.Fatalf("credentials in app status: %s", b)
	}
	if apps[0].App.RepoURL != "https://github.com/acme/deploy.git" {
		t.Fatalf("repo URL = %q", apps[0].App.RepoURL)
	}
}

// TestKubernetesConfigMissing: outside a cluster and without a kubeconfig
// the error says what to pass, not client-go's KUBERNETES_MASTER advice.
func TestKubernetesConfigMissing(t *testing.T) {
	t.Setenv("KUBERNETES_SERVICE_HOST", "")
	t.Setenv("KUBECONFIG", filepath.Join(t.TempDir(), "absent"))
	t.Setenv("HOME", t.TempDir())
	_, err := refresh.RESTConfig("")
	if err == nil {
		t.Fatal("no configuration accepted")
	}
	for _, want := range []string{"not in a cluster", "--kubeconfig", "--refresh-backend argocd-api"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
	if strings.Contains(err.Error(), "KUBERNETES_MASTER") {
		t.Errorf("client-go's advice leaks: %v", err)
	}
}
