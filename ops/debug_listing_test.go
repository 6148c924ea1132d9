package ops_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/argocd-image-resolver/argocd-image-resolver/ops"
	"github.com/argocd-image-resolver/argocd-image-resolver/refresh"
	"github.com/argocd-image-resolver/argocd-image-resolver/resolve"
)

// TestDebugListingsStreamWithFiltersAndLimits: both listings are JSON of
// the documented shape whatever their length, honour ?repository=, ?app=
// and ?limit=, and explain an Application's images on request.
func TestDebugListingsStreamWithFiltersAndLimits(t *testing.T) {
	f := newFixture(t, nil)
	tracker := refresh.NewTracker()
	specs, err := resolve.ParseSpecs([]string{"web=" + f.host + "/acme/web", "api=" + f.host + "/acme/api"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		results, err := f.resolver.Resolve(t.Context(), specs)
		if err != nil {
			t.Fatal(err)
		}
		tracker.Record(refresh.App{Name: fmt.Sprintf("shop-%d", i), Namespace: "team-a"}, specs, results)
	}
	srv := httptest.NewServer(ops.NewDebugHandler(f.resolver, tracker, nil))
	t.Cleanup(srv.Close)
	all := len(f.resolver.Snapshot())

	get := func(t *testing.T, path string) (int, string) {
		t.Helper()
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}

	for _, tc := range []struct {
		path      string
		entries   int
		truncated bool
	}{
		{path: "/debug/cache", entries: all},
		{path: "/debug/cache?limit=0", entries: all},
		{path: "/debug/cache?limit=2", entries: 2, truncated: true},
		{path: fmt.Sprintf("/debug/cache?limit=%d", all), entries: all},
		{path: "/debug/cache?repository=" + f.host + "/acme/api&limit=1", entries: 1, truncated: true},
		{path: "/debug/cache?repository=" + f.host + "/acme/none"},
	} {
		t.Run(tc.path, func(t *testing.T) {
			code, body := get(t, tc.path)
			var l ops.CacheListing
			if err := json.Unmarshal([]byte(body), &l); err != nil || code != http.StatusOK {
				t.Fatalf("%d %v:\n%s", code, err, body)
			}
			if len(l.Entries) != tc.entries || l.Truncated != tc.truncated || l.Error != "" {
				t.Fatalf("%d entries, truncated %v, error %q; want %d, %v:\n%s", len(l.Entries), l.Truncated, l.Error, tc.entries, tc.truncated, body)
			}
		})
	}

	for _, tc := range []struct {
		path      string
		apps      []string
		truncated bool
		explained bool
	}{
		{path: "/debug/apps", apps: []string{"team-a/shop-0", "team-a/shop-1", "team-a/shop-2", "team-a/shop-3", "team-a/shop-4"}},
		{path: "/debug/apps?limit=2", apps: []string{"team-a/shop-0", "team-a/shop-1"}, truncated: true},
		{path: "/debug/apps?app=shop-3", apps: []string{"team-a/shop-3"}},
		{path: "/debug/apps?app=team-a/shop-4&explain=true", apps: []string{"team-a/shop-4"}, explained: true},
		{path: "/debug/apps?app=team-b/shop-4"},
	} {
		t.Run(tc.path, func(t *testing.T) {
			code, body := get(t, tc.path)
			var l ops.AppsListing
			if err := json.Unmarshal([]byte(body), &l); err != nil || code != http.StatusOK {
				t.Fatalf("%d %v:\n%s", code, err, body)
			}
			var keys []string
			for _, a := range l.Apps {
				keys = append(keys, a.App.Key())
				if got := len(a.Explanations) > 0; got != tc.explained {
					t.Fatalf("explained %v, want %v:\n%s", got, tc.explained, body)
				}
				for _, ex := range a.Explanations {
					if ex.Error != "" || ex.Tag == "" || len(ex.Candidates) == 0 || !ex.Candidates[0].Accepted {
						t.Fatalf("explanation %+v", ex)
					}
				}
			}
			if strings.Join(keys, " ") != strings.Join(tc.apps, " ") || l.Truncated != tc.truncated || l.History == nil {
				t.Fatalf("apps %v truncated %v; want %v %v:\n%s", keys, l.Truncated, tc.apps, tc.truncated, body)
			}
		})
	}

	for _, tc := range []struct{ path, want string }{
		{"/debug/cache?limit=-1", "limit"},
		{"/debug/cache?limit=many", "limit"},
		{"/debug/apps?explain=true", "app="},
		{"/debug/apps?app=team-a/shop-1&explain=maybe", "explain"},
	} {
		t.Run(tc.path, func(t *testing.T) {
			if code, body := get(t, tc.path); code != http.StatusBadRequest || !strings.Contains(body, tc.want) {
				t.Fatalf("%d %s; want 400 naming %s", code, body, tc.want)
			}
		})
	}

	t.Run("tables", func(t *testing.T) {
		_, table := get(t, "/debug/cache?format=table&limit=1")
		if lines := strings.Split(strings.TrimSpace(table), "\n"); len(lines) != 3 || !strings.HasPrefix(lines[0], "LAYER") || !strings.Contains(lines[2], "?limit=") {
			t.Fatalf("cache table:\n%s", table)
		}
		_, table = get(t, "/debug/apps?format=table&app=team-a/shop-2&explain=true")
		for _, want := range []string{"team-a/shop-2", "web (" + f.host + "/acme/web) now: 1.1.0", "+ 1.1.0", "- 1.0.0"} {
			if !strings.Contains(table, want) {
				t.Fatalf("apps table lacks %q:\n%s", want, table)
			}
		}
	})
}
