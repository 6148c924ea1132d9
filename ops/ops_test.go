package ops_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/argocd-image-resolver/argocd-image-resolver/ops"
	"github.com/argocd-image-resolver/argocd-image-resolver/refresh"
	"github.com/argocd-image-resolver/argocd-image-resolver/resolve"
	"github.com/argocd-image-resolver/argocd-image-resolver/test/registrytest"
)

const secret = "webhook-s3cr3t-value"

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// fixture: a loopback registry with two repositories, a real resolver whose
// cache holds both, and a recorder of wake-ups.
type fixture struct {
	host     string
	resolver *resolve.Resolver
	wakes    *wakeRecorder
}

type wakeRecorder struct {
	mu    sync.Mutex
	repos []string
}

func (w *wakeRecorder) Wake(repo string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.repos = append(w.repos, repo)
}

func (w *wakeRecorder) list() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]string(nil), w.repos...)
}

func newFixture(t *testing.T, reg prometheus.Registerer) *fixture {
	t.Helper()
	oci := registrytest.New(t)
	host := oci.Host()
	for _, ref := range []string{"acme/web:1.0.0", "acme/web:1.1.0", "acme/api:2.0.0"} {
		oci.Push(t, ref)
	}
	res, err := resolve.New(resolve.WithMetrics(reg))
	if err != nil {
		t.Fatal(err)
	}
	specs, err := resolve.ParseSpecs([]string{"web=" + host + "/acme/web", "api=" + host + "/acme/api"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := res.Resolve(context.Background(), specs); err != nil {
		t.Fatal(err)
	}
	return &fixture{host: host, resolver: res, wakes: &wakeRecorder{}}
}

// entries counts the fresh entries of repo; invalidation leaves expired
// ones behind as stale copies.
func (f *fixture) entries(repo string) int {
	n := 0
	for _, e := range f.resolver.Snapshot() {
		if e.Repository == repo && !e.Stale {
			n++
		}
	}
	return n
}

// fresh counts every fresh entry.
func (f *fixture) fresh() int {
	n := 0
	for _, e := range f.resolver.Snapshot() {
		if !e.Stale {
			n++
		}
	}
	return n
}

// webhookCase bodies name the registry as REGISTRY; each case runs against
// its own fixture. sign names the header that gets the body's HMAC under
// signKey.
type webhookCase struct {
	name    string
	typ     string
	body    string
	sign    string
	signKey string
	header  map[string]string
	query   string
	status  int
	invalid bool // expect the cache of REGISTRY/acme/web to be invalidated
}

func TestWebhookReceiver(t *testing.T) {
	const web = "REGISTRY/acme/web"
	generic := `{"repository":"` + web + `","tag":"1.1.0"}`
	ghcrBody := `{"action":"published","package":{"name":"web","namespace":"acme","package_type":"CONTAINER",
		"owner":{"login":"acme"},"package_version":{"version":"sha256:aa","container_metadata":{"tag":{"name":"1.1.0","digest":"sha256:aa"}},
		"package_url":"` + web + `:1.1.0"}}}`
	harborBody := `{"type":"PUSH_ARTIFACT","event_data":{"resources":[{"tag":"1.1.0","resource_url":"` + web + `:1.1.0"}],"repository":{"repo_full_name":"acme/web"}}}`
	distBody := `{"events":[{"action":"push","target":{"mediaType":"application/vnd.oci.image.manifest.v1+json","repository":"acme/web","tag":"1.1.0","url":"http://REGISTRY/v2/acme/web/manifests/1.1.0"},"request":{"host":"REGISTRY"}}]}`
	quayBody := `{"repository":"acme/web","docker_url":"` + web + `","updated_tags":["1.1.0"]}`
	hubBody := `{"push_data":{"tag":"1.1.0"},"repository":{"repo_name":"acme/web","namespace":"acme","name":"web"}}`
	oversize := `{"repository":"` + web + `","pad":"` + strings.Repeat("x", 2048) + `"}`

	cases := []webhookCase{
		{name: "generic signed", typ: "generic", body: generic, sign: "X-Signature-256", status: 200, invalid: true},
		{name: "generic bad signature", typ: "generic", body: generic, sign: "X-Signature-256", signKey: "nope", status: 401},
		{name: "generic unsigned", typ: "generic", body: generic, status: 401},
		{name: "generic secret in query is not enough", typ: "generic", body: generic, query: "&secret=" + secret, status: 401},
		{name: "generic signature in GitHub header", typ: "generic", body: generic, sign: "X-Hub-Signature-256", status: 401},
		{name: "ghcr signed", typ: "ghcr", body: ghcrBody, sign: "X-Hub-Signature-256", header: map[string]string{"X-GitHub-Event": "package"}, status: 200, invalid: true},
		{name: "ghcr ping", typ: "ghcr", body: `{"zen":"x","hook_id":1}`, sign: "X-Hub-Signature-256", header: map[string]string{"X-GitHub-Event": "ping"}, status: 200},
		{name: "ghcr bad signature", typ: "ghcr", body: ghcrBody, sign: "X-Hub-Signature-256", signKey: "nope", status: 401},
		{name: "harbor auth header", typ: "harbor", body: harborBody, header: map[string]string{"Authorization": "Bearer " + secret}, status: 200, invalid: true},
		{name: "harbor bare auth header", typ: "harbor", body: harborBody, header: map[string]string{"Authorization": secret}, status: 200, invalid: true},
		{name: "harbor wrong auth", typ: "harbor", body: harborBody, header: map[string]string{"Authorization": "Bearer x"}, status: 401},
		{name: "distribution auth header", typ: "distribution", body: distBody, header: map[string]string{"Authorization": "Bearer " + secret}, status: 200, invalid: true},
		{name: "quay query secret", typ: "quay", body: quayBody, query: "&secret=" + secret, status: 200, invalid: true},
		{name: "quay wrong secret", typ: "quay", body: quayBody, query: "&secret=x", status: 401},
		{name: "dockerhub query secret", typ: "dockerhub", body: hubBody, query: "&secret=" + secret, status: 200},
		{name: "dockerhub no secret", typ: "dockerhub", body: hubBody, status: 401},
		{name: "malformed", typ: "generic", body: `{"repository":`, sign: "X-Signature-256", status: 400},
		{name: "ignored event", typ: "harbor", body: `{"type":"DELETE_ARTIFACT","event_data":{}}`, header: map[string]string{"Authorization": secret}, status: 202},
		{name: "unknown type", typ: "gitlab", body: generic, sign: "X-Signature-256", status: 400},
		{name: "oversize", typ: "generic", body: oversize, sign: "X-Signature-256", status: 413},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, nil)
			repo := f.host + "/acme/web"
			body := strings.ReplaceAll(tc.body, "REGISTRY", f.host)
			h, err := ops.NewWebhookHandler(f.resolver, f.wakes, ops.WithWebhookSecret([]byte(secret)),
				ops.WithMaxBody(1024), ops.WithWebhookLogger(quiet()))
			if err != nil {
				t.Fatal(err)
			}
			before, other := f.entries(repo), f.entries(f.host+"/acme/api")
			if before == 0 {
				t.Fatal("fixture cache is empty")
			}
			req := httptest.NewRequest(http.MethodPost, "/webhook?type="+tc.typ+tc.query, strings.NewReader(body))
			for k, v := range tc.header {
				req.Header.Set(k, v)
			}
			if tc.sign != "" {
				key := secret
				if tc.signKey != "" {
					key = tc.signKey
				}
				req.Header.Set(tc.sign, resolve.SignWebhook([]byte(key), []byte(body)))
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != tc.status {
				t.Fatalf("status = %d, want %d; body %s", rec.Code, tc.status, rec.Body)
			}
			if rec.Code >= 400 && !strings.Contains(rec.Body.String(), `"error"`) {
				t.Fatalf("rejection without a reason: %s", rec.Body)
			}
			if strings.Contains(rec.Body.String(), secret) {
				t.Fatalf("response leaks the secret: %s", rec.Body)
			}
			after := f.entries(repo)
			switch {
			case tc.invalid:
				if after != 0 {
					t.Fatalf("cache for %s not invalidated: %d entries left", repo, after)
				}
				if w := f.wakes.list(); len(w) != 1 || w[0] != repo {
					t.Fatalf("wakes = %v, want [%s]", w, repo)
				}
				var resp ops.WebhookResponse
				if err := json.Unmarshal(rec.Body.Bytes(), &resp); err != nil || len(resp.Repositories) != 1 || resp.Repositories[0].Invalidated != before {
					t.Fatalf("response %s (err %v), want %d invalidated", rec.Body, err, before)
				}
			case tc.status != 200:
				if after != before || len(f.wakes.list()) != 0 {
					t.Fatalf("event not acted on changed state: entries %d -> %d, wakes %v", before, after, f.wakes.list())
				}
			}
			if f.entries(f.host+"/acme/api") != other {
				t.Fatal("another repository's cache was touched")
			}
		})
	}
}

