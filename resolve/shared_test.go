package resolve

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/redis/go-redis/v9"

	"github.com/argocd-image-resolver/argocd-image-resolver/store"
	"github.com/argocd-image-resolver/argocd-image-resolver/test/redistest"
)

// sharedRedis starts a redis-server and returns a client on it.
func sharedRedis(t *testing.T) (*redistest.Server, *redis.Client) {
	t.Helper()
	srv := redistest.Start(t)
	client := redis.NewClient(&redis.Options{Addr: srv.Addr(), ContextTimeoutEnabled: true, MaxRetries: -1})
	t.Cleanup(func() { _ = client.Close() })
	return srv, client
}

// replica is a resolver on the shared store, as one sidecar would have it.
func replica(t *testing.T, client *redis.Client, opts ...Option) *testResolver {
	t.Helper()
	s := store.NewRedis(client, store.WithTimeout(2*time.Second))
	return newTestResolver(t, append([]Option{WithStore(s)}, opts...)...)
}

// watch runs the replica's invalidation listener and waits until it is
// subscribed.
func watch(t *testing.T, r *testResolver, client *redis.Client) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = r.WatchInvalidations(ctx, nil)
	}()
	t.Cleanup(func() { cancel(); <-done })
	// PUBSUB NUMSUB tells when the subscription is in place.
	deadline := time.Now().Add(10 * time.Second)
	for {
		n, err := client.PubSubNumSub(context.Background(), store.DefaultPrefix+channelInval).Result()
		if err == nil && n[store.DefaultPrefix+channelInval] > 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("invalidation listener not subscribed within 10s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestReplicasShareOneRegistryCallPerKey: three replicas on one Redis
// resolve the same spec at the same moment, 20 times each, with cold
// caches: one tag list and one HEAD in all, and the same answer everywhere.
func TestReplicasShareOneRegistryCallPerKey(t *testing.T) {
	_, client := sharedRedis(t)
	reg := newTestRegistry(t)
	pushTags(t, reg.host, "acme/web", time.Now(), nil, webTags...)
	replicas := []*testResolver{replica(t, client), replica(t, client), replica(t, client)}
	spec := specFor(t, "web="+reg.host+"/acme/web:~1.6", nil)
	reg.counter.Reset()

	var wg sync.WaitGroup
	start := make(chan struct{})
	results := make(chan Result, 60)
	for _, r := range replicas {
		for range 20 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				res, err := r.ResolveOne(context.Background(), spec)
				if err != nil {
					t.Error(err)
				}
				results <- res
			}()
		}
	}
	close(start)
	wg.Wait()
	close(results)
	for res := range results {
		if res.Tag != "1.6.3" {
			t.Fatalf("a replica resolved %q", res.Tag)
		}
	}
	if got := reg.counter.Count("list"); got != 1 {
		t.Errorf("%d tag lists for 60 cold resolutions on 3 replicas, want 1", got)
	}
	if got := reg.counter.Count("head"); got != 1 {
		t.Errorf("%d HEADs, want 1", got)
	}
}

