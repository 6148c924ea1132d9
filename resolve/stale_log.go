package resolve

import (
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// staleLogEvery is how often each registry's stale answers are logged:
// during an outage every render of every image of a registry is answered
// from the stale cache, which would otherwise be a log line each.
const staleLogEvery = 10 * time.Second

// maxStaleLogRegistries bounds the registries remembered (authors name
// them); past it the memory starts anew.
const maxStaleLogRegistries = 256

// staleLog says at most once per interval per registry that renders use
// stale data, with the number of stale answers held back since.
type staleLog struct {
	mu       sync.Mutex
	samplers map[string]*staleSampler
}

type staleSampler struct {
	every    rate.Sometimes
	heldBack int
}

func newStaleLog() *staleLog { return &staleLog{samplers: map[string]*staleSampler{}} }

// do runs log for registry unless it ran within the interval; heldBack is
// how many calls it skipped since.
func (l *staleLog) do(registry string, log func(heldBack int)) {
	l.mu.Lock()
	s, ok := l.samplers[registry]
	if !ok {
		if len(l.samplers) >= maxStaleLogRegistries {
			clear(l.samplers)
		}
		s = &staleSampler{every: rate.Sometimes{Interval: staleLogEvery}}
		l.samplers[registry] = s
	}
	ran, held := false, 0
	// Sometimes.Do holds its own lock while f runs: f only records the
	// decision, and log runs after both locks are released.
	s.every.Do(func() {
		ran, held = true, s.heldBack
		s.heldBack = 0
	})
	if !ran {
		s.heldBack++
	}
	l.mu.Unlock()
	if ran {
		log(held)
	}
}
