package soak

import (
	"math/rand/v2"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// fault is what the registry does with one request.
type fault int

const (
	passThrough fault = iota
	serverError       // 500, 502 or 503
	tooMany           // 429 with Retry-After: 1
	connReset         // the connection is closed with a TCP reset, no answer
	stall             // 2 s, then the registry answers
	numFaults
)

var faultNames = [numFaults]string{"pass", "5xx", "429", "reset", "stall"}

// Shares of the requests, in percent, while the faults are on; the rest
// pass through.
var faultShares = [numFaults]int{
	serverError: 10,
	tooMany:     10,
	connReset:   5,
	stall:       5,
}

const stallFor = 2 * time.Second

// faultInjector stands in front of the registry's handler. It counts every
// request that reaches the registry; once armed it picks a fault for each
// from a seeded generator and counts requests per second since arming.
type faultInjector struct {
	next http.Handler

	armed atomic.Bool
	// armedAt is set before armed, read after it.
	armedAt time.Time

	mu  sync.Mutex
	rng *rand.Rand

	seen      atomic.Int64 // every request that reached the registry
	kinds     [numFaults]atomic.Int64
	perSecond []atomic.Int64 // requests per second since armedAt (armed or not)
	// resetsPerSecond counts the resets of each second: net/http may send
	// a request again, on a new connection, when a reused one is reset.
	resetsPerSecond []atomic.Int64
}

func newFaultInjector(seed uint64, seconds int) *faultInjector {
	return &faultInjector{
		rng:             rand.New(rand.NewPCG(seed, seed^0x5eed)),
		perSecond:       make([]atomic.Int64, seconds),
		resetsPerSecond: make([]atomic.Int64, seconds),
	}
}

func (f *faultInjector) wrap(next http.Handler) http.Handler {
	f.next = next
	return f
}

// arm turns the faults on from now.
func (f *faultInjector) arm(now time.Time) {
	f.armedAt = now
	f.armed.Store(true)
}

func (f *faultInjector) disarm() { f.armed.Store(false) }

func (f *faultInjector) pick() (fault, int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	roll := f.rng.IntN(100)
	for k := serverError; k < numFaults; k++ {
		if roll < faultShares[k] {
			return k, 500 + []int{0, 2, 3}[f.rng.IntN(3)]
		}
		roll -= faultShares[k]
	}
	return passThrough, 0
}

// second is the index of the current second since arming, clamped to the
// slices (the last one collects the rest).
func (f *faultInjector) second() int {
	i := int(time.Since(f.armedAt) / time.Second)
	return min(max(i, 0), len(f.perSecond)-1)
}

func (f *faultInjector) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.seen.Add(1)
	armed := f.armed.Load()
	if !f.armedAt.IsZero() {
		f.perSecond[f.second()].Add(1)
	}
	if !armed {
		f.next.ServeHTTP(w, r)
		return
	}
	kind, code := f.pick()
	f.kinds[kind].Add(1)
	switch kind {
	case serverError:
		http.Error(w, `{"errors":[{"code":"UNAVAILABLE","message":"injected"}]}`, code)
		return
	case tooMany:
		w.Header().Set("Retry-After", "1")
		http.Error(w, `{"errors":[{"code":"TOOMANYREQUESTS","message":"injected"}]}`, http.StatusTooManyRequests)
		return
	case connReset:
		f.resetsPerSecond[f.second()].Add(1)
		conn, _, err := w.(http.Hijacker).Hijack()
		if err != nil {
			panic(err) // httptest's HTTP/1.1 server always hijacks
		}
		if tcp, ok := conn.(*net.TCPConn); ok {
			_ = tcp.SetLinger(0) // close sends RST, not FIN
		}
		_ = conn.Close()
		return
	case stall:
		timer := time.NewTimer(stallFor)
		select {
		case <-timer.C:
		case <-r.Context().Done():
			timer.Stop()
			return
		}
	}
	f.next.ServeHTTP(w, r)
}

// counts returns the requests of each fault kind so far.
func (f *faultInjector) counts() [numFaults]int64 {
	var out [numFaults]int64
	for i := range out {
		out[i] = f.kinds[i].Load()
	}
	return out
}