// TestFirstResultWins: once one replica stored a result for a spec in a
// generation, another replica that computed a different answer (for
// example from an older tag list) stores nothing and renders the first.
func TestFirstResultWins(t *testing.T) {
	_, client := sharedRedis(t)
	a, b := replica(t, client), replica(t, client)
	ctx := context.Background()
	slotA := a.cache.slot(LayerResult, "spec", "ghcr.io/acme/web", "-", generation{})
	slotB := b.cache.slot(LayerResult, "spec", "ghcr.io/acme/web", "-", generation{})
	if kept, ours := a.cache.putResult(ctx, slotA, Result{Alias: "web", Tag: "1.6.4"}, "tag 1.6.4", time.Time{}); !ours || kept.Tag != "1.6.4" {
		t.Fatalf("first writer: kept %q ours=%v", kept.Tag, ours)
	}
	kept, ours := b.cache.putResult(ctx, slotB, Result{Alias: "web", Tag: "1.6.3"}, "tag 1.6.3", time.Time{})
	if ours || kept.Tag != "1.6.4" {
		t.Fatalf("second writer: kept %q ours=%v, want the first writer's 1.6.4", kept.Tag, ours)
	}
	if res, ok := b.cache.peekResult(ctx, slotB); !ok || res.Tag != "1.6.4" {
		t.Fatalf("second replica reads %+v %v", res, ok)
	}
	// A new generation (an invalidation) takes a new first writer.
	next := b.cache.slot(LayerResult, "spec", "ghcr.io/acme/web", "-", generation{Repo: 1})
	if kept, ours := b.cache.putResult(ctx, next, Result{Alias: "web", Tag: "1.6.5"}, "tag 1.6.5", time.Time{}); !ours || kept.Tag != "1.6.5" {
		t.Fatalf("after invalidation: kept %q ours=%v", kept.Tag, ours)
	}
}

// TestInvalidationReachesOtherReplicas: a webhook on one replica makes the
// other render the pushed tag on its next render, through the message; a
// replica that missed the message sees the new generation once its
// memory-ttl passes. The old tag list stays as a stale copy.
func TestInvalidationReachesOtherReplicas(t *testing.T) {
	_, client := sharedRedis(t)
	reg := newTestRegistry(t)
	pushTags(t, reg.host, "acme/web", time.Now(), nil, webTags...)
	a, b := replica(t, client), replica(t, client)
	deaf := replica(t, client, WithMemoryTTL(time.Minute))
	watch(t, b, client)
	spec := specFor(t, "web="+reg.host+"/acme/web:~1.6", nil)
	ctx := context.Background()
	for _, r := range []*testResolver{a, b, deaf} {
		if res, err := r.ResolveOne(ctx, spec); err != nil || res.Tag != "1.6.3" {
			t.Fatalf("before the push: %+v %v", res, err)
		}
	}

	pushTags(t, reg.host, "acme/web", time.Now(), nil, "1.6.4")
	if n := a.Invalidate(reg.host + "/acme/web"); n == 0 {
		t.Fatal("invalidation expired nothing")
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		res, err := b.ResolveOne(ctx, spec)
		if err != nil {
			t.Fatal(err)
		}
		if res.Tag == "1.6.4" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("replica b still renders %s 10s after the invalidation", res.Tag)
		}
		time.Sleep(5 * time.Millisecond)
	}

	// deaf does not listen: within its memory-ttl it keeps its copy...
	if res, _ := deaf.ResolveOne(ctx, spec); res.Tag != "1.6.3" {
		t.Fatalf("deaf replica: %s before its memory-ttl passed", res.Tag)
	}
	// ...and reads the new generation once it passes.
	deaf.clock.Advance(time.Minute)
	if res, err := deaf.ResolveOne(ctx, spec); err != nil || res.Tag != "1.6.4" {
		t.Fatalf("deaf replica after memory-ttl: %+v %v", res, err)
	}

	stale := 0
	for _, e := range a.Snapshot() {
		if e.Layer == LayerTags && e.Stale {
			stale++
		}
	}
	if stale != 0 {
		// The fresh list replaced the stale copy in the store.
		t.Errorf("%d stale tag lists after the refetch", stale)
	}
}

// TestStaleCopyAfterInvalidationServesWhenRegistryFails: invalidation
// keeps the old values; a registry failure right after a webhook renders
// the old version instead of failing.
func TestStaleCopyAfterInvalidationServesWhenRegistryFails(t *testing.T) {
	_, client := sharedRedis(t)
	reg := newTestRegistry(t)
	pushTags(t, reg.host, "acme/web", time.Now(), nil, webTags...)
	a, b := replica(t, client), replica(t, client)
	spec := specFor(t, "web="+reg.host+"/acme/web:~1.6", nil)
	ctx := context.Background()
	if _, err := a.ResolveOne(ctx, spec); err != nil {
		t.Fatal(err)
	}
	a.Invalidate(reg.host + "/acme/web")
	reg.counter.SetFaults(failOp("list", http.StatusInternalServerError))
	res, err := b.ResolveOne(ctx, spec)
	if err != nil || res.Tag != "1.6.3" || res.Source != SourceStale {
		t.Fatalf("replica b with a failing registry after invalidation: %+v %v", res, err)
	}
}

