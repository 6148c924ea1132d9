package refresh_test

import (
	"context"
	"net"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/argocd-image-resolver/argocd-image-resolver/refresh"
)

// startRedis runs Debian's redis-server on a free loopback port until the
// test ends and returns its address.
func startRedis(t *testing.T) string {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		if os.Getenv("E2E_REQUIRED") == "1" {
			t.Fatal("redis-server not found: apt-get install redis-server")
		}
		t.Skip("redis-server not found (apt-get install redis-server)")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	cmd := exec.Command(bin, "--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	c := redis.NewClient(&redis.Options{Addr: addr})
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for c.Ping(ctx).Err() != nil {
		select {
		case <-ctx.Done():
			t.Fatalf("redis-server on %s did not answer PING", addr)
		case <-time.After(20 * time.Millisecond):
		}
	}
	return addr
}

// leaders counts the replicas that lead at once.
type leaders struct {
	now, most atomic.Int32
	led       chan string
	ended     chan string // optional
}

func (l *leaders) lead(name string) func(ctx context.Context) {
	return func(ctx context.Context) {
		n := l.now.Add(1)
		for {
			m := l.most.Load()
			if n <= m || l.most.CompareAndSwap(m, n) {
				break
			}
		}
		l.led <- name
		<-ctx.Done()
		l.now.Add(-1)
		if l.ended != nil {
			l.ended <- name
		}
	}
}

var shortLease = refresh.LeaseTimings{LeaseDuration: time.Second, RenewDeadline: 600 * time.Millisecond, RetryPeriod: 100 * time.Millisecond}

func TestRedisLeaseOneLeaderAndTakeover(t *testing.T) {
	addr := startRedis(t)
	l := &leaders{led: make(chan string, 8)}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var wg sync.WaitGroup
	defer wg.Wait()
	clients := map[string]*redis.Client{}
	for _, name := range []string{"a", "b"} {
		c := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1})
		clients[name] = c
		e := refresh.NewRedisLease(c, name, shortLease, quietLogger())
		wg.Go(func() { _ = e.Run(ctx, l.lead(name)) })
	}
	defer func() {
		cancel()
		wg.Wait()
		for _, c := range clients {
			c.Close()
		}
	}()
	first := <-l.led
	other := map[string]string{"a": "b", "b": "a"}[first]

	// The leader dies: its connection is gone, so it can neither renew nor
	// release. It steps down at its renew deadline; the other leads once
	// the lease expired.
	if err := clients[first].Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case got := <-l.led:
		if got != other {
			t.Fatalf("after %s died, %s leads", first, got)
		}
	case <-time.After(20 * time.Second):
		t.Fatalf("%s did not take over after %s died", other, first)
	}
	if m := l.most.Load(); m != 1 {
		t.Fatalf("%d replicas led at once", m)
	}
}

func TestRedisLeaseChecksItsToken(t *testing.T) {
	addr := startRedis(t)
	c := redis.NewClient(&redis.Options{Addr: addr})
	defer c.Close()
	l := &leaders{led: make(chan string, 2), ended: make(chan string, 2)}
	ctx, cancel := context.WithCancel(context.Background())
	e := refresh.NewRedisLease(c, "a", shortLease, quietLogger())
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		_ = e.Run(ctx, l.lead("a"))
	}()
	<-l.led

	// Another holder took the key (the lease expired during a pause, say):
	// the renewal sees a foreign token and steps down, and the release
	// does not delete the other holder's lease.
	if err := c.Set(context.Background(), refresh.RedisLeaseKey, "intruder", time.Minute).Err(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-l.ended:
	case <-time.After(20 * time.Second):
		t.Fatal("the leader did not step down when its token was replaced")
	}
	cancel()
	<-stopped
	if v, err := c.Get(context.Background(), refresh.RedisLeaseKey).Result(); err != nil || v != "intruder" {
		t.Fatalf("lease = %q, %v; the release must leave another holder's lease alone", v, err)
	}

	// A replica that shuts down while it leads releases the lease at once.
	if err := c.Del(context.Background(), refresh.RedisLeaseKey).Err(); err != nil {
		t.Fatal(err)
	}
	ctx2, cancel2 := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = refresh.NewRedisLease(c, "b", shortLease, quietLogger()).Run(ctx2, l.lead("b"))
	}()
	<-l.led
	cancel2()
	<-done
	<-l.ended
	if n, err := c.Exists(context.Background(), refresh.RedisLeaseKey).Result(); err != nil || n != 0 {
		t.Fatalf("lease still held after a clean shutdown (exists=%d, %v)", n, err)
	}
}
