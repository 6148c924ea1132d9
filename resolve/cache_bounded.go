package resolve

import (
	"container/list"
	"strings"
	"sync"
	"time"

	"github.com/argocd-image-resolver/argocd-image-resolver/store"
	gocache "github.com/patrickmn/go-cache"
)

// DefaultCacheEntries is the default of WithCacheEntries: the entries of
// the tags layer; the digest and result layers hold five times as many
// (a repository has many tags and specs), the negative cache as many.
const DefaultCacheEntries = 10000

// cacheBounds are the most entries each in-process layer (and the
// in-process store) keeps.
type cacheBounds struct {
	tags, digest, config, result, negative int
}

// boundsFor scales the bounds from the tags layer's n; the config layer
// has its own (WithMetadataCacheSize).
func boundsFor(n, config int) cacheBounds {
	return cacheBounds{tags: n, digest: 5 * n, config: config, result: 5 * n, negative: n}
}

// storeLimits bound the same layers in an in-process store. A shared
// store bounds itself by TTL and its own memory policy.
func (b cacheBounds) storeLimits() []store.MemoryOption {
	return []store.MemoryOption{
		store.WithLimit(isLayerEntry(LayerTags), b.tags),
		store.WithLimit(isLayerEntry(LayerDigest), b.digest),
		store.WithLimit(isConfigEntry, b.config),
		store.WithLimit(isLayerEntry(LayerResult), b.result),
		store.WithLimit(isNegativeEntry, b.negative),
	}
}

// isLayerEntry selects the store keys of one layer's entries.
func isLayerEntry(layer string) func(string) bool {
	return func(key string) bool {
		return strings.HasPrefix(key, keyEntry) && strings.Contains(key, "|"+layer+"|")
	}
}

func isNegativeEntry(key string) bool { return strings.HasPrefix(key, keyNegative) }

// boundedCache is go-cache with a bound on its entries: past maxSize the
// least recently used entry (read or written) is dropped. Writes and the
// order are kept under one lock so that the two never disagree. Zero
// maxSize: unbounded.
type boundedCache struct {
	*gocache.Cache
	maxSize int

	mu        sync.Mutex
	order     *list.List // keys, least recently used first
	positions map[string]*list.Element
}

func newBoundedCache(expiry, cleanup time.Duration, maxSize int) *boundedCache {
	return &boundedCache{Cache: gocache.New(expiry, cleanup), maxSize: maxSize, order: list.New(), positions: map[string]*list.Element{}}
}

// Get returns the item and makes it the most recently used.
func (c *boundedCache) Get(key string) (any, bool) {
	v, ok := c.Cache.Get(key)
	if ok && c.maxSize > 0 {
		c.mu.Lock()
		if el, found := c.positions[key]; found {
			c.order.MoveToBack(el)
		}
		c.mu.Unlock()
	}
	return v, ok
}

// Set writes the item, making it the most recently used, and drops the
// least recently used past maxSize.
func (c *boundedCache) Set(key string, v any, d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.Cache.Set(key, v, d)
	if c.maxSize <= 0 {
		return
	}
	if el, ok := c.positions[key]; ok {
		c.order.MoveToBack(el)
	} else {
		c.positions[key] = c.order.PushBack(key)
	}
	for c.order.Len() > c.maxSize {
		oldest := c.order.Front()
		k := oldest.Value.(string)
		c.order.Remove(oldest)
		delete(c.positions, k)
		c.Cache.Delete(k)
	}
}

// SetDefault writes the item with the default expiry.
func (c *boundedCache) SetDefault(key string, v any) { c.Set(key, v, gocache.DefaultExpiration) }

// Delete drops the item.
func (c *boundedCache) Delete(key string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.Cache.Delete(key)
	if el, ok := c.positions[key]; ok {
		c.order.Remove(el)
		delete(c.positions, key)
	}
}
