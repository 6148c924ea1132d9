package resolve

import (
	"strconv"
	"testing"
	"time"
)

// TestStaleLogOncePerRegistry: during an outage, stale answers are logged
// once per registry per interval, with the count of those not logged.
func TestStaleLogOncePerRegistry(t *testing.T) {
	l := newStaleLog()
	logged := map[string]int{}
	for range 5 {
		for _, reg := range []string{"ghcr.io", "quay.io"} {
			l.do(reg, func(int) { logged[reg]++ })
		}
	}
	if logged["ghcr.io"] != 1 || logged["quay.io"] != 1 {
		t.Fatalf("logged %v, want one line per registry", logged)
	}
	for i := range 2 * maxStaleLogRegistries {
		l.do("r"+strconv.Itoa(i), func(int) {})
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if n := len(l.samplers); n > maxStaleLogRegistries {
		t.Fatalf("%d registries remembered, want at most %d", n, maxStaleLogRegistries)
	}
}

// TestStaleLogLogsWithoutHoldingLocks: the log line is written after the
// sampler's locks are released, so another render reporting a stale answer
// for the same registry while the line is written does not wait on it.
// (Before, the second caller held the map lock waiting for the sampler,
// while the first waited for the map lock: every render of the registry hung.)
func TestStaleLogLogsWithoutHoldingLocks(t *testing.T) {
	l := newStaleLog()
	second := make(chan struct{})
	l.do("ghcr.io", func(int) {
		go func() {
			l.do("ghcr.io", func(int) {})
			close(second)
		}()
		select {
		case <-second:
		case <-time.After(10 * time.Second):
			t.Error("a second stale answer for the registry blocked while the first was logged")
		}
	})
}
