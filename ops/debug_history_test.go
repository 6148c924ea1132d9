package ops_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/argocd-image-resolver/argocd-image-resolver/ops"
	"github.com/argocd-image-resolver/argocd-image-resolver/refresh"
	"github.com/argocd-image-resolver/argocd-image-resolver/resolve"
	"github.com/argocd-image-resolver/argocd-image-resolver/test/clocktest"
)

// TestDebugAppsHistory: ?history= adds each Application's image history,
// newest first and bounded, to both formats; without it the listing is
// as before.
func TestDebugAppsHistory(t *testing.T) {
	f := newFixture(t, nil)
	clock := clocktest.New(time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC))
	tracker := refresh.NewTracker(refresh.WithTrackerClock(clock.Now))
	web := f.host + "/acme/web"
	result := func(tag string, held ...resolve.Held) resolve.Result {
		return resolve.Result{Alias: "web", Image: web, Tag: tag, Digest: "sha256:" + strings.Repeat(tag[2:3], 64),
			Rule: `semver "^1.0"`, Gates: []string{"min-age 24h"}, HeldBack: held}
	}
	app := refresh.App{Name: "shop", Namespace: "team-a", RepoURL: "https://bot:" + secret + "@git.example.com/deploy.git"}
	specs := []resolve.Spec{{Alias: "web", Image: web}}
	tracker.Record(app, specs, []resolve.Result{result("1.0.0")})
	clock.Advance(time.Hour)
	tracker.Record(app, specs, []resolve.Result{result("1.0.0", resolve.Held{Tag: "1.1.0", Gate: resolve.GateMinAge,
		Reason: "first seen 1h ago; min-age 24h", EligibleAt: clock.Now().Add(23 * time.Hour)})})
	clock.Advance(24 * time.Hour)
	tracker.Record(app, specs, []resolve.Result{result("1.1.0")})
	tracker.Record(refresh.App{Name: "quiet", Namespace: "team-a"}, nil, nil)
	srv := httptest.NewServer(ops.NewDebugHandler(f.resolver, tracker, clock.Now))
	t.Cleanup(srv.Close)

	get := func(t *testing.T, path string) (int, string) {
		t.Helper()
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if strings.Contains(string(b), secret) {
			t.Fatalf("GET %s leaks a secret:\n%s", path, b)
		}
		return resp.StatusCode, string(b)
	}
	list := func(t *testing.T, path string) map[string][]refresh.HistoryEntry {
		t.Helper()
		code, body := get(t, path)
		var l ops.AppsListing
		if err := json.Unmarshal([]byte(body), &l); err != nil || code != http.StatusOK {
			t.Fatalf("%d %v:\n%s", code, err, body)
		}
		out := map[string][]refresh.HistoryEntry{}
		for _, a := range l.Apps {
			out[a.App.Key()] = a.ImageHistory
		}
		return out
	}

	all := list(t, "/debug/apps?history=true")
	h := all["team-a/shop"]
	if len(h) != 3 || len(all["team-a/quiet"]) != 0 {
		t.Fatalf("history %+v", all)
	}
	if h[0].Kind != refresh.HistoryResolved || h[0].FromTag != "1.0.0" || h[0].Tag != "1.1.0" || h[0].Rule != `semver "^1.0"` ||
		h[1].Kind != refresh.HistoryHeldBack || h[1].Tag != "1.1.0" || h[1].Reason != "first seen 1h ago; min-age 24h" ||
		!h[2].First() {
		t.Fatalf("history of team-a/shop, newest first: %+v", h)
	}
	if got := list(t, "/debug/apps?app=team-a/shop&history=1")["team-a/shop"]; len(got) != 1 || got[0].Tag != "1.1.0" {
		t.Fatalf("?history=1: %+v", got)
	}
	if got := list(t, "/debug/apps?app=team-a/shop")["team-a/shop"]; got != nil {
		t.Fatalf("history without ?history=: %+v", got)
	}

	_, table := get(t, "/debug/apps?format=table&history=true")
	for _, want := range []string{
		"team-a/shop history, newest first:",
		`2025-03-02T13:00:00Z 0s ago web 1.0.0 → 1.1.0 semver "^1.0"; min-age 24h`,
		"2025-03-01T13:00:00Z 24h0m0s ago web 1.1.0 held back first seen 1h ago; min-age 24h",
		`2025-03-01T12:00:00Z 25h0m0s ago web 1.0.0, first resolution semver "^1.0"; min-age 24h`,
		"team-a/quiet history: none recorded",
	} {
		if !containsFields(table, want) {
			t.Errorf("apps table lacks %q:\n%s", want, table)
		}
	}
	if lines := strings.Split(table, "\n"); !strings.HasPrefix(lines[0], "APP") {
		t.Fatalf("apps table header:\n%s", table)
	}

	for _, bad := range []string{"maybe", "-1"} {
		if code, body := get(t, "/debug/apps?history="+bad); code != http.StatusBadRequest || !strings.Contains(body, "history") {
			t.Fatalf("?history=%s: %d %s", bad, code, body)
		}
	}
}

// containsFields reports whether some line of s holds the words of want in
// order, however the table aligned them.
func containsFields(s, want string) bool {
	w := strings.Join(strings.Fields(want), " ")
	for _, line := range strings.Split(s, "\n") {
		if strings.Contains(strings.Join(strings.Fields(line), " "), w) {
			return true
		}
	}
	return false
}