func TestWebhookNeedsSecretUnlessDisabled(t *testing.T) {
	f := newFixture(t, nil)
	if _, err := ops.NewWebhookHandler(f.resolver, f.wakes); err == nil || !strings.Contains(err.Error(), "--webhook-insecure-no-auth") {
		t.Fatalf("err = %v, want a refusal naming the opt-out flag", err)
	}
	h, err := ops.NewWebhookHandler(f.resolver, f.wakes, ops.WithInsecureNoAuth(), ops.WithWebhookLogger(quiet()))
	if err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/webhook?type=generic", strings.NewReader(`{"repository":"`+f.host+`/acme/web"}`)))
	if rec.Code != 200 {
		t.Fatalf("insecure mode: %d %s", rec.Code, rec.Body)
	}
}

func TestWebhookRateLimit(t *testing.T) {
	f := newFixture(t, nil)
	h, err := ops.NewWebhookHandler(f.resolver, f.wakes, ops.WithInsecureNoAuth(), ops.WithRateLimit(0.001, 2), ops.WithWebhookLogger(quiet()))
	if err != nil {
		t.Fatal(err)
	}
	var codes []int
	for range 3 {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/webhook?type=generic", strings.NewReader(`{"repository":"`+f.host+`/acme/web"}`)))
		codes = append(codes, rec.Code)
	}
	if codes[0] != 200 || codes[1] != 200 || codes[2] != http.StatusTooManyRequests {
		t.Fatalf("codes = %v, want [200 200 429]", codes)
	}
}

