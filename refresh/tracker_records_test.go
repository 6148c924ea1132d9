package refresh_test

import (
	"context"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/argocd-image-resolver/argocd-image-resolver/refresh"
	"github.com/argocd-image-resolver/argocd-image-resolver/resolve"
	"github.com/argocd-image-resolver/argocd-image-resolver/store"
)

// countKeys counts the store keys under prefix.
func countKeys(t *testing.T, s store.Store, prefix string) int {
	t.Helper()
	keys, err := s.Keys(context.Background(), prefix)
	if err != nil {
		t.Fatal(err)
	}
	return len(keys)
}

// TestTrackedAppsShareSpecsAndResults: Applications that render the same
// specs to the same versions keep them once; what each one shows and what
// the refresher compares is unchanged.
func TestTrackedAppsShareSpecsAndResults(t *testing.T) {
	proxy := resolve.Spec{Alias: "proxy", Image: "ghcr.io/acme/proxy", Constraint: "^2"}
	proxyAt := func(tag string) resolve.Result {
		return resolve.Result{Alias: "proxy", Image: "ghcr.io/acme/proxy", Strategy: resolve.StrategySemver, Tag: tag,
			Digest: "sha256:" + strings.Repeat(tag[:1], 64), Source: resolve.SourceCache, ResolvedAt: time.Now()}
	}
	for _, tc := range []struct {
		name string
		apps int
		// own gives every Application an image of its own beside the
		// shared proxy.
		own            bool
		tags           []string // the proxy's tag per Application, cycled
		specs, results int      // shared values kept
	}{
		{name: "one spec, one version", apps: 50, tags: []string{"2.0.0"}, specs: 1, results: 1},
		{name: "one spec, two versions", apps: 50, tags: []string{"2.0.0", "2.1.0"}, specs: 1, results: 2},
		{name: "an image of their own each", apps: 20, own: true, tags: []string{"2.0.0"}, specs: 21, results: 21},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := store.NewMemory()
			tr := refresh.NewTracker(refresh.WithTrackerStore(s))
			for i := range tc.apps {
				specs := []resolve.Spec{proxy}
				results := []resolve.Result{proxyAt(tc.tags[i%len(tc.tags)])}
				if tc.own {
					image := fmt.Sprintf("ghcr.io/acme/svc%d", i)
					specs = append(specs, resolve.Spec{Alias: "web", Image: image})
					results = append(results, resolve.Result{Alias: "web", Image: image, Tag: "1.0.0", Source: resolve.SourceRegistry})
				}
				tr.Record(refresh.App{Name: fmt.Sprintf("app-%02d", i), Namespace: "argocd"}, specs, results)
			}
			if got := countKeys(t, s, "spec|"); got != tc.specs {
				t.Errorf("%d specs kept, want %d", got, tc.specs)
			}
			if got := countKeys(t, s, "rend|"); got != tc.results {
				t.Errorf("%d rendered versions kept, want %d", got, tc.results)
			}
			apps := tr.Apps()
			if len(apps) != tc.apps {
				t.Fatalf("%d apps, want %d", len(apps), tc.apps)
			}
			for i, a := range apps {
				want := tc.tags[i%len(tc.tags)]
				if a.Images[0].Alias != "proxy" || a.Images[0].Tag != want || a.Images[0].Strategy != resolve.StrategySemver {
					t.Fatalf("app %s shows %+v, want proxy at %s", a.App.Key(), a.Images, want)
				}
			}
		})
	}
}

