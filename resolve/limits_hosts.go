package resolve

import (
	"container/list"
	"net/http"
	"sync"

	"golang.org/x/time/rate"
)

// DefaultMaxOtherHosts bounds how many registry hosts outside
// registries.conf keep their limits while idle.
const DefaultMaxOtherHosts = 256

// otherRegistries is the metric label of every host outside
// registries.conf: authors may name any host, and each would otherwise
// make its own series.
const otherRegistries = "other"

// hostLimits are the limits of one registry host.
type hostLimits struct {
	limiter *rate.Limiter
	sem     *fairSemaphore
	base    http.RoundTripper
	// label names the host in metrics: its registries.conf entry, or
	// otherRegistries.
	label string

	// users counts the requests holding this entry (waiting or in
	// flight); guarded by hostTable.mu.
	users int
	// el is the entry's place in hostTable.order; nil for configured
	// hosts, which are never dropped.
	el *list.Element
}

// hostTable holds the limits of every registry host asked. Hosts of
// registries.conf entries (bounded by the file) stay for the life of the
// process. Other hosts are named by authors, so at most maxOthers of them
// are kept while idle: the least recently used idle one is dropped first,
// and an entry with a request waiting or in flight is never dropped (its
// semaphore must stay the one its requests release). A dropped host
// starts again with a full token bucket, at the default limit; the map
// thus holds at most maxOthers idle hosts plus those in use.
type hostTable struct {
	maxOthers int

	mu     sync.Mutex
	hosts  map[string]*hostLimits
	order  *list.List // other hosts' names, least recently used first
	others int
}

// acquire returns the limits of host, building them with build on first
// use, and marks them in use until release is called.
func (t *hostTable) acquire(host string, build func(host string) (h *hostLimits, configured bool)) (h *hostLimits, release func()) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.hosts == nil {
		t.hosts = map[string]*hostLimits{}
		t.order = list.New()
	}
	h, ok := t.hosts[host]
	if !ok {
		var configured bool
		h, configured = build(host)
		t.hosts[host] = h
		if !configured {
			h.el = t.order.PushBack(host)
			t.others++
		}
	} else if h.el != nil {
		t.order.MoveToBack(h.el)
	}
	h.users++
	t.trim()
	return h, func() {
		t.mu.Lock()
		defer t.mu.Unlock()
		h.users--
		t.trim()
	}
}

// trim drops idle other hosts, least recently used first, while there are
// more than maxOthers; the caller holds mu.
func (t *hostTable) trim() {
	limit := t.maxOthers
	if limit <= 0 {
		limit = DefaultMaxOtherHosts
	}
	for el := t.order.Front(); el != nil && t.others > limit; {
		next := el.Next()
		host := el.Value.(string)
		if t.hosts[host].users == 0 {
			t.order.Remove(el)
			delete(t.hosts, host)
			t.others--
		}
		el = next
	}
}

// len is the number of hosts kept (tests).
func (t *hostTable) len() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.hosts)
}