func TestDebugEndpoint(t *testing.T) {
	f := newFixture(t, nil)
	tracker := refresh.NewTracker()
	tracker.Record(refresh.App{Name: "web", Namespace: "team-a", RepoURL: "https://bot:" + secret + "@git.example.com/deploy.git"},
		[]resolve.Spec{{Alias: "web", Image: f.host + "/acme/web"}},
		[]resolve.Result{{Alias: "web", Image: f.host + "/acme/web", Tag: "1.1.0", Digest: "sha256:0123456789abcdef0123"}})
	srv := httptest.NewServer(ops.NewDebugHandler(f.resolver, tracker, nil))
	t.Cleanup(srv.Close)

	get := func(method, path string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(method, srv.URL+path, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if strings.Contains(string(b), secret) {
			t.Fatalf("%s %s leaks a secret: %s", method, path, b)
		}
		return resp.StatusCode, string(b)
	}

	_, body := get("GET", "/debug/cache")
	var all ops.CacheListing
	if err := json.Unmarshal([]byte(body), &all); err != nil || len(all.Entries) == 0 {
		t.Fatalf("listing %s (err %v)", body, err)
	}
	_, body = get("GET", "/debug/cache?repository="+f.host+"/acme/api")
	var api ops.CacheListing
	if err := json.Unmarshal([]byte(body), &api); err != nil || len(api.Entries) == 0 || len(api.Entries) >= len(all.Entries) {
		t.Fatalf("filtered listing %s (err %v)", body, err)
	}
	for _, e := range api.Entries {
		if e.Repository != f.host+"/acme/api" {
			t.Fatalf("filter let %+v through", e)
		}
	}
	_, table := get("GET", "/debug/cache?format=table")
	if !strings.HasPrefix(table, "LAYER") || !strings.Contains(table, f.host+"/acme/web") {
		t.Fatalf("table:\n%s", table)
	}

	_, body = get("DELETE", "/debug/cache?repository="+f.host+"/acme/api")
	var purged ops.PurgeResult
	if err := json.Unmarshal([]byte(body), &purged); err != nil || purged.Removed == 0 {
		t.Fatalf("purge %s (err %v)", body, err)
	}
	if f.entries(f.host+"/acme/api") != 0 || f.entries(f.host+"/acme/web") == 0 {
		t.Fatal("purge of acme/api removed the wrong entries")
	}
	_, body = get("DELETE", "/debug/cache")
	if err := json.Unmarshal([]byte(body), &purged); err != nil || purged.Removed == 0 || f.fresh() != 0 {
		t.Fatalf("purge all %s (err %v), left %d fresh", body, err, f.fresh())
	}

	_, body = get("GET", "/debug/apps")
	var apps ops.AppsListing
	if err := json.Unmarshal([]byte(body), &apps); err != nil || len(apps.Apps) != 1 || apps.Apps[0].Images[0].Tag != "1.1.0" {
		t.Fatalf("apps %s (err %v)", body, err)
	}
	_, table = get("GET", "/debug/apps?format=table")
	if !strings.Contains(table, "team-a/web") || !strings.Contains(table, "1.1.0@sha256:0123456789ab") {
		t.Fatalf("apps table:\n%s", table)
	}
	if code, _ := get("POST", "/debug/cache"); code != http.StatusMethodNotAllowed {
		t.Fatalf("POST /debug/cache = %d", code)
	}
}

func TestListenDebug(t *testing.T) {
	for _, tc := range []struct {
		addr string
		want bool
	}{
		{"127.0.0.1:8081", true}, {"[::1]:8081", true}, {"localhost:8081", true},
		{":8081", false}, {"0.0.0.0:8081", false}, {"10.0.0.5:8081", false}, {"debug.example.com:8081", false}, {"nonsense", false},
	} {
		if got := ops.IsLoopback(tc.addr); got != tc.want {
			t.Errorf("IsLoopback(%q) = %v", tc.addr, got)
		}
	}
	ln, err := ops.ListenDebug("127.0.0.1:0", false, quiet())
	if err != nil {
		t.Fatal(err)
	}
	ln.Close()
	if _, err := ops.ListenDebug("0.0.0.0:0", false, quiet()); err == nil || !strings.Contains(err.Error(), "--debug-addr") {
		t.Fatalf("non-loopback without explicit flag: err = %v", err)
	}
	ln, err = ops.ListenDebug("0.0.0.0:0", true, quiet())
	if err != nil {
		t.Fatalf("explicit non-loopback refused: %v", err)
	}
	ln.Close()
}

func TestServiceEndpointsAndMetrics(t *testing.T) {
	reg := ops.NewRegistry()
	f := newFixture(t, reg)
	m := ops.NewMetrics(reg)
	rm := refresh.NewMetrics(reg)
	rm.Triggers.WithLabelValues("kubernetes", refresh.ResultTriggered).Inc()
	m.ObserveRender(120*time.Millisecond, nil)
	wh, err := ops.NewWebhookHandler(f.resolver, f.wakes, ops.WithWebhookSecret([]byte(secret)), ops.WithWebhookMetrics(m), ops.WithWebhookLogger(quiet()))
	if err != nil {
		t.Fatal(err)
	}
	var readyErr error
	var mu sync.Mutex
	ready := func() error { mu.Lock(); defer mu.Unlock(); return readyErr }
	srv := httptest.NewServer(ops.NewServiceHandler(reg, ready, wh))
	t.Cleanup(srv.Close)

	body := []byte(`{"repository":"` + f.host + `/acme/web"}`)
	req, _ := http.NewRequest(http.MethodPost, srv.URL+"/webhook?type=generic", bytes.NewReader(body))
	req.Header.Set("X-Signature-256", resolve.SignWebhook([]byte(secret), body))
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != 200 {
		t.Fatalf("webhook through the service port: %v %v", resp, err)
	}
	req, _ = http.NewRequest(http.MethodPost, srv.URL+"/webhook?type=generic", bytes.NewReader(body))
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != 401 {
		t.Fatalf("unsigned webhook: %v %v", resp, err)
	}

	scrape := func(path string) (int, string) {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	_, metrics := scrape("/metrics")
	for _, want := range []string{
		`argocd_image_resolver_webhook_events_total{result="accepted",type="generic"} 1`,
		`argocd_image_resolver_webhook_events_total{result="unauthorized",type="generic"} 1`,
		`argocd_image_resolver_render_duration_seconds_bucket{result="success",le="0.25"} 1`,
		`argocd_image_resolver_refresh_triggers_total{backend="kubernetes",result="triggered"} 1`,
		`go_goroutines`,
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	if code, b := scrape("/healthz"); code != 200 || b != "ok\n" {
		t.Fatalf("/healthz = %d %q", code, b)
	}
	if code, _ := scrape("/readyz"); code != 200 {
		t.Fatalf("/readyz = %d", code)
	}
	mu.Lock()
	readyErr = io.ErrClosedPipe
	mu.Unlock()
	if code, b := scrape("/readyz"); code != http.StatusServiceUnavailable || !strings.Contains(b, "not ready") {
		t.Fatalf("/readyz not ready = %d %q", code, b)
	}
}

func TestServeStopsWithContext(t *testing.T) {
	ln, err := ops.ListenDebug("127.0.0.1:0", false, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- ops.Serve(ctx, ln, ops.NewServiceHandler(prometheus.NewRegistry(), nil, nil)) }()
	resp, err := http.Get("http://" + ln.Addr().String() + "/healthz")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("healthz: %v %v", resp, err)
	}
	resp.Body.Close()
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Serve: %v", err)
	}
}

// TestWebhookAnswersOnlyPOST: anything but POST is 405 with Allow: POST,
// whether or not ?type= is given (a browser or a probe sends a bare GET).
func TestWebhookAnswersOnlyPOST(t *testing.T) {
	f := newFixture(t, nil)
	wh, err := ops.NewWebhookHandler(f.resolver, f.wakes, ops.WithWebhookSecret([]byte(secret)), ops.WithWebhookLogger(quiet()))
	if err != nil {
		t.Fatal(err)
	}
	h := ops.NewServiceHandler(nil, nil, wh)
	for _, target := range []string{"/webhook", "/webhook?type=generic", "/webhook?type=nonsense"} {
		for _, method := range []string{http.MethodGet, http.MethodPut, http.MethodDelete} {
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest(method, target, nil))
			if rec.Code != http.StatusMethodNotAllowed || rec.Header().Get("Allow") != http.MethodPost {
				t.Errorf("%s %s: %d (Allow %q), want 405 with Allow: POST; body %s", method, target, rec.Code, rec.Header().Get("Allow"), rec.Body)
			}
		}
	}
}

