package resolve

import "sync"

// trace records where the data of one resolution came from.
type trace struct {
	mu       sync.Mutex
	registry bool
	stale    []error
	cached   bool
}

func (t *trace) record(l lookup) {
	t.mu.Lock()
	defer t.mu.Unlock()
	switch l.source {
	case SourceRegistry:
		t.registry = true
	case SourceStale:
		t.stale = append(t.stale, l.staleErr)
	default:
		t.cached = true
	}
}

func (t *trace) source() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	switch {
	case len(t.stale) > 0:
		return SourceStale
	case t.registry:
		return SourceRegistry
	}
	return SourceCache
}

func (t *trace) staleError() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.stale) == 0 {
		return ""
	}
	return t.stale[0].Error()
}
