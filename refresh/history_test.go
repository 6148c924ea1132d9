package refresh_test

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/argocd-image-resolver/argocd-image-resolver/refresh"
	"github.com/argocd-image-resolver/argocd-image-resolver/resolve"
	"github.com/argocd-image-resolver/argocd-image-resolver/store"
	"github.com/argocd-image-resolver/argocd-image-resolver/test/clocktest"
	"github.com/argocd-image-resolver/argocd-image-resolver/test/redistest"
	"github.com/argocd-image-resolver/argocd-image-resolver/test/storetest"
)

var t0 = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

func digestOf(tag string) string {
	return "sha256:" + strings.Repeat(fmt.Sprintf("%x", len(tag)+int(tag[len(tag)-1])), 64)[:64]
}

// at is a result of alias at tag, decided by a semver rule and accepted by
// a verify gate.
func at(alias, tag string, held ...resolve.Held) resolve.Result {
	return resolve.Result{Alias: alias, Image: "ghcr.io/acme/" + alias, Strategy: resolve.StrategySemver, Tag: tag,
		Digest: digestOf(tag), Rule: `semver "^1.2"`, Gates: []string{"verify ci-key"}, HeldBack: held}
}

func heldByAge(tag string) resolve.Held {
	return resolve.Held{Tag: tag, Digest: digestOf(tag), Gate: resolve.GateMinAge, Reason: "first seen 2h ago; min-age 24h",
		EligibleAt: t0.Add(22 * time.Hour)}
}

func specsOf(results []resolve.Result) []resolve.Spec {
	specs := make([]resolve.Spec, len(results))
	for i, r := range results {
		specs[i] = resolve.Spec{Alias: r.Alias, Image: r.Image, Constraint: "^1.2"}
	}
	return specs
}

// messages lists an Application's history, newest first.
func messages(t *testing.T, tr *refresh.Tracker, key string) []string {
	t.Helper()
	entries, err := tr.ImageHistory(context.Background(), key)
	if err != nil {
		t.Fatal(err)
	}
	out := make([]string, len(entries))
	for i, e := range entries {
		out[i] = e.Message()
	}
	return out
}

// TestImageHistoryRecordsChanges: each render is compared with the
// previous record of the Application; version changes, first resolutions
// and newly held-back candidates become entries, newest first, and a
// render that changes nothing adds none.
func TestImageHistoryRecordsChanges(t *testing.T) {
	web := "web: "
	for _, tc := range []struct {
		name    string
		renders [][]resolve.Result
		want    []string // newest first
	}{
		{
			name:    "first render",
			renders: [][]resolve.Result{{at("web", "1.2.3"), at("api", "2.0.0")}},
			want: []string{
				`api: 2.0.0, first resolution (semver "^1.2"; verify ci-key)`,
				`web: 1.2.3, first resolution (semver "^1.2"; verify ci-key)`,
			},
		},
		{
			name:    "nothing changed",
			renders: [][]resolve.Result{{at("web", "1.2.3")}, {at("web", "1.2.3")}, {at("web", "1.2.3")}},
			want:    []string{web + `1.2.3, first resolution (semver "^1.2"; verify ci-key)`},
		},
		{
			name:    "a new version",
			renders: [][]resolve.Result{{at("web", "1.2.3"), at("api", "2.0.0")}, {at("web", "1.3.0"), at("api", "2.0.0")}},
			want: []string{
				web + `1.2.3 → 1.3.0 (semver "^1.2"; verify ci-key)`,
				`api: 2.0.0, first resolution (semver "^1.2"; verify ci-key)`,
				web + `1.2.3, first resolution (semver "^1.2"; verify ci-key)`,
			},
		},
		{
			name: "held back once, then taken",
			renders: [][]resolve.Result{
				{at("web", "1.2.3")},
				{at("web", "1.2.3", heldByAge("1.4.0"))},
				{at("web", "1.2.3", heldByAge("1.4.0"))},
				{at("web", "1.4.0")},
			},
			want: []string{
				web + `1.2.3 → 1.4.0 (semver "^1.2"; verify ci-key)`,
				web + `1.4.0 held back: first seen 2h ago; min-age 24h`,
				web + `1.2.3, first resolution (semver "^1.2"; verify ci-key)`,
			},
		},
		{
			name: "held by another gate",
			renders: [][]resolve.Result{
				{at("web", "1.2.3", heldByAge("1.4.0"))},
				{at("web", "1.2.3", resolve.Held{Tag: "1.4.0", Digest: digestOf("1.4.0"), Gate: resolve.GateVerify, Reason: "no signature of ci-key"})},
			},
			want: []string{
				web + `1.4.0 held back: no signature of ci-key`,
				web + `1.2.3, first resolution (semver "^1.2"; verify ci-key)`,
				web + `1.4.0 held back: first seen 2h ago; min-age 24h`,
			},
		},
		{
			name: "a moved tag shows digests",
			renders: [][]resolve.Result{
				{{Alias: "web", Image: "ghcr.io/acme/web", Tag: "main", Digest: "sha256:" + strings.Repeat("a", 64), Rule: "digest main"}},
				{{Alias: "web", Image: "ghcr.io/acme/web", Tag: "main", Digest: "sha256:" + strings.Repeat("b", 64), Rule: "digest main"}},
			},
			want: []string{
				web + "main@sha256:aaaaaaaaaaaa → main@sha256:bbbbbbbbbbbb (digest main)",
				web + "main, first resolution (digest main)",
			},
		},
		{
			name: "a paused alias keeps its version",
			renders: [][]resolve.Result{
				{at("web", "1.2.3")},
				{{Alias: "web", Image: "ghcr.io/acme/web", Paused: true}},
				{at("web", "1.2.3")},
			},
			want: []string{web + `1.2.3, first resolution (semver "^1.2"; verify ci-key)`},
		},
		{
			name: "credentials never kept",
			renders: [][]resolve.Result{{at("web", "1.2.3", resolve.Held{Tag: "1.4.0", Gate: resolve.GateVerify,
				Reason: "signature at https://bot:hunter2@sig.example.com/web not readable"})}},
			want: []string{
				web + `1.2.3, first resolution (semver "^1.2"; verify ci-key)`,
				web + "1.4.0 held back: signature at https://sig.example.com/web not readable",
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clock := clocktest.New(t0)
			tr := refresh.NewTracker(refresh.WithTrackerClock(clock.Now))
			app := refresh.App{Name: "web", Namespace: "team-a"}
			for _, results := range tc.renders {
				tr.Record(app, specsOf(results), results)
				clock.Advance(time.Minute)
			}
			if got := messages(t, tr, app.Key()); !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("history:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
			}
		})
	}
}

