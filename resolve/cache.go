package resolve

import (
	"container/list"
	"context"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	gocache "github.com/patrickmn/go-cache"
	"golang.org/x/sync/singleflight"
)

// Cache layers (DESIGN section 4).
const (
	LayerTags   = "tags"   // registry/repository -> tag list, cache-ttl
	LayerDigest = "digest" // reference -> manifest digest (HEAD), cache-ttl
	LayerConfig = "config" // repository@digest -> platforms and created, no expiry, bounded
	LayerResult = "result" // spec hash -> Result, cache-ttl
)

// Entry describes one cache entry for inspection (the debug endpoint and
// the `cache` command). It never holds a credential.
type Entry struct {
	Key        string    `json:"key"`
	Layer      string    `json:"layer"`
	Repository string    `json:"repository"`
	Summary    string    `json:"summary"`
	CachedAt   time.Time `json:"cachedAt"`
	// ExpiresAt is when the entry stops being fresh; zero for entries that
	// never expire (immutable metadata).
	ExpiresAt time.Time `json:"expiresAt,omitzero"`
	Hits      int64     `json:"hits"`
	// Stale is true once ExpiresAt has passed: the entry is only used when
	// the registry fails.
	Stale bool `json:"stale"`
	// Negative marks a cached error: the registry is not asked again for
	// this key until ExpiresAt.
	Negative  bool   `json:"negative,omitempty"`
	LastError string `json:"lastError,omitempty"`
}

// entry is one cached value with its freshness.
type entry struct {
	layer      string
	key        string
	repository string
	value      any
	summary    string
	cachedAt   time.Time
	freshUntil time.Time // zero: never expires
	staleUntil time.Time // zero: never dropped
	hits       atomic.Int64
	lastError  atomic.Pointer[string]
}

func (e *entry) fresh(now time.Time) bool {
	return e.freshUntil.IsZero() || now.Before(e.freshUntil)
}

func (e *entry) usable(now time.Time) bool {
	return e.staleUntil.IsZero() || now.Before(e.staleUntil)
}

// negative is a cached failure.
type negative struct {
	layer      string
	key        string
	repository string
	err        error
	cachedAt   time.Time
	until      time.Time
}

// layer is one cache layer: go-cache for storage (its own expiry only
// reclaims memory; freshness is decided with the resolver's clock), a
// singleflight group so that concurrent misses make one registry call, and
// an optional size bound (oldest insertion evicted first).
type layer struct {
	name      string
	ttl       time.Duration // zero: entries never expire
	staleTTL  time.Duration
	maxSize   int // zero: unbounded
	items     *gocache.Cache
	group     singleflight.Group
	orderMu   sync.Mutex
	order     *list.List
	positions map[string]*list.Element
}

func newLayer(name string, ttl, staleTTL time.Duration, maxSize int) *layer {
	expiry := gocache.NoExpiration
	if ttl > 0 {
		expiry = ttl + staleTTL
	}
	cleanup := 10 * time.Minute
	if ttl == 0 {
		cleanup = 0
	}
	l := &layer{name: name, ttl: ttl, staleTTL: staleTTL, maxSize: maxSize, items: gocache.New(expiry, cleanup)}
	if maxSize > 0 {
		l.order = list.New()
		l.positions = map[string]*list.Element{}
	}
	return l
}

func (l *layer) get(key string, now time.Time) *entry {
	v, ok := l.items.Get(key)
	if !ok {
		return nil
	}
	e := v.(*entry)
	if !e.usable(now) {
		l.items.Delete(key)
		return nil
	}
	return e
}

func (l *layer) set(key, repository string, value any, summary string, now time.Time) *entry {
	e := &entry{layer: l.name, key: key, repository: repository, value: value, summary: summary, cachedAt: now}
	if l.ttl > 0 {
		e.freshUntil = now.Add(l.ttl)
		e.staleUntil = e.freshUntil.Add(l.staleTTL)
	}
	l.items.SetDefault(key, e)
	if l.maxSize > 0 {
		l.orderMu.Lock()
		if el, ok := l.positions[key]; ok {
			l.order.MoveToBack(el)
		} else {
			l.positions[key] = l.order.PushBack(key)
		}
		for l.order.Len() > l.maxSize {
			oldest := l.order.Front()
			k := oldest.Value.(string)
			l.order.Remove(oldest)
			delete(l.positions, k)
			l.items.Delete(k)
		}
		l.orderMu.Unlock()
	}
	return e
}

func (l *layer) delete(key string) bool {
	_, ok := l.items.Get(key)
	l.items.Delete(key)
	if l.maxSize > 0 {
		l.orderMu.Lock()
		if el, found := l.positions[key]; found {
			l.order.Remove(el)
			delete(l.positions, key)
		}
		l.orderMu.Unlock()
	}
	return ok
}

// cache holds the four layers and the negative cache.
type cache struct {
	layers   map[string]*layer
	negative *gocache.Cache
	negTTL   time.Duration
	now      func() time.Time
	metrics  *metrics
}

func newCache(ttl, staleTTL, negTTL time.Duration, configSize int, now func() time.Time, m *metrics) *cache {
	return &cache{
		layers: map[string]*layer{
			LayerTags:   newLayer(LayerTags, ttl, staleTTL, 0),
			LayerDigest: newLayer(LayerDigest, ttl, staleTTL, 0),
			LayerConfig: newLayer(LayerConfig, 0, 0, configSize),
			LayerResult: newLayer(LayerResult, ttl, 0, 0),
		},
		negative: gocache.New(negTTL, time.Minute),
		negTTL:   negTTL,
		now:      now,
		metrics:  m,
	}
}