// TestReplicaRestartedWithRegistryDownRendersFromStore: a fresh resolver
// (a restarted sidecar) with the registry failing answers from what the
// others stored.
func TestReplicaRestartedWithRegistryDownRendersFromStore(t *testing.T) {
	_, client := sharedRedis(t)
	reg := newTestRegistry(t)
	pushTags(t, reg.host, "acme/web", time.Now(), nil, webTags...)
	spec := specFor(t, "web="+reg.host+"/acme/web:~1.6", nil)
	if _, err := replica(t, client).ResolveOne(context.Background(), spec); err != nil {
		t.Fatal(err)
	}
	reg.counter.SetFaults(func(string, *http.Request) fault { return fault{status: http.StatusServiceUnavailable} })
	reg.counter.Reset()
	restarted := replica(t, client)
	res, err := restarted.ResolveOne(context.Background(), spec)
	if err != nil || res.Tag != "1.6.3" {
		t.Fatalf("restarted replica: %+v %v", res, err)
	}
	if got := reg.counter.Count(""); got != 0 {
		t.Errorf("the restarted replica asked the registry %d times for a fresh shared result", got)
	}
}

// TestRedisDownResolvesFromMemoryAndRegistry: with Redis killed, resolution
// goes on (registry, then the in-process layer), and after a restart the
// store is used again by itself.
func TestRedisDownResolvesFromMemoryAndRegistry(t *testing.T) {
	srv, client := sharedRedis(t)
	reg := newTestRegistry(t)
	pushTags(t, reg.host, "acme/web", time.Now(), nil, webTags...)
	r := newTestResolver(t, WithStore(store.NewRedis(client, store.WithTimeout(100*time.Millisecond))))
	spec := specFor(t, "web="+reg.host+"/acme/web:~1.6", nil)
	api := specFor(t, "api="+reg.host+"/acme/api", nil)
	pushTags(t, reg.host, "acme/api", time.Now(), nil, "1.0.0")
	ctx := context.Background()
	if res, err := r.ResolveOne(ctx, spec); err != nil || res.Tag != "1.6.3" {
		t.Fatalf("%+v %v", res, err)
	}
	srv.Kill()
	for range 5 {
		r.clock.Advance(DefaultMemoryTTL)
		if res, err := r.ResolveOne(ctx, spec); err != nil || res.Tag != "1.6.3" {
			t.Fatalf("warm spec with Redis down: %+v %v", res, err)
		}
		if res, err := r.ResolveOne(ctx, api); err != nil || res.Tag != "1.0.0" {
			t.Fatalf("cold spec with Redis down: %+v %v", res, err)
		}
	}
	reg.counter.Reset()
	if res, err := r.ResolveOne(ctx, api); err != nil || res.Source != SourceCache {
		t.Fatalf("a value fetched while Redis was down is not kept in memory: %+v %v", res, err)
	}
	srv.Restart()
	deadline := time.Now().Add(30 * time.Second)
	for {
		if keys, err := client.Keys(ctx, store.DefaultPrefix+"*").Result(); err == nil && len(keys) > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("nothing written to Redis within 30s of its restart")
		}
		r.clock.Advance(3 * time.Minute) // past the cache TTL: resolve, and write, again
		_, _ = r.ResolveOne(ctx, spec)
		time.Sleep(20 * time.Millisecond)
	}
}

