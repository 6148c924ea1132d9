package refresh_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/argocd-image-resolver/argocd-image-resolver/refresh"
	"github.com/argocd-image-resolver/argocd-image-resolver/resolve"
	"github.com/argocd-image-resolver/argocd-image-resolver/test/clocktest"
	"github.com/argocd-image-resolver/argocd-image-resolver/test/registrytest"
)

// countTagLists counts the tag-list requests a registry receives.
func countTagLists(n *atomic.Int64) registrytest.Option {
	return registrytest.WithHandler(func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if strings.HasSuffix(r.URL.Path, "/tags/list") {
				n.Add(1)
			}
			next.ServeHTTP(w, r)
		})
	})
}

func TestPassResolvesEachDistinctSpecOnce(t *testing.T) {
	var lists atomic.Int64
	reg := registrytest.New(t, countTagLists(&lists))
	reg.Push(t, "acme/web:1.0.0")
	argo, srv := newArgoServer(t, "tok")
	backend, err := refresh.NewArgoCDAPI(srv.URL, writeToken(t, "tok"))
	if err != nil {
		t.Fatal(err)
	}
	clock := clocktest.New(time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC))
	// A pass that takes longer than the cache TTL: once slow is set, every
	// cache read of the resolver sees the TTL gone by.
	var slow atomic.Bool
	resolverNow := func() time.Time {
		if slow.Load() {
			clock.Advance(interval / 2)
		}
		return clock.Now()
	}
	resolver, err := resolve.New(resolve.WithClock(resolverNow), resolve.WithCacheTTL(interval/2))
	if err != nil {
		t.Fatal(err)
	}
	tracker := refresh.NewTracker(refresh.WithTrackerClock(clock.Now))
	// 30 Applications ask for the same image under their own alias and
	// Helm path: one resolution.
	const apps = 30
	ctx := context.Background()
	for i := range apps {
		name := fmt.Sprintf("app-%02d", i)
		spec, err := resolve.ParseSpec(fmt.Sprintf("a%d=%s/acme/web:^1.0", i, reg.Host()))
		if err != nil {
			t.Fatal(err)
		}
		spec.Options.HelmImageTag = fmt.Sprintf("images.a%d.tag", i)
		res, err := resolver.Resolve(ctx, []resolve.Spec{spec})
		if err != nil {
			t.Fatal(err)
		}
		tracker.Record(refresh.App{Name: name, Namespace: "team-a"}, []resolve.Spec{spec}, res)
		argo.put("team-a", name, appObject("team-a", name, "image-resolver", map[string]any{}))
	}
	reg.Push(t, "acme/web:1.1.0")
	clock.Advance(interval)
	lists.Store(0)
	slow.Store(true)

	r := refresh.NewRefresher(tracker, resolver, backend, refresh.WithInterval(interval), refresh.WithClock(clock.Now),
		refresh.WithLogger(quietLogger()), refresh.WithRate(1000, 1000))
	got := r.RunOnce(ctx)
	if len(got) != apps {
		t.Fatalf("%d attempts, want %d", len(got), apps)
	}
	for _, tr := range got {
		if tr.Result != refresh.ResultTriggered || len(tr.Changes) != 1 || tr.Changes[0].To != "1.1.0" || !strings.HasPrefix(tr.Changes[0].Alias, "a") {
			t.Fatalf("attempt %+v", tr)
		}
	}
	if n := lists.Load(); n != 1 {
		t.Fatalf("%d tag lists for one distinct spec in a pass longer than the cache TTL, want 1", n)
	}
}

// TestHungRegistryHoldsBackOnlyItsApps: one registry stops answering tag
// lists; the Applications of another registry are still compared and
// refreshed, and the hung check ends at its deadline.
func TestHungRegistryHoldsBackOnlyItsApps(t *testing.T) {
	var hang atomic.Bool
	arrived := make(chan struct{}, 16)
	abandoned := make(chan struct{}, 16)
	release := make(chan struct{})
	defer close(release)
	hung := registrytest.New(t, registrytest.WithHandler(func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if hang.Load() && strings.HasSuffix(r.URL.Path, "/tags/list") {
				arrived <- struct{}{}
				select {
				case <-r.Context().Done():
					abandoned <- struct{}{}
				case <-release:
				}
				return
			}
			next.ServeHTTP(w, r)
		})
	}))
	healthy := registrytest.New(t)
	hung.Push(t, "acme/slow:1.0.0")
	healthy.Push(t, "acme/web:1.0.0")

	argo, srv := newArgoServer(t, "tok")
	backend, err := refresh.NewArgoCDAPI(srv.URL, writeToken(t, "tok"))
	if err != nil {
		t.Fatal(err)
	}
	clock := clocktest.New(time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC))
	resolver, err := resolve.New(resolve.WithClock(clock.Now), resolve.WithCacheTTL(interval/2))
	if err != nil {
		t.Fatal(err)
	}
	tracker := refresh.NewTracker(refresh.WithTrackerClock(clock.Now))
	ctx := context.Background()
	record := func(name, image string) {
		spec, err := resolve.ParseSpec(name + "=" + image + ":^1.0")
		if err != nil {
			t.Fatal(err)
		}
		res, err := resolver.Resolve(ctx, []resolve.Spec{spec})
		if err != nil {
			t.Fatal(err)
		}
		tracker.Record(refresh.App{Name: name, Namespace: "team-a"}, []resolve.Spec{spec}, res)
		argo.put("team-a", name, appObject("team-a", name, "image-resolver", map[string]any{}))
	}
	record("slow", hung.Host()+"/acme/slow")
	record("web", healthy.Host()+"/acme/web")
	healthy.Push(t, "acme/web:1.1.0")
	clock.Advance(interval)
	hang.Store(true)

	t.Run("Run refreshes the healthy app while the other check hangs", func(t *testing.T) {
		attempts := make(chan refresh.Trigger, 4)
		r := refresh.NewRefresher(tracker, resolver, backend, refresh.WithInterval(time.Hour), refresh.WithClock(clock.Now),
			refresh.WithLogger(quietLogger()), refresh.WithCheckTimeout(time.Hour),
			refresh.WithAttemptHook(func(tr refresh.Trigger) { attempts <- tr }))
		runCtx, stop := context.WithCancel(ctx)
		var wg sync.WaitGroup
		wg.Go(func() { _ = r.Run(runCtx) })
		defer func() { stop(); wg.Wait() }()
		<-arrived
		select {
		case tr := <-attempts:
			if tr.App.Name != "web" || tr.Result != refresh.ResultTriggered {
				t.Fatalf("attempt %+v", tr)
			}
		case <-time.After(30 * time.Second):
			t.Fatal("the healthy app was not refreshed while another registry hung")
		}
		select {
		case <-abandoned:
			t.Fatal("the hung request ended before its (one hour) deadline")
		default:
		}
	})

	t.Run("the check of a hung registry ends at its deadline", func(t *testing.T) {
		argo.clearAnnotation("team-a", "web")
		clock.Advance(2 * interval)
		healthy.Push(t, "acme/web:1.2.0")
		r := refresh.NewRefresher(tracker, resolver, backend, refresh.WithInterval(interval), refresh.WithClock(clock.Now),
			refresh.WithLogger(quietLogger()), refresh.WithCheckTimeout(200*time.Millisecond))
		got := r.RunOnce(ctx)
		if len(got) != 1 || got[0].App.Name != "web" || got[0].Changes[0].To != "1.2.0" {
			t.Fatalf("attempts %+v, want only web", got)
		}
		<-abandoned
	})
}
