package plugin

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/argocd-image-resolver/argocd-image-resolver/ops"
	"github.com/argocd-image-resolver/argocd-image-resolver/refresh"
	"github.com/argocd-image-resolver/argocd-image-resolver/resolve"
	"github.com/argocd-image-resolver/argocd-image-resolver/test/registrytest"
)

// opsFixture: a loopback registry with acme/web and acme/api, a resolver
// whose cache holds both, and a tracker with one app.
type opsFixture struct {
	host     string
	resolver *resolve.Resolver
	tracker  *refresh.Tracker
}

func newOpsFixture(t *testing.T) *opsFixture {
	t.Helper()
	oci := registrytest.New(t)
	host := oci.Host()
	for _, ref := range []string{"acme/web:1.0.0", "acme/api:2.0.0"} {
		oci.Push(t, ref)
	}
	res, err := resolve.New()
	if err != nil {
		t.Fatal(err)
	}
	specs, err := resolve.ParseSpecs([]string{"web=" + host + "/acme/web", "api=" + host + "/acme/api"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	results, err := res.Resolve(context.Background(), specs)
	if err != nil {
		t.Fatal(err)
	}
	tr := refresh.NewTracker()
	tr.Record(refresh.App{Name: "shop", Namespace: "team-a", RepoURL: "https://ci:hunter2@git.example.com/shop.git"}, specs, results)
	return &opsFixture{host: host, resolver: res, tracker: tr}
}

func runCLI(t *testing.T, args ...string) (string, error) {
	t.Helper()
	cmd := NewRootCommand()
	var out bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(io.Discard)
	cmd.SetArgs(args)
	err := cmd.ExecuteContext(context.Background())
	if strings.Contains(out.String(), "hunter2") {
		t.Fatalf("%v printed a credential:\n%s", args, out.String())
	}
	return out.String(), err
}

func TestCacheCommand(t *testing.T) {
	f := newOpsFixture(t)
	srv := httptest.NewServer(ops.NewDebugHandler(f.resolver, f.tracker, nil))
	t.Cleanup(srv.Close)
	web, api := f.host+"/acme/web", f.host+"/acme/api"

	out, err := runCLI(t, "cache", "list", "--addr", srv.URL, "-o", "json")
	if err != nil {
		t.Fatal(err)
	}
	var all ops.CacheListing
	if err := json.Unmarshal([]byte(out), &all); err != nil {
		t.Fatalf("list -o json is not JSON: %v\n%s", err, out)
	}
	repos := map[string]bool{}
	for _, e := range all.Entries {
		repos[e.Repository] = true
	}
	if !repos[web] || !repos[api] {
		t.Fatalf("list shows %v, want both repositories", repos)
	}

	out, err = runCLI(t, "cache", "list", "--addr", srv.URL, "--repository", api)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(out, "LAYER") || !strings.Contains(out, api) || strings.Contains(out, web) {
		t.Fatalf("filtered table:\n%s", out)
	}

	out, err = runCLI(t, "cache", "list", "--addr", srv.URL, "--limit", "1", "-o", "json")
	if err != nil {
		t.Fatal(err)
	}
	var one ops.CacheListing
	if err := json.Unmarshal([]byte(out), &one); err != nil || len(one.Entries) != 1 || !one.Truncated || one.Limit != 1 {
		t.Fatalf("list --limit 1: %v\n%s", err, out)
	}
	out, err = runCLI(t, "cache", "apps", "--addr", srv.URL, "--app", "team-a/shop", "--explain")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"web (" + web + ") now: 1.0.0", "+ 1.0.0", "api (" + api + ") now: 2.0.0"} {
		if !strings.Contains(out, want) {
			t.Fatalf("apps --explain lacks %q:\n%s", want, out)
		}
	}
	if _, err := runCLI(t, "cache", "apps", "--addr", srv.URL, "--explain"); err == nil || !strings.Contains(err.Error(), "--app") {
		t.Fatalf("--explain without --app: err = %v", err)
	}

	out, err = runCLI(t, "cache", "purge", "--addr", srv.URL, "--repository", api)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "purged") || !strings.Contains(out, api) {
		t.Fatalf("purge output: %q", out)
	}
	for _, e := range f.resolver.Snapshot() {
		if e.Repository == api && !e.Stale {
			t.Fatalf("fresh entry of %s left after purge: %+v", api, e)
		}
	}

	out, err = runCLI(t, "cache", "purge", "--addr", srv.URL, "-o", "json")
	if err != nil {
		t.Fatal(err)
	}
	var purged ops.PurgeResult
	if err := json.Unmarshal([]byte(out), &purged); err != nil || purged.Removed == 0 {
		t.Fatalf("purge all: %s (err %v)", out, err)
	}
	for _, e := range f.resolver.Snapshot() {
		if !e.Stale {
			t.Fatalf("fresh entry left after purging all: %+v", e)
		}
	}

	out, err = runCLI(t, "cache", "apps", "--addr", srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "team-a/shop") || !strings.Contains(out, "1.0.0") || !strings.Contains(out, "2.0.0") {
		t.Fatalf("apps table:\n%s", out)
	}
	out, err = runCLI(t, "cache", "apps", "--addr", srv.URL, "-o", "json")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, `"renderedAt"`) {
		t.Fatalf("apps json:\n%s", out)
	}

	if _, err := runCLI(t, "cache", "list", "--addr", srv.URL, "-o", "yaml"); err == nil {
		t.Fatal("-o yaml accepted")
	}
	srv.Close()
	if _, err := runCLI(t, "cache", "list", "--addr", srv.URL); err == nil || !strings.Contains(err.Error(), "port") {
		t.Fatalf("unreachable plugin: err = %v, want a port-forward hint", err)
	}
}

