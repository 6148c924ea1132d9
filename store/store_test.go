package store_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/redis/go-redis/v9"

	"github.com/argocd-image-resolver/argocd-image-resolver/store"
	"github.com/argocd-image-resolver/argocd-image-resolver/test/clocktest"
	"github.com/argocd-image-resolver/argocd-image-resolver/test/harness"
	"github.com/argocd-image-resolver/argocd-image-resolver/test/redistest"
)

// backend is one Store implementation under the contract tests; expire
// makes keys written with ttl expire (a fake clock, or waiting on Redis).
type backend struct {
	name   string
	store  store.Store
	expire func(t *testing.T, key string, ttl time.Duration)
}

func newRedisClient(t *testing.T, addr string) *redis.Client {
	t.Helper()
	c := redis.NewClient(&redis.Options{Addr: addr, ContextTimeoutEnabled: true, MaxRetries: -1})
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func backends(t *testing.T) []backend {
	clock := clocktest.New(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	mem := store.NewMemory(store.WithClock(clock.Now))
	srv := redistest.Start(t)
	client := newRedisClient(t, srv.Addr())
	// One prefix per backend so that they share the server without seeing
	// each other's keys.
	rs := store.NewRedis(client, store.WithPrefix("test-redis|"), store.WithTimeout(2*time.Second))
	waitRedis := func(t *testing.T, key string, ttl time.Duration) {
		t.Helper()
		deadline := time.Now().Add(ttl + 5*time.Second)
		for {
			vals, err := rs.Get(context.Background(), key)
			if err == nil && vals[0] == nil {
				if l, _ := rs.Range(context.Background(), key); len(l) == 0 {
					return
				}
			}
			if time.Now().After(deadline) {
				t.Fatalf("key %s did not expire within %s", key, ttl)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	fbMem := store.NewMemory()
	fb := store.NewFallback(store.NewRedis(client, store.WithPrefix("test-fallback|"), store.WithTimeout(2*time.Second)), fbMem)
	return []backend{
		{name: "memory", store: mem, expire: func(_ *testing.T, _ string, ttl time.Duration) { clock.Advance(ttl) }},
		{name: "redis", store: rs, expire: waitRedis},
		{name: "fallback", store: fb, expire: nil},
	}
}

func TestStoreContract(t *testing.T) {
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			ctx := context.Background()
			s := b.store

			t.Run("get set delete", func(t *testing.T) {
				if err := s.Set(ctx, "kv|a", []byte("1"), 0); err != nil {
					t.Fatal(err)
				}
				vals, err := s.Get(ctx, "kv|a", "kv|missing")
				if err != nil || string(vals[0]) != "1" || vals[1] != nil {
					t.Fatalf("get = %q %v", vals, err)
				}
				if err := s.Delete(ctx, "kv|a", "kv|missing"); err != nil {
					t.Fatal(err)
				}
				if vals, _ := s.Get(ctx, "kv|a"); vals[0] != nil {
					t.Fatalf("deleted key reads %q", vals[0])
				}
			})

			t.Run("set-if-absent", func(t *testing.T) {
				first, err := s.SetNX(ctx, "nx|k", []byte("first"), time.Minute)
				if err != nil || !first {
					t.Fatalf("first SetNX = %v %v", first, err)
				}
				second, err := s.SetNX(ctx, "nx|k", []byte("second"), time.Minute)
				if err != nil || second {
					t.Fatalf("second SetNX = %v %v, want false", second, err)
				}
				if vals, _ := s.Get(ctx, "nx|k"); string(vals[0]) != "first" {
					t.Fatalf("value %q, want the first writer's", vals[0])
				}
			})

			t.Run("counters", func(t *testing.T) {
				for want := int64(1); want <= 3; want++ {
					n, err := s.Incr(ctx, "gen|repo", time.Hour)
					if err != nil || n != want {
						t.Fatalf("Incr = %d %v, want %d", n, err, want)
					}
				}
				vals, _ := s.Get(ctx, "gen|repo", "gen|other")
				if store.Counter(vals[0]) != 3 || store.Counter(vals[1]) != 0 {
					t.Fatalf("counters read %q", vals)
				}
			})

			t.Run("capped lists", func(t *testing.T) {
				for _, v := range []string{"a", "b", "c", "d"} {
					if err := s.Append(ctx, "list|h", []byte(v), 3, time.Hour); err != nil {
						t.Fatal(err)
					}
				}
				got, err := s.Range(ctx, "list|h")
				if err != nil || string(bytes.Join(got, nil)) != "bcd" {
					t.Fatalf("range = %q %v, want the last 3 oldest first", got, err)
				}
			})

			t.Run("keys by prefix", func(t *testing.T) {
				for _, k := range []string{"scan|a*[x]?|1", "scan|a*[x]?|2", "scan|ab|1"} {
					if err := s.Set(ctx, k, []byte("x"), time.Hour); err != nil {
						t.Fatal(err)
					}
				}
				keys, err := s.Keys(ctx, "scan|a*[x]?|")
				slices.Sort(keys)
				if err != nil || !slices.Equal(keys, []string{"scan|a*[x]?|1", "scan|a*[x]?|2"}) {
					t.Fatalf("keys = %q %v (pattern characters must match literally)", keys, err)
				}
			})

			t.Run("locks", func(t *testing.T) {
				unlock, err := s.Lock(ctx, "lock|k", time.Minute)
				if err != nil {
					t.Fatal(err)
				}
				if _, err := s.Lock(ctx, "lock|k", time.Minute); !errors.Is(err, store.ErrLocked) {
					t.Fatalf("second Lock: %v, want ErrLocked", err)
				}
				unlock()
				again, err := s.Lock(ctx, "lock|k", time.Minute)
				if err != nil {
					t.Fatalf("Lock after unlock: %v", err)
				}
				again()
			})

			t.Run("publish subscribe", func(t *testing.T) {
				sctx, cancel := context.WithCancel(ctx)
				got := make(chan string, 8)
				done := make(chan error, 1)
				go func() {
					done <- s.Subscribe(sctx, "chan|inv", func(m []byte) {
						if m == nil {
							got <- "<subscribed>"
							return
						}
						got <- string(m)
					})
				}()
				if m := <-got; m != "<subscribed>" {
					t.Fatalf("first callback %q, want the subscription notice", m)
				}
				if err := s.Publish(ctx, "chan|inv", []byte("ghcr.io/acme/web")); err != nil {
					t.Fatal(err)
				}
				if m := <-got; m != "ghcr.io/acme/web" {
					t.Fatalf("message %q", m)
				}
				cancel()
				if err := <-done; err != nil {
					t.Fatal(err)
				}
			})

			if b.expire == nil {
				return
			}
			t.Run("expiry", func(t *testing.T) {
				ttl := 300 * time.Millisecond
				if err := s.Set(ctx, "ttl|v", []byte("x"), ttl); err != nil {
					t.Fatal(err)
				}
				if _, err := s.Lock(ctx, "ttl|lock", ttl); err != nil {
					t.Fatal(err)
				}
				if err := s.Append(ctx, "ttl|list", []byte("x"), 10, ttl); err != nil {
					t.Fatal(err)
				}
				if _, err := s.Incr(ctx, "ttl|counter", ttl); err != nil {
					t.Fatal(err)
				}
				b.expire(t, "ttl|v", ttl)
				b.expire(t, "ttl|list", 0)
				b.expire(t, "ttl|counter", 0)
				if vals, _ := s.Get(ctx, "ttl|counter"); vals[0] != nil {
					t.Fatalf("counter alive after its TTL: %q", vals[0])
				}
				vals, _ := s.Get(ctx, "ttl|v")
				if vals[0] != nil {
					t.Fatalf("value alive after its TTL: %q", vals[0])
				}
				if l, _ := s.Range(ctx, "ttl|list"); len(l) != 0 {
					t.Fatalf("list alive after its TTL: %q", l)
				}
				unlock, err := s.Lock(ctx, "ttl|lock", time.Minute)
				if err != nil {
					t.Fatalf("expired lock not free: %v", err)
				}
				unlock()
			})
		})
	}
}

// TestUnlockKeepsAnotherHoldersLock: an unlock after the lock expired and
// was taken by someone else leaves the new holder's lock alone.
func TestUnlockKeepsAnotherHoldersLock(t *testing.T) {
	for _, b := range backends(t) {
		if b.expire == nil {
			continue
		}
		t.Run(b.name, func(t *testing.T) {
			ctx := context.Background()
			stale, err := b.store.Lock(ctx, "owner|k", 200*time.Millisecond)
			if err != nil {
				t.Fatal(err)
			}
			b.expire(t, "owner|k", 200*time.Millisecond)
			mine, err := b.store.Lock(ctx, "owner|k", time.Minute)
			if err != nil {
				t.Fatalf("lock after expiry: %v", err)
			}
			stale()
			if _, err := b.store.Lock(ctx, "owner|k", time.Minute); !errors.Is(err, store.ErrLocked) {
				t.Fatalf("the old holder's unlock released the new lock: %v", err)
			}
			mine()
		})
	}
}

type payload struct {
	Tags []string `json:"tags"`
}

func TestTypedValuesAreVersioned(t *testing.T) {
	ctx := context.Background()
	s := store.NewMemory()
	v1 := store.NewTyped[payload](s, "tags|", 1)
	v2 := store.NewTyped[payload](s, "tags|", 2)
	if err := v1.Set(ctx, "ghcr.io/acme/web", payload{Tags: []string{"1.0"}}, time.Minute); err != nil {
		t.Fatal(err)
	}
	got, ok, err := v1.Get(ctx, "ghcr.io/acme/web")
	if err != nil || !ok || !slices.Equal(got.Tags, []string{"1.0"}) {
		t.Fatalf("v1 reads %+v %v %v", got, ok, err)
	}
	if _, ok, err := v2.Get(ctx, "ghcr.io/acme/web"); ok || err != nil {
		t.Fatalf("a value of version 1 read as version 2: ok=%v err=%v", ok, err)
	}
	if err := s.Set(ctx, "tags|garbage", []byte("not json"), 0); err != nil {
		t.Fatal(err)
	}
	if _, ok, err := v1.Get(ctx, "garbage"); ok || err != nil {
		t.Fatalf("garbage decoded: ok=%v err=%v", ok, err)
	}
	keys, err := v1.Keys(ctx, "")
	slices.Sort(keys)
	if err != nil || !slices.Equal(keys, []string{"garbage", "ghcr.io/acme/web"}) {
		t.Fatalf("keys %q %v", keys, err)
	}
	many, err := v1.GetMany(ctx, "ghcr.io/acme/web", "garbage", "absent")
	if err != nil || len(many) != 1 {
		t.Fatalf("GetMany = %+v %v, want the one valid value", many, err)
	}
}

// TestRedisFailureOpensBreakerAndRecovers kills redis-server under the
// store: calls fail within their timeout, then fail fast without asking;
// the up metric drops; one line is logged per state change. After a
// restart the store answers again by itself and a subscription is made
// again (announced with fn(nil)).
func TestRedisFailureOpensBreakerAndRecovers(t *testing.T) {
	srv := redistest.Start(t)
	client := newRedisClient(t, srv.Addr())
	reg := prometheus.NewRegistry()
	metrics := store.NewMetrics(reg)
	var logs harness.SyncBuffer
	s := store.NewRedis(client, store.WithTimeout(100*time.Millisecond), store.WithMetrics(metrics),
		store.WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))
	ctx := context.Background()
	if err := s.Set(ctx, "k", []byte("v"), time.Minute); err != nil {
		t.Fatal(err)
	}

	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	subscribed := make(chan struct{}, 4)
	messages := make(chan string, 4)
	go func() {
		_ = s.Subscribe(sctx, "inv", func(m []byte) {
			if m == nil {
				subscribed <- struct{}{}
				return
			}
			messages <- string(m)
		})
	}()
	<-subscribed

	srv.Kill()
	for i := range 3 {
		start := time.Now()
		_, err := s.Get(ctx, "k")
		if err == nil || errors.Is(err, store.ErrUnavailable) {
			t.Fatalf("call %d with Redis down: %v, want a Redis error", i, err)
		}
		if d := time.Since(start); d > 2*time.Second {
			t.Fatalf("call %d took %s; the per-call timeout is 100ms", i, d)
		}
	}
	if _, err := s.Get(ctx, "k"); !errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("after 3 failures: %v, want ErrUnavailable (breaker open)", err)
	}
	if up := testutil.ToFloat64(metrics.Up); up != 0 {
		t.Fatalf("redis_up = %v with Redis down", up)
	}
	if n := testutil.ToFloat64(metrics.Errors.WithLabelValues("get")); n != 3 {
		t.Fatalf("errors{get} = %v, want 3 (fast failures are not calls)", n)
	}

	srv.Restart()
	deadline := time.Now().Add(30 * time.Second)
	for {
		if _, err := s.Get(ctx, "k"); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("store did not recover within 30s of the restart")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if up := testutil.ToFloat64(metrics.Up); up != 1 {
		t.Fatalf("redis_up = %v after recovery", up)
	}
	select {
	case <-subscribed:
	case <-time.After(30 * time.Second):
		t.Fatal("subscription not made again after the restart")
	}
	if err := s.Publish(ctx, "inv", []byte("after")); err != nil {
		t.Fatal(err)
	}
	if m := <-messages; m != "after" {
		t.Fatalf("message %q after resubscription", m)
	}
	out := logs.String()
	if n := strings.Count(out, "Redis unavailable"); n != 1 {
		t.Errorf("logged 'Redis unavailable' %d times, want once:\n%s", n, out)
	}
	if n := strings.Count(out, "Redis available again"); n != 1 {
		t.Errorf("logged 'Redis available again' %d times, want once:\n%s", n, out)
	}
}

// TestMemoryLimitEvictsOldestWrite: a limit bounds the keys it selects and
// leaves the others alone.
func TestMemoryLimitEvictsOldestWrite(t *testing.T) {
	ctx := context.Background()
	m := store.NewMemory(store.WithLimit(func(k string) bool { return strings.HasPrefix(k, "c|") }, 2))
	for _, k := range []string{"c|1", "other", "c|2", "c|1", "c|3"} {
		if err := m.Set(ctx, k, []byte(k), 0); err != nil {
			t.Fatal(err)
		}
	}
	keys, _ := m.Keys(ctx, "")
	slices.Sort(keys)
	// c|1 was written again after c|2, so c|2 is the oldest write.
	if !slices.Equal(keys, []string{"c|1", "c|3", "other"}) {
		t.Fatalf("keys %q, want c|1, c|3 and the unlimited key", keys)
	}
	if err := m.Delete(ctx, "c|1"); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"c|4", "c|5"} {
		if err := m.Set(ctx, k, []byte(k), 0); err != nil {
			t.Fatal(err)
		}
	}
	keys, _ = m.Keys(ctx, "c|")
	slices.Sort(keys)
	if !slices.Equal(keys, []string{"c|4", "c|5"}) {
		t.Fatalf("keys %q after a delete and two writes", keys)
	}
}