func TestImageHistoryEntriesAndBounds(t *testing.T) {
	clock := clocktest.New(t0)
	s := store.NewMemory(store.WithClock(clock.Now))
	tr := refresh.NewTracker(refresh.WithTrackerClock(clock.Now), refresh.WithTrackerStore(s), refresh.WithAppHistorySize(3))
	app := refresh.App{Name: "web", Namespace: "team-a"}
	for _, tag := range []string{"1.2.0", "1.2.1", "1.2.2", "1.2.3", "1.2.4"} {
		clock.Advance(time.Hour)
		tr.Record(app, specsOf([]resolve.Result{at("web", tag)}), []resolve.Result{at("web", tag)})
	}
	entries, err := tr.ImageHistory(context.Background(), app.Key())
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 3 {
		t.Fatalf("%d entries kept, want the last 3: %+v", len(entries), entries)
	}
	want := refresh.HistoryEntry{Time: t0.Add(5 * time.Hour), Kind: refresh.HistoryResolved, Alias: "web", Image: "ghcr.io/acme/web",
		FromTag: "1.2.3", FromDigest: digestOf("1.2.3"), Tag: "1.2.4", Digest: digestOf("1.2.4"),
		Rule: `semver "^1.2"`, Gates: []string{"verify ci-key"}}
	if !reflect.DeepEqual(entries[0], want) {
		t.Fatalf("newest entry %+v\nwant %+v", entries[0], want)
	}
	if entries[2].Tag != "1.2.2" {
		t.Fatalf("oldest kept entry %+v, want 1.2.1 → 1.2.2", entries[2])
	}

	// Another Application's history is its own; forgetting an
	// Application drops its history.
	other := refresh.App{Name: "web", Namespace: "team-b"}
	tr.Record(other, nil, []resolve.Result{at("web", "1.0.0")})
	if got := messages(t, tr, other.Key()); len(got) != 1 {
		t.Fatalf("team-b/web history %v", got)
	}
	tr.Forget(app.Key())
	if got := messages(t, tr, app.Key()); len(got) != 0 {
		t.Fatalf("history of a forgotten Application: %v", got)
	}
}

// TestImageHistoryAfterAnOlderSidecar: a record written by a sidecar that
// kept no per-image state is a baseline: the next render records no
// change against it (it cannot tell one), the one after does.
func TestImageHistoryAfterAnOlderSidecar(t *testing.T) {
	ctx := context.Background()
	s := store.NewMemory()
	tr := refresh.NewTracker(refresh.WithTrackerStore(s))
	v2 := `{"v":2,"d":{"app":{"name":"web","namespace":"argocd"},"specs":[],"rendered":[],"renderedAt":"2025-01-01T00:00:00Z"}}`
	if err := s.Set(ctx, "app|argocd/web", []byte(v2), time.Hour); err != nil {
		t.Fatal(err)
	}
	app := refresh.App{Name: "web", Namespace: "argocd"}
	tr.Record(app, nil, []resolve.Result{at("web", "1.2.3")})
	if got := messages(t, tr, app.Key()); len(got) != 0 {
		t.Fatalf("entries against an older sidecar's record: %v", got)
	}
	tr.Record(app, nil, []resolve.Result{at("web", "1.3.0")})
	if got := messages(t, tr, app.Key()); len(got) != 1 || !strings.Contains(got[0], "1.2.3 → 1.3.0") {
		t.Fatalf("history %v", got)
	}
}