// TestTrackerReadsRecordsOfTheFormerFormat: records written by an older
// sidecar (specs and results inline) stay tracked until the Application
// renders again; a record whose shared values are gone reads as absent.
func TestTrackerReadsRecordsOfTheFormerFormat(t *testing.T) {
	ctx := context.Background()
	s := store.NewMemory()
	tr := refresh.NewTracker(refresh.WithTrackerStore(s))
	v1 := `{"v":1,"d":{"app":{"name":"old","namespace":"argocd"},` +
		`"specs":[{"alias":"web","image":"ghcr.io/acme/web","options":{"strategy":"semver","pin":"tag"}}],` +
		`"rendered":[{"alias":"web","image":"ghcr.io/acme/web","strategy":"semver","tag":"1.0.0","candidates":null}],` +
		`"renderedAt":"2025-01-01T00:00:00Z"}}`
	for key, value := range map[string]string{"app|argocd/old": v1, "uses|ghcr.io/acme/web|argocd/old": "1"} {
		if err := s.Set(ctx, key, []byte(value), time.Hour); err != nil {
			t.Fatal(err)
		}
	}
	tr.Record(refresh.App{Name: "new", Namespace: "argocd"},
		[]resolve.Spec{{Alias: "api", Image: "ghcr.io/acme/api"}},
		[]resolve.Result{{Alias: "api", Image: "ghcr.io/acme/api", Tag: "2.0.0"}})

	if !tr.Tracked("argocd/old") || !tr.Tracked("argocd/new") {
		t.Fatalf("tracked: old %v, new %v", tr.Tracked("argocd/old"), tr.Tracked("argocd/new"))
	}
	specs, ok := tr.Specs("argocd/old")
	if !ok || len(specs) != 1 || specs[0].Image != "ghcr.io/acme/web" {
		t.Fatalf("specs of the old record: %+v %v", specs, ok)
	}
	var tags []string
	for _, a := range tr.Apps() {
		tags = append(tags, a.App.Key()+"="+a.Images[0].Tag)
	}
	if want := []string{"argocd/new=2.0.0", "argocd/old=1.0.0"}; !reflect.DeepEqual(tags, want) {
		t.Fatalf("apps %v, want %v", tags, want)
	}
	if got := tr.KeysUsing(map[string]bool{"ghcr.io/acme/web": true}); !reflect.DeepEqual(got, []string{"argocd/old"}) {
		t.Fatalf("KeysUsing = %v", got)
	}

	// A store that evicts may drop a shared value before the record.
	keys, _ := s.Keys(ctx, "rend|")
	if err := s.Delete(ctx, keys...); err != nil {
		t.Fatal(err)
	}
	if _, ok := tr.Specs("argocd/new"); ok {
		t.Fatal("a record whose rendered versions are gone reads as present")
	}
	if apps := tr.Apps(); len(apps) != 1 || apps[0].App.Name != "old" {
		t.Fatalf("apps %+v", apps)
	}
}

func TestEachAppSelectsAndStops(t *testing.T) {
	tr := refresh.NewTracker()
	for _, key := range []string{"team-a/web", "team-b/web", "team-a/api", "team-c/db"} {
		ns, name, _ := strings.Cut(key, "/")
		tr.Record(refresh.App{Name: name, Namespace: ns},
			[]resolve.Spec{{Alias: name, Image: "ghcr.io/acme/" + name}},
			[]resolve.Result{{Alias: name, Image: "ghcr.io/acme/" + name, Tag: "1.0.0"}})
	}
	for _, tc := range []struct {
		app  string
		stop int // 0: never
		want []string
	}{
		{app: "", want: []string{"team-a/api", "team-a/web", "team-b/web", "team-c/db"}},
		{app: "web", want: []string{"team-a/web", "team-b/web"}},
		{app: "team-b/web", want: []string{"team-b/web"}},
		{app: "team-z/web"},
		{app: "eb"},
		{app: "", stop: 2, want: []string{"team-a/api", "team-a/web"}},
	} {
		t.Run(fmt.Sprintf("%q stop %d", tc.app, tc.stop), func(t *testing.T) {
			var got []string
			err := tr.EachApp(context.Background(), tc.app, func(st refresh.AppStatus) bool {
				got = append(got, st.App.Key())
				return tc.stop == 0 || len(got) < tc.stop
			})
			if err != nil || !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("EachApp(%q) = %v, %v; want %v", tc.app, got, err, tc.want)
			}
		})
	}
}