// TestCredentialedValuesAreNotServedWithoutCredentials: an Application
// whose pull-secret names a registries.conf entry with credentials resolves
// a private image; another one naming the same image without it (the
// longest-prefix entry has no credentials) must not get the tag list or
// digests read with them: the cache keys carry the credential's identity.
func TestCredentialedValuesAreNotServedWithoutCredentials(t *testing.T) {
	for _, shared := range []bool{false, true} {
		t.Run(fmt.Sprintf("shared=%v", shared), func(t *testing.T) {
			reg := htpasswdRegistry(t, knownSecret)
			pushTags(t, reg.host, "acme/private", time.Now(), []remote.Option{remote.WithAuth(&authn.Basic{Username: authUser, Password: knownSecret})}, "1.0.0")
			t.Setenv("REG_CREDS", authUser+":"+knownSecret)
			conf, err := ParseRegistriesConfig([]byte("registries:\n" +
				"- prefix: " + reg.host + "/acme/private\n" +
				"- name: team-a\n  prefix: " + reg.host + "/acme\n  credentials: env:REG_CREDS\n"))
			if err != nil {
				t.Fatal(err)
			}
			var r *testResolver
			var client *redis.Client
			if shared {
				_, client = sharedRedis(t)
				r = replica(t, client, WithRegistriesConfig(conf))
			} else {
				r = newTestResolver(t, WithRegistriesConfig(conf))
			}
			ctx := context.Background()
			withCreds := specFor(t, "web="+reg.host+"/acme/private", map[string]string{"web.pull-secret": "team-a"})
			if res, err := r.ResolveOne(ctx, withCreds); err != nil || res.Tag != "1.0.0" {
				t.Fatalf("with the pull-secret: %+v %v", res, err)
			}
			_, err = r.ResolveOne(ctx, specFor(t, "web="+reg.host+"/acme/private", nil))
			if err == nil || !strings.Contains(err.Error(), "401") {
				t.Fatalf("without credentials: %v, want the registry's 401", err)
			}
			if !shared {
				return
			}
			// Nothing in Redis holds the secret.
			keys, err := client.Keys(ctx, "*").Result()
			if err != nil {
				t.Fatal(err)
			}
			forms := []string{knownSecret, base64.StdEncoding.EncodeToString([]byte(authUser + ":" + knownSecret))}
			for _, k := range keys {
				var val string
				switch client.Type(ctx, k).Val() {
				case "string":
					val = client.Get(ctx, k).Val()
				case "list":
					val = strings.Join(client.LRange(ctx, k, 0, -1).Val(), "\n")
				}
				for _, f := range forms {
					if strings.Contains(k+val, f) {
						t.Errorf("Redis key %s holds the secret", k)
					}
				}
			}
		})
	}
}

// TestFirstSeenIsShared: the first replica to see a digest fixes its
// first-seen time for all.
func TestFirstSeenIsShared(t *testing.T) {
	_, client := sharedRedis(t)
	reg := newTestRegistry(t)
	digests := pushTags(t, reg.host, "acme/web", time.Now(), nil, "1.0.0")
	a, b := replica(t, client), replica(t, client)
	b.clock.Advance(time.Hour)
	if _, err := a.ResolveOne(context.Background(), specFor(t, "web="+reg.host+"/acme/web", nil)); err != nil {
		t.Fatal(err)
	}
	first, err := b.FirstSeen(context.Background(), reg.host+"/acme/web", digests["1.0.0"])
	if err != nil {
		t.Fatal(err)
	}
	if !first.Equal(a.clock.Now().UTC()) {
		t.Fatalf("first seen %s, want the first replica's %s", first, a.clock.Now())
	}
}

