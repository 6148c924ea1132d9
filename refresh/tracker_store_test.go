package refresh_test

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/argocd-image-resolver/argocd-image-resolver/refresh"
	"github.com/argocd-image-resolver/argocd-image-resolver/resolve"
	"github.com/argocd-image-resolver/argocd-image-resolver/store"
	"github.com/argocd-image-resolver/argocd-image-resolver/test/clocktest"
	"github.com/argocd-image-resolver/argocd-image-resolver/test/redistest"
	"github.com/argocd-image-resolver/argocd-image-resolver/test/registrytest"
)

// recordingBackend accepts every hard refresh and remembers it.
type recordingBackend struct {
	mu   sync.Mutex
	apps []string
}

func (b *recordingBackend) Name() string { return "recording" }

func (b *recordingBackend) Refresh(_ context.Context, app refresh.App) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.apps = append(b.apps, app.Key())
	return nil
}

func (b *recordingBackend) refreshed() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.apps...)
}

// TestTrackerSharedAcrossReplicas: what one replica rendered is known to
// another through Redis: its keys, the repositories it uses, and enough to
// decide a hard refresh; the trigger state written by the refreshing
// replica guards every replica.
func TestTrackerSharedAcrossReplicas(t *testing.T) {
	srv := redistest.Start(t)
	client := redis.NewClient(&redis.Options{Addr: srv.Addr(), ContextTimeoutEnabled: true, MaxRetries: -1})
	t.Cleanup(func() { _ = client.Close() })
	clock := clocktest.New(time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC))
	newTracker := func() *refresh.Tracker {
		return refresh.NewTracker(refresh.WithTrackerClock(clock.Now),
			refresh.WithTrackerStore(store.NewRedis(client, store.WithTimeout(2*time.Second))))
	}
	renderer, refresher := newTracker(), newTracker()

	reg := registrytest.New(t)
	reg.Push(t, "acme/web:1.0.0")
	resolver, err := resolve.New(resolve.WithClock(clock.Now), resolve.WithCacheTTL(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	spec, err := resolve.ParseSpec("web=" + reg.Host() + "/acme/web:^1.0")
	if err != nil {
		t.Fatal(err)
	}
	app := refresh.App{Name: "web", Namespace: "team-a"}
	results, err := resolver.Resolve(context.Background(), []resolve.Spec{spec})
	if err != nil {
		t.Fatal(err)
	}
	renderer.Record(app, []resolve.Spec{spec}, results)

	if !refresher.Tracked("team-a/web") || !slices.Equal(refresher.Keys(), []string{"team-a/web"}) {
		t.Fatalf("the other replica does not see the render: keys %v", refresher.Keys())
	}
	repo := resolve.CanonicalRepository(reg.Host() + "/acme/web")
	if got := refresher.KeysUsing(map[string]bool{repo: true}); !slices.Equal(got, []string{"team-a/web"}) {
		t.Fatalf("KeysUsing(%s) = %v", repo, got)
	}

	backend := &recordingBackend{}
	r := refresh.NewRefresher(refresher, resolver, backend, refresh.WithInterval(2*time.Minute),
		refresh.WithClock(clock.Now), refresh.WithLogger(quietLogger()))
	reg.Push(t, "acme/web:1.1.0")
	clock.Advance(2 * time.Minute)
	if got := r.RunOnce(context.Background()); len(got) != 1 || got[0].Result != refresh.ResultTriggered {
		t.Fatalf("refresh of a change rendered elsewhere: %+v", got)
	}
	st := renderer.Apps()
	if len(st) != 1 || st[0].LastTrigger == nil || st[0].LastTrigger.Result != refresh.ResultTriggered || len(renderer.History()) != 1 {
		t.Fatalf("the rendering replica does not see the trigger: %+v %+v", st, renderer.History())
	}
	// The guard is shared: a second refresher (another replica) within the
	// interval does not trigger again.
	other := refresh.NewRefresher(newTracker(), resolver, backend, refresh.WithInterval(2*time.Minute),
		refresh.WithClock(clock.Now), refresh.WithLogger(quietLogger()))
	if got := other.RunOnce(context.Background()); len(got) != 0 {
		t.Fatalf("second replica triggered again within the interval: %+v", got)
	}
	if got := backend.refreshed(); len(got) != 1 {
		t.Fatalf("hard refreshes %v, want one", got)
	}

	// A later render that no longer uses the repository drops the app
	// from KeysUsing, although the index still names it.
	apiSpec, err := resolve.ParseSpec("api=" + reg.Host() + "/acme/api:^1.0")
	if err != nil {
		t.Fatal(err)
	}
	renderer.Record(app, []resolve.Spec{apiSpec}, nil)
	if got := refresher.KeysUsing(map[string]bool{repo: true}); len(got) != 0 {
		t.Fatalf("KeysUsing(%s) after the app dropped it = %v", repo, got)
	}
}

// TestTrackerFallsBackToMemory: with Redis down, the replica still knows
// what it rendered itself.
func TestTrackerFallsBackToMemory(t *testing.T) {
	srv := redistest.Start(t)
	client := redis.NewClient(&redis.Options{Addr: srv.Addr(), ContextTimeoutEnabled: true, MaxRetries: -1})
	t.Cleanup(func() { _ = client.Close() })
	tr := refresh.NewTracker(refresh.WithTrackerStore(store.NewFallback(
		store.NewRedis(client, store.WithTimeout(100*time.Millisecond)), store.NewMemory())))
	srv.Kill()
	tr.Record(refresh.App{Name: "web", Namespace: "team-a"}, nil, nil)
	if !tr.Tracked("team-a/web") || !slices.Equal(tr.Keys(), []string{"team-a/web"}) {
		t.Fatalf("render not remembered with Redis down: %v", tr.Keys())
	}
}