// countingHandler is a slog handler that counts records by message.
type countingHandler struct {
	mu     sync.Mutex
	counts map[string]int
}

func (h *countingHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h *countingHandler) WithAttrs([]slog.Attr) slog.Handler       { return h }
func (h *countingHandler) WithGroup(string) slog.Handler            { return h }
func (h *countingHandler) Handle(_ context.Context, r slog.Record) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.counts == nil {
		h.counts = map[string]int{}
	}
	h.counts[r.Message]++
	return nil
}

func (h *countingHandler) count(msg string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.counts[msg]
}

// post sends a generic event through a real HTTP server, signed or not.
func post(t *testing.T, url, host string, signed bool) int {
	t.Helper()
	body := []byte(`{"repository":"` + host + `/acme/web"}`)
	req, _ := http.NewRequest(http.MethodPost, url+"/webhook?type=generic", bytes.NewReader(body))
	if signed {
		req.Header.Set("X-Signature-256", resolve.SignWebhook([]byte(secret), body))
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// TestUnsignedFloodLeavesSignedEventsAlone: with the default limits, 60
// unsigned POSTs (401, then 429 once their own budget is spent) do not
// make the next signed event wait, and the rejections are logged at most
// once per 10 s.
func TestUnsignedFloodLeavesSignedEventsAlone(t *testing.T) {
	f := newFixture(t, nil)
	logs := &countingHandler{}
	wh, err := ops.NewWebhookHandler(f.resolver, f.wakes, ops.WithWebhookSecret([]byte(secret)), ops.WithWebhookLogger(slog.New(logs)))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(ops.NewServiceHandler(nil, nil, wh))
	t.Cleanup(srv.Close)

	start := time.Now()
	seen := map[int]int{}
	for i := range 60 {
		code := post(t, srv.URL, f.host, false)
		seen[code]++
		if i == 0 && code != http.StatusUnauthorized {
			t.Fatalf("first unsigned POST: %d, want 401", code)
		}
		if code != http.StatusUnauthorized && code != http.StatusTooManyRequests {
			t.Fatalf("unsigned POST %d: %d, want 401 or 429", i, code)
		}
	}
	elapsed := time.Since(start)
	if code := post(t, srv.URL, f.host, true); code != http.StatusOK {
		t.Fatalf("signed notify after 60 unsigned POSTs (%v): %d, want 200", seen, code)
	}
	if f.entries(f.host+"/acme/web") != 0 {
		t.Fatal("the signed event did not invalidate")
	}
	// One line per started 10 s: however slow the machine, never one per
	// request.
	most := 1 + int(elapsed/(10*time.Second))
	if n := logs.count("webhook rejected"); n < 1 || n > most {
		t.Fatalf("%d log lines for 60 rejected requests in %s, want 1..%d", n, elapsed, most)
	}
}

// TestWebhookLimitsAreSeparate: the budget of rejected requests and the
// budget of authenticated ones never touch each other.
func TestWebhookLimitsAreSeparate(t *testing.T) {
	type step struct {
		signed bool
		want   int
	}
	cases := []struct {
		name  string
		steps []step
	}{
		{"rejected budget spent, signed still accepted", []step{
			{false, 401}, {false, 401}, {false, 429}, {false, 429}, {true, 200}, {false, 429},
		}},
		{"accepted budget spent, unsigned still 401", []step{
			{true, 200}, {true, 429}, {false, 401}, {true, 429}, {false, 401}, {false, 429},
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, nil)
			wh, err := ops.NewWebhookHandler(f.resolver, f.wakes, ops.WithWebhookSecret([]byte(secret)), ops.WithWebhookLogger(quiet()),
				ops.WithRateLimit(0.0001, 1), ops.WithRejectedRateLimit(0.0001, 2))
			if err != nil {
				t.Fatal(err)
			}
			srv := httptest.NewServer(ops.NewServiceHandler(nil, nil, wh))
			t.Cleanup(srv.Close)
			for i, s := range tc.steps {
				if got := post(t, srv.URL, f.host, s.signed); got != s.want {
					t.Fatalf("step %d (signed %v): %d, want %d", i, s.signed, got, s.want)
				}
			}
		})
	}
}