// TestCallerDeadlineIsNotCached: a caller that gives up while the registry
// is slow leaves on its own deadline; the registry call goes on under its
// own and fills the cache, and nothing about the caller's deadline is
// remembered: the next caller resolves.
func TestCallerDeadlineIsNotCached(t *testing.T) {
	reg := newTestRegistry(t)
	pushTags(t, reg.host, "acme/web", time.Now(), nil, webTags...)
	release := make(chan struct{})
	entered := make(chan struct{}, 1)
	reg.counter.SetFaults(func(op string, r *http.Request) fault {
		if op == "list" {
			select {
			case entered <- struct{}{}:
			default:
			}
			<-release
		}
		return fault{}
	})
	r := newTestResolver(t, WithLogger(slog.New(slog.DiscardHandler)))
	spec := specFor(t, "web="+reg.host+"/acme/web:~1.6", nil)
	ctx, cancel := context.WithCancel(context.Background())
	failed := make(chan error, 1)
	go func() {
		_, err := r.ResolveOne(ctx, spec)
		failed <- err
	}()
	<-entered
	cancel()
	if err := <-failed; err == nil {
		t.Fatal("a cancelled caller resolved")
	}
	close(release)
	res, err := r.ResolveOne(context.Background(), spec)
	if err != nil || res.Tag != "1.6.3" {
		t.Fatalf("the next caller: %+v %v", res, err)
	}
	if got := reg.counter.Count("list"); got != 1 {
		t.Errorf("%d tag lists: the first call should have gone on and filled the cache", got)
	}
}

// TestMissingPinStaysAPinErrorAcrossReplicas: a 404 for a pinned tag that
// one replica recorded in the shared negative cache fails the other
// replica's render the same way, not as a registry it cannot reach (which
// would use the pin with only a warning).
func TestMissingPinStaysAPinErrorAcrossReplicas(t *testing.T) {
	_, client := sharedRedis(t)
	reg := newTestRegistry(t)
	pushTags(t, reg.host, "acme/web", time.Now(), nil, "1.0.0")
	spec := specFor(t, "web="+reg.host+"/acme/web", map[string]string{"web.override-tag": "9.9.9"})
	first, second := replica(t, client), replica(t, client)
	for i, r := range []*testResolver{first, second} {
		before := reg.counter.Count("head")
		_, err := r.ResolveOne(context.Background(), spec)
		if !errors.Is(err, ErrPinNotFound) {
			t.Fatalf("replica %d: %v, want a missing pin", i, err)
		}
		if i == 1 && reg.counter.Count("head") != before {
			t.Errorf("the second replica asked the registry again instead of reading the recorded 404")
		}
	}
}

// TestInvalidationNeverJoinsAnOlderCall: a lookup made after an
// invalidation does not wait for, or take the answer of, a registry call
// that began before it (that call may hold the tag list without the
// pushed tag), and the generation this process reads after invalidating
// is the new one.
func TestInvalidationNeverJoinsAnOlderCall(t *testing.T) {
	r := newTestResolver(t)
	c := r.cache
	ctx := context.Background()
	const repo = "ghcr.io/acme/web"
	before := c.generation(ctx, repo)
	release := make(chan struct{})
	started := make(chan struct{})
	oldDone := make(chan lookup, 1)
	go func() {
		l, err := c.get(ctx, c.slot(LayerTags, repo, repo, "-", before), func(context.Context) (any, string, error) {
			close(started)
			<-release
			return []string{"1.6.3"}, "1 tag", nil
		})
		if err != nil {
			t.Error(err)
		}
		oldDone <- l
	}()
	<-started

	c.invalidate(ctx, repo)
	after := c.generation(ctx, repo)
	if after == before {
		t.Fatalf("generation after invalidating = %v, the same as before", after)
	}
	// Joining the older call would wait for it: give up after a while.
	waitCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	l, err := c.get(waitCtx, c.slot(LayerTags, repo, repo, "-", after), func(context.Context) (any, string, error) {
		return []string{"1.6.3", "1.6.4"}, "2 tags", nil
	})
	if err != nil {
		close(release)
		t.Fatalf("lookup after the invalidation waited for the call that began before it: %v", err)
	}
	if got := l.value.([]string); len(got) != 2 {
		t.Fatalf("lookup after the invalidation got %v from the call that began before it", got)
	}
	close(release)
	if old := <-oldDone; len(old.value.([]string)) != 1 {
		t.Fatalf("the older call answered %v", old.value)
	}
}
