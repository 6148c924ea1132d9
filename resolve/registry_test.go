package resolve

import (
	"context"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/argocd-image-resolver/argocd-image-resolver/test/clocktest"
	testharness "github.com/argocd-image-resolver/argocd-image-resolver/test/harness"
	"github.com/argocd-image-resolver/argocd-image-resolver/test/registrytest"
)

func newFakeClock() *clocktest.Clock {
	return clocktest.New(time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC))
}

// sleeper records the waits the limiter asks for and advances the clock by
// them instead of sleeping.
type sleeper struct {
	clock *clocktest.Clock
	mu    sync.Mutex
	waits []time.Duration
}

func (s *sleeper) Sleep(ctx context.Context, d time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	s.waits = append(s.waits, d)
	s.mu.Unlock()
	s.clock.Advance(d)
	return nil
}

func (s *sleeper) Waits() []time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]time.Duration(nil), s.waits...)
}

// fault decides the answer to one request: 0 passes it to the registry; a
// status writes that status; hang blocks until the client gives up.
type fault struct {
	status     int
	retryAfter string
	hang       bool
}

// counter is a request-counting, fault-injecting wrapper in front of a
// registry handler.
type countingHandler struct {
	next http.Handler

	mu     sync.Mutex
	counts map[string]int
	auths  map[string]int // Authorization header values seen
	faults func(op string, r *http.Request) fault

	inFlight    atomic.Int64
	maxInFlight atomic.Int64
}

func newCountingHandler(next http.Handler) *countingHandler {
	return &countingHandler{next: next, counts: map[string]int{}, auths: map[string]int{}}
}

// Authorizations is how many requests carried the Authorization value v.
func (c *countingHandler) Authorizations(v string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.auths[v]
}

func (c *countingHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	op := operation(r)
	c.mu.Lock()
	c.counts[op]++
	if a := r.Header.Get("Authorization"); a != "" {
		c.auths[a]++
	}
	faults := c.faults
	c.mu.Unlock()

	n := c.inFlight.Add(1)
	defer c.inFlight.Add(-1)
	for {
		m := c.maxInFlight.Load()
		if n <= m || c.maxInFlight.CompareAndSwap(m, n) {
			break
		}
	}

	if faults != nil {
		f := faults(op, r)
		switch {
		case f.hang:
			<-r.Context().Done()
			return
		case f.status != 0:
			if f.retryAfter != "" {
				w.Header().Set("Retry-After", f.retryAfter)
			}
			w.WriteHeader(f.status)
			return
		}
	}
	c.next.ServeHTTP(w, r)
}

// Count returns the requests of one operation (list, head, manifest, blob,
// ping) or, for "", of all operations.
func (c *countingHandler) Count(op string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	if op != "" {
		return c.counts[op]
	}
	total := 0
	for _, n := range c.counts {
		total += n
	}
	return total
}

func (c *countingHandler) Reset() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.counts = map[string]int{}
}

func (c *countingHandler) SetFaults(f func(op string, r *http.Request) fault) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.faults = f
}

// failOp makes every request of op answer status.
func failOp(op string, status int) func(string, *http.Request) fault {
	return func(o string, _ *http.Request) fault {
		if o == op {
			return fault{status: status}
		}
		return fault{}
	}
}

// testRegistry is a registry on loopback behind the counting wrapper:
// go-containerregistry's in-memory one (newTestRegistry) or distribution
// (distributionRegistry).
type testRegistry struct {
	host    string
	url     string
	counter *countingHandler
}

func newTestRegistry(t testing.TB) *testRegistry {
	t.Helper()
	var c *countingHandler
	reg := registrytest.New(t, registrytest.WithHandler(func(h http.Handler) http.Handler {
		c = newCountingHandler(h)
		return c
	}))
	return &testRegistry{host: reg.Host(), url: reg.URL(), counter: c}
}

// pushTags writes a distinct random linux/amd64 image created at created
// under each tag and returns the digests.
func pushTags(t testing.TB, host, repo string, created time.Time, opts []remote.Option, tags ...string) map[string]string {
	t.Helper()
	digests := map[string]string{}
	for _, tag := range tags {
		d := registrytest.Push(t, host+"/"+repo+":"+tag, registrytest.Created(created),
			registrytest.Platforms("linux/amd64"), registrytest.RemoteOptions(opts...))
		digests[tag] = d.String()
	}
	return digests
}

// testResolver builds a Resolver on the fake clock with a log buffer.
type testResolver struct {
	*Resolver
	clock *clocktest.Clock
	sleep *sleeper
	logs  *testharness.SyncBuffer
}

func newTestResolver(t testing.TB, opts ...Option) *testResolver {
	t.Helper()
	clock := newFakeClock()
	s := &sleeper{clock: clock}
	logs := &testharness.SyncBuffer{}
	base := []Option{
		WithClock(clock.Now),
		withSleep(s.Sleep),
		WithKeychain(authn.NewMultiKeychain()),
		WithLogger(slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))),
	}
	r, err := New(append(base, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	return &testResolver{Resolver: r, clock: clock, sleep: s, logs: logs}
}

func specFor(t testing.TB, image string, options map[string]string) Spec {
	t.Helper()
	specs, err := ParseSpecs([]string{image}, options)
	if err != nil {
		t.Fatal(err)
	}
	return specs[0]
}