// fetchFunc asks the registry; summary describes the value for Snapshot.
type fetchFunc func(ctx context.Context) (value any, summary string, err error)

// lookup is what get found, and where.
type lookup struct {
	value  any
	source string // SourceCache, SourceRegistry or SourceStale
	// staleErr is the registry error that made a stale value be served.
	staleErr error
}

// get returns a fresh cached value, or asks the registry once however many
// callers miss at the same time. When the registry fails (or failed a
// moment ago, see the negative cache) an expired value that is still within
// stale-ttl is served with source stale; with nothing cached the error is
// returned.
func (c *cache) get(ctx context.Context, layerName, key, repository string, fetch fetchFunc) (lookup, error) {
	l := c.layers[layerName]
	now := c.now()
	cached := l.get(key, now)
	if cached != nil && cached.fresh(now) {
		cached.hits.Add(1)
		c.metrics.lookup(layerName, lookupHit)
		return lookup{value: cached.value, source: SourceCache}, nil
	}
	negKey := layerName + "\x00" + key
	if v, ok := c.negative.Get(negKey); ok {
		if n := v.(*negative); now.Before(n.until) {
			return c.failed(l, cached, n.err)
		}
		c.negative.Delete(negKey)
	}

	c.metrics.lookup(layerName, lookupMiss)
	v, err, _ := l.group.Do(key, func() (any, error) {
		// A call that finished between our lookup and Do has stored a
		// fresh value: use it instead of asking again.
		if e := l.get(key, c.now()); e != nil && e.fresh(c.now()) {
			return e.value, nil
		}
		value, summary, err := fetch(ctx)
		if err != nil {
			at := c.now()
			c.negative.Set(negKey, &negative{layer: layerName, key: key, repository: repository, err: err, cachedAt: at, until: at.Add(c.negTTL)}, c.negTTL)
			return nil, err
		}
		c.negative.Delete(negKey)
		l.set(key, repository, value, summary, c.now())
		return value, nil
	})
	if err != nil {
		return c.failed(l, cached, err)
	}
	return lookup{value: v, source: SourceRegistry}, nil
}

// failed serves the stale entry if there is one, else the error.
func (c *cache) failed(l *layer, cached *entry, err error) (lookup, error) {
	if cached == nil || !cached.usable(c.now()) {
		return lookup{}, err
	}
	msg := err.Error()
	cached.lastError.Store(&msg)
	cached.hits.Add(1)
	c.metrics.lookup(l.name, lookupStale)
	return lookup{value: cached.value, source: SourceStale, staleErr: err}, nil
}

// peek returns a fresh value without asking the registry.
func (c *cache) peek(layerName, key string) (any, bool) {
	l := c.layers[layerName]
	now := c.now()
	e := l.get(key, now)
	if e == nil || !e.fresh(now) {
		c.metrics.lookup(layerName, lookupMiss)
		return nil, false
	}
	e.hits.Add(1)
	c.metrics.lookup(layerName, lookupHit)
	return e.value, true
}

// put stores a value without a registry call (the result layer).
func (c *cache) put(layerName, key, repository string, value any, summary string) {
	c.layers[layerName].set(key, repository, value, summary, c.now())
}

// snapshot lists every entry, sorted by layer then key; scrub removes
// secrets from error messages.
func (c *cache) snapshot(scrub func(string) string) []Entry {
	now := c.now()
	var out []Entry
	for _, l := range c.layers {
		for _, item := range l.items.Items() {
			e := item.Object.(*entry)
			if !e.usable(now) {
				continue
			}
			en := Entry{
				Key:        e.key,
				Layer:      e.layer,
				Repository: e.repository,
				Summary:    e.summary,
				CachedAt:   e.cachedAt,
				ExpiresAt:  e.freshUntil,
				Hits:       e.hits.Load(),
				Stale:      !e.fresh(now),
			}
			if msg := e.lastError.Load(); msg != nil {
				en.LastError = scrub(*msg)
			}
			out = append(out, en)
		}
	}
	for _, item := range c.negative.Items() {
		n := item.Object.(*negative)
		if !now.Before(n.until) {
			continue
		}
		out = append(out, Entry{
			Key:        n.key,
			Layer:      n.layer,
			Repository: n.repository,
			Summary:    "registry error cached; not asked again before expiresAt",
			CachedAt:   n.cachedAt,
			ExpiresAt:  n.until,
			Negative:   true,
			LastError:  scrub(n.err.Error()),
		})
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Layer != out[j].Layer {
			return out[i].Layer < out[j].Layer
		}
		if out[i].Key != out[j].Key {
			return out[i].Key < out[j].Key
		}
		return !out[i].Negative && out[j].Negative
	})
	return out
}

// invalidate removes the entries of one repository, or every entry when
// repository is empty. Immutable config entries are kept for a single
// repository (a digest never changes meaning) and dropped for "all".
func (c *cache) invalidate(repository string) int {
	removed := 0
	for _, l := range c.layers {
		if repository != "" && l.name == LayerConfig {
			continue
		}
		for key, item := range l.items.Items() {
			if repository == "" || item.Object.(*entry).repository == repository {
				if l.delete(key) {
					removed++
				}
			}
		}
	}
	for key, item := range c.negative.Items() {
		if repository == "" || item.Object.(*negative).repository == repository {
			c.negative.Delete(key)
			removed++
		}
	}
	return removed
}