// TestCacheAppsHistory: --history shows each Application's image history,
// newest first, in the table and in JSON; --history-limit bounds it.
func TestCacheAppsHistory(t *testing.T) {
	f := newOpsFixture(t)
	app := refresh.App{Name: "shop", Namespace: "team-a", RepoURL: "https://ci:hunter2@git.example.com/shop.git"}
	specs, ok := f.tracker.Specs(app.Key())
	if !ok {
		t.Fatal("fixture app not tracked")
	}
	// The fixture rendered web 1.0.0 and api 2.0.0; web moves on, and a
	// gate holds a newer api back.
	results := []resolve.Result{
		{Alias: "web", Image: f.host + "/acme/web", Tag: "1.1.0", Digest: "sha256:" + strings.Repeat("1", 64), Rule: `semver ">=1"`, Gates: []string{"verify ci-key"}},
		{Alias: "api", Image: f.host + "/acme/api", Tag: "2.0.0", HeldBack: []resolve.Held{{Tag: "2.1.0", Gate: resolve.GateMinAge, Reason: "first seen 2h ago; min-age 24h"}}},
	}
	f.tracker.Record(app, specs, results)
	srv := httptest.NewServer(ops.NewDebugHandler(f.resolver, f.tracker, nil))
	t.Cleanup(srv.Close)

	out, err := runCLI(t, "cache", "apps", "--addr", srv.URL, "--app", "team-a/shop", "--history")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"team-a/shop history, newest first:", `1.0.0 → 1.1.0`, `semver ">=1"; verify ci-key`,
		"2.1.0 held back", "first seen 2h ago; min-age 24h", "2.0.0, first resolution"} {
		if !strings.Contains(out, want) {
			t.Fatalf("apps --history lacks %q:\n%s", want, out)
		}
	}
	if strings.Index(out, "1.0.0 → 1.1.0") > strings.Index(out, "1.0.0, first resolution") {
		t.Fatalf("apps --history is not newest first:\n%s", out)
	}

	out, err = runCLI(t, "cache", "apps", "--addr", srv.URL, "--history", "--history-limit", "1", "-o", "json")
	if err != nil {
		t.Fatal(err)
	}
	var l ops.AppsListing
	if err := json.Unmarshal([]byte(out), &l); err != nil || len(l.Apps) != 1 {
		t.Fatalf("apps --history -o json: %v\n%s", err, out)
	}
	if h := l.Apps[0].ImageHistory; len(h) != 1 || h[0].Time.IsZero() || h[0].Alias == "" {
		t.Fatalf("--history-limit 1: %+v", h)
	}

	out, err = runCLI(t, "cache", "apps", "--addr", srv.URL, "-o", "json")
	if err != nil || strings.Contains(out, "imageHistory") {
		t.Fatalf("apps without --history shows history (err %v):\n%s", err, out)
	}
	if _, err := runCLI(t, "cache", "apps", "--addr", srv.URL, "--history", "--history-limit", "0"); err == nil || !strings.Contains(err.Error(), "--history-limit") {
		t.Fatalf("--history-limit 0: err = %v", err)
	}
}

type wakes struct {
	mu    sync.Mutex
	repos []string
}

func (w *wakes) Wake(r string) { w.mu.Lock(); w.repos = append(w.repos, r); w.mu.Unlock() }

