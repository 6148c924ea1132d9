package resolve

import (
	"encoding/json"
	"time"

	gocache "github.com/patrickmn/go-cache"
	"golang.org/x/sync/singleflight"
)

// layer is one cache layer's in-process front: go-cache for storage (its
// own expiry only reclaims memory; freshness is decided with the
// resolver's clock), a singleflight group so that concurrent misses in
// this process make one call, and a bound on its entries (the least
// recently used is evicted first).
type layer struct {
	name     string
	ttl      time.Duration // zero: entries never expire
	staleTTL time.Duration
	storeTTL time.Duration // how long the store keeps an entry
	// repoGen: entries expire when their repository is invalidated (all
	// but the immutable config layer, which only a global purge expires).
	repoGen bool
	decode  func(json.RawMessage) (any, error)
	items   *boundedCache
	group   singleflight.Group
}

func decodeAs[T any](raw json.RawMessage) (any, error) {
	var v T
	err := json.Unmarshal(raw, &v)
	return v, err
}

func newLayer(name string, ttl, staleTTL, storeTTL time.Duration, maxSize int, decode func(json.RawMessage) (any, error)) *layer {
	expiry := gocache.NoExpiration
	if ttl > 0 {
		expiry = ttl + staleTTL
	}
	cleanup := 10 * time.Minute
	if ttl == 0 {
		cleanup = 0
	}
	return &layer{name: name, ttl: ttl, staleTTL: staleTTL, storeTTL: storeTTL, repoGen: name != LayerConfig,
		decode: decode, items: newBoundedCache(expiry, cleanup, maxSize)}
}

// current reports whether an entry of generation g is still valid when the
// repository is at now.
func (l *layer) current(g, now generation) bool {
	if g.All != now.All {
		return false
	}
	return !l.repoGen || g.Repo == now.Repo
}

func (l *layer) get(key string, now time.Time) *entry {
	v, ok := l.items.Get(key)
	if !ok {
		return nil
	}
	e := v.(*entry)
	if !e.usable(now) {
		l.delete(key)
		return nil
	}
	return e
}

func (l *layer) put(key string, e *entry) { l.items.SetDefault(key, e) }

func (l *layer) delete(key string) { l.items.Delete(key) }