// posted counts the Events each replica posts.
type posted struct {
	mu      sync.Mutex
	entries []string
}

func (p *posted) PostEvents(_ context.Context, app refresh.App, entries []refresh.HistoryEntry) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, e := range entries {
		p.entries = append(p.entries, app.Key()+" "+refresh.EventReason(e)+" "+e.Message())
	}
	return nil
}

func (p *posted) list() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.entries...)
}

// TestImageHistoryOnceAcrossReplicas: replicas that render one
// Application at once, and so compare with the same previous record,
// write each change once and post its Event once, on Redis as in memory.
func TestImageHistoryOnceAcrossReplicas(t *testing.T) {
	for _, backend := range []string{"memory", "redis"} {
		t.Run(backend, func(t *testing.T) {
			clock := clocktest.New(t0)
			newStore := func() store.Store { return nil }
			switch backend {
			case "memory":
				shared := store.NewMemory(store.WithClock(clock.Now))
				newStore = func() store.Store { return shared }
			case "redis":
				srv := redistest.Start(t)
				newStore = func() store.Store {
					client := redis.NewClient(&redis.Options{Addr: srv.Addr(), ContextTimeoutEnabled: true, MaxRetries: -1})
					t.Cleanup(func() { _ = client.Close() })
					return store.NewRedis(client, store.WithTimeout(5*time.Second))
				}
			}
			const replicas = 3
			var stores []*storetest.ReadBarrier
			var trackers []*refresh.Tracker
			var posters []*posted
			for range replicas {
				s := &storetest.ReadBarrier{Store: newStore(), Key: "app|argocd/web"}
				p := &posted{}
				stores, posters = append(stores, s), append(posters, p)
				trackers = append(trackers, refresh.NewTracker(refresh.WithTrackerClock(clock.Now),
					refresh.WithTrackerStore(s), refresh.WithEvents(p)))
			}
			app := refresh.App{Name: "web", Namespace: "argocd"}
			renderAll := func(results []resolve.Result) {
				storetest.Arm(stores...)
				var wg sync.WaitGroup
				for _, tr := range trackers {
					wg.Go(func() { tr.Record(app, specsOf(results), results) })
				}
				wg.Wait()
				for _, tr := range trackers {
					tr.WaitEvents()
				}
				clock.Advance(time.Minute)
			}
			renderAll([]resolve.Result{at("web", "1.2.3")})
			renderAll([]resolve.Result{at("web", "1.3.0", heldByAge("1.4.0"))})
			renderAll([]resolve.Result{at("web", "1.3.0", heldByAge("1.4.0"))})

			want := []string{
				`web: 1.2.3 → 1.3.0 (semver "^1.2"; verify ci-key)`,
				"web: 1.4.0 held back: first seen 2h ago; min-age 24h",
				`web: 1.2.3, first resolution (semver "^1.2"; verify ci-key)`,
			}
			for i, tr := range trackers {
				if got := messages(t, tr, app.Key()); !reflect.DeepEqual(got, want) {
					t.Fatalf("replica %d sees history:\n%s\nwant:\n%s", i, strings.Join(got, "\n"), strings.Join(want, "\n"))
				}
			}
			var events []string
			for _, p := range posters {
				events = append(events, p.list()...)
			}
			if len(events) != len(want) {
				t.Fatalf("%d Events posted by %d replicas, want one per entry (%d):\n%s", len(events), replicas, len(want), strings.Join(events, "\n"))
			}
			reasons := map[string]int{}
			for _, e := range events {
				reasons[strings.Fields(e)[1]]++
			}
			if reasons[refresh.EventReasonResolved] != 2 || reasons[refresh.EventReasonHeldBack] != 1 {
				t.Fatalf("Event reasons %v", reasons)
			}
		})
	}
}

// failingPoster fails every post.
type failingPoster struct{ calls atomic.Int32 }

func (p *failingPoster) PostEvents(context.Context, refresh.App, []refresh.HistoryEntry) error {
	p.calls.Add(1)
	return errors.New("forbidden")
}

// TestImageHistoryKeptWhenEventsFail: Events are announcements; the
// history does not depend on them.
func TestImageHistoryKeptWhenEventsFail(t *testing.T) {
	p := &failingPoster{}
	tr := refresh.NewTracker(refresh.WithEvents(p))
	app := refresh.App{Name: "web", Namespace: "argocd"}
	tr.Record(app, nil, []resolve.Result{at("web", "1.2.3")})
	tr.Record(app, nil, []resolve.Result{at("web", "1.2.3")})
	tr.WaitEvents()
	if p.calls.Load() != 1 {
		t.Fatalf("%d posts, want one (one render changed something)", p.calls.Load())
	}
	if got := messages(t, tr, app.Key()); len(got) != 1 {
		t.Fatalf("history %v", got)
	}
}