func TestNotifyCommand(t *testing.T) {
	f := newOpsFixture(t)
	w := &wakes{}
	h, err := ops.NewWebhookHandler(f.resolver, w, ops.WithWebhookSecret([]byte("ci-shared-secret")),
		ops.WithWebhookLogger(slog.New(slog.NewTextHandler(io.Discard, nil))))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(ops.NewServiceHandler(nil, nil, h))
	t.Cleanup(srv.Close)
	dir := t.TempDir()
	good := filepath.Join(dir, "secret")
	bad := filepath.Join(dir, "bad")
	if err := os.WriteFile(good, []byte("ci-shared-secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bad, []byte("guess"), 0o600); err != nil {
		t.Fatal(err)
	}
	web := f.host + "/acme/web"

	if _, err := runCLI(t, "notify", "--url", srv.URL, "--repository", web, "--secret-file", bad); err == nil || !strings.Contains(err.Error(), "401") {
		t.Fatalf("wrong secret: err = %v, want 401", err)
	}
	if len(w.repos) != 0 {
		t.Fatal("rejected notify woke the refresher")
	}

	out, err := runCLI(t, "notify", "--url", srv.URL, "--repository", web, "--tag", "1.0.1", "--secret-file", good)
	if err != nil {
		t.Fatal(err)
	}
	var resp ops.WebhookResponse
	if err := json.Unmarshal([]byte(out), &resp); err != nil || len(resp.Repositories) != 1 || resp.Repositories[0].Invalidated == 0 {
		t.Fatalf("notify answer %s (err %v)", out, err)
	}
	for _, e := range f.resolver.Snapshot() {
		if e.Repository == web && e.Layer != resolve.LayerConfig && !e.Stale {
			t.Fatalf("fresh entry of %s left after notify: %+v", web, e)
		}
	}
	if len(w.repos) != 1 || w.repos[0] != web {
		t.Fatalf("wakes = %v", w.repos)
	}

	for _, args := range [][]string{
		{"notify", "--url", "argocd-image-resolver:8080", "--repository", web, "--secret-file", good},
		{"notify", "--url", srv.URL + "/webhook?type=quay", "--repository", web, "--secret-file", good},
		{"notify", "--url", srv.URL, "--repository", web, "--secret-file", filepath.Join(dir, "missing")},
		{"notify", "--url", srv.URL, "--repository", web},
	} {
		if _, err := runCLI(t, args...); err == nil {
			t.Errorf("%v accepted", args)
		}
	}
}

func TestWebhookURL(t *testing.T) {
	for in, want := range map[string]string{
		"http://svc:8080":                          "http://svc:8080/webhook?type=generic",
		"http://svc:8080/":                         "http://svc:8080/webhook?type=generic",
		"https://hooks.example.com/plugin":         "https://hooks.example.com/plugin?type=generic",
		"http://svc:8080/webhook?type=generic&x=1": "http://svc:8080/webhook?type=generic&x=1",
	} {
		got, err := webhookURL(in)
		if err != nil || got != want {
			t.Errorf("webhookURL(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
}

// TestCacheCommandRefusesUnknownSubcommand: a typo such as `cache lsit`
// must fail, not print help and exit 0.
func TestCacheCommandRefusesUnknownSubcommand(t *testing.T) {
	_, err := runCLI(t, "cache", "lsit")
	if err == nil || !strings.Contains(err.Error(), `unknown command "lsit" for "argocd-image-resolver cache"`) {
		t.Fatalf("cache lsit: %v, want an unknown-command error", err)
	}
	if _, err := runCLI(t, "cache"); err != nil {
		t.Errorf("bare cache prints help: %v", err)
	}
}

// TestDebugPortDefault: serve and `cache --addr` agree on 127.0.0.1:8082,
// because 8081 is the repo-server's own gRPC port in the same pod.
func TestDebugPortDefault(t *testing.T) {
	root := NewRootCommand()
	serve, _, err := root.Find([]string{"serve"})
	if err != nil {
		t.Fatal(err)
	}
	if got := serve.Flags().Lookup("debug-addr").DefValue; got != "127.0.0.1:8082" {
		t.Errorf("serve --debug-addr defaults to %s, want 127.0.0.1:8082", got)
	}
	cache, _, err := root.Find([]string{"cache", "list"})
	if err != nil {
		t.Fatal(err)
	}
	if got := cache.InheritedFlags().Lookup("addr").DefValue; got != "http://127.0.0.1:8082" {
		t.Errorf("cache --addr defaults to %s, want http://127.0.0.1:8082", got)
	}
}
