package resolve

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/singleflight"

	"github.com/argocd-image-resolver/argocd-image-resolver/store"
)

// Cache layers (DESIGN section 4).
const (
	LayerTags   = "tags"   // registry/repository -> tag list, cache-ttl
	LayerDigest = "digest" // reference -> manifest digest (HEAD), cache-ttl
	LayerConfig = "config" // repository@digest -> platforms and created, no expiry, bounded
	LayerResult = "result" // spec hash -> Result, cache-ttl
)

// Store layout (keys under the store's own prefix). The repository comes
// right after the kind so that one repository's keys share a prefix.
const (
	keyEntry     = "e|"  // e|<repository>|<layer>|<credential>|<key>[|<generation>]
	keyNegative  = "n|"  // same shape as e|, a cached registry error
	keyGen       = "g|"  // g|<repository>: invalidations of a repository; g|: of everything
	keyLock      = "l|"  // l|<entry key>#<generation>: one registry call across replicas
	keyFirstSeen = "s|"  // s|<repository>@<digest>: when any replica first saw a digest
	channelInval = "inv" // "<sender> <repository>" or "<sender> *"
	allRepos     = "*"
)

// Versions of the values the cache writes to the store.
const (
	entryVersion    = 1
	negativeVersion = 1
	firstSeenTTL    = 90 * 24 * time.Hour
	// firstSeenRenew: a record read when older than this is written again
	// with a new TTL.
	firstSeenRenew = 30 * 24 * time.Hour
	// lockTTL bounds how long one replica's registry call keeps the
	// others waiting; a slower call lets a second replica ask as well.
	lockTTL = 10 * time.Second
	// Waiting on another replica's call polls the store at growing
	// intervals.
	pollFirst = 5 * time.Millisecond
	pollMax   = 100 * time.Millisecond
	// maxStoreErrors failed store calls make one lookup give up on the
	// store and ask the registry directly.
	maxStoreErrors = 3
)

// cache holds the four layers and the negative cache: an in-process front
// (go-cache) over a store that replicas may share. Warm lookups never leave
// the process; after memory-ttl, or an invalidation message, the store is
// asked again; while the store fails, the front is used on its own terms.
type cache struct {
	layers       map[string]*layer
	negative     *boundedCache
	negTTL       time.Duration
	memoryTTL    time.Duration
	fetchTimeout time.Duration
	store        store.Store
	entries      store.Typed[storedEntry]
	negatives    store.Typed[storedNegative]
	sender       string
	now          func() time.Time
	metrics      *metrics
	log          *slog.Logger
	scrub        func(string) string

	gensMu sync.Mutex
	gens   map[string]cachedGen
	// gensEpoch counts forgets, so that a store read that began before
	// one is not kept.
	gensEpoch uint64
	genGroup  singleflight.Group

	// baselines keeps the min-age baselines read (cache_baseline.go).
	baselines *boundedCache
}

type cacheConfig struct {
	ttl, staleTTL, negTTL, memoryTTL, fetchTimeout time.Duration
	bounds                                         cacheBounds
	store                                          store.Store
	now                                            func() time.Time
	metrics                                        *metrics
	log                                            *slog.Logger
	scrub                                          func(string) string
}

func newCache(c cacheConfig) *cache {
	var id [8]byte
	_, _ = rand.Read(id[:])
	configTTL := max(c.staleTTL, c.ttl)
	return &cache{
		layers: map[string]*layer{
			LayerTags:   newLayer(LayerTags, c.ttl, c.staleTTL, c.ttl+c.staleTTL, c.bounds.tags, decodeAs[[]string]),
			LayerDigest: newLayer(LayerDigest, c.ttl, c.staleTTL, c.ttl+c.staleTTL, c.bounds.digest, decodeAs[string]),
			LayerConfig: newLayer(LayerConfig, 0, 0, configTTL, c.bounds.config, decodeAs[imageInfo]),
			LayerResult: newLayer(LayerResult, c.ttl, 0, c.ttl, c.bounds.result, decodeAs[Result]),
		},
		negative:     newBoundedCache(c.negTTL, time.Minute, c.bounds.negative),
		negTTL:       c.negTTL,
		memoryTTL:    c.memoryTTL,
		fetchTimeout: c.fetchTimeout,
		store:        c.store,
		entries:      store.NewTyped[storedEntry](c.store, keyEntry, entryVersion),
		negatives:    store.NewTyped[storedNegative](c.store, keyNegative, negativeVersion),
		sender:       hex.EncodeToString(id[:]),
		now:          c.now,
		metrics:      c.metrics,
		log:          c.log,
		scrub:        c.scrub,
		gens:         map[string]cachedGen{},
		baselines:    newBoundedCache(baselineMemoTTL, time.Minute, maxBaselines),
	}
}

// isConfigEntry selects the store keys of the config layer.
func isConfigEntry(key string) bool {
	return strings.HasPrefix(key, keyEntry) && strings.Contains(key, "|"+LayerConfig+"|")
}

// entryKey is where an entry lives, in the front and (under keyEntry) in
// the store. credential identifies the credential the value was fetched
// with, so that a value read with credentials is never served to a spec
// without them.
func entryKey(repository, layerName, credential, key string) string {
	return repository + "|" + layerName + "|" + credential + "|" + key
}

// fetchFunc asks the registry; summary describes the value for Snapshot.
type fetchFunc func(ctx context.Context) (value any, summary string, err error)

// lookup is what get found, and where.
type lookup struct {
	value  any
	source string // SourceCache, SourceRegistry or SourceStale
	// staleErr is the error that made a stale value be served.
	staleErr error
}

// slot names one entry: its layer, keys and generation.
type slot struct {
	l          *layer
	key        string // logical key, shown in Snapshot
	repository string
	credential string
	gen        generation
	id         string // entryKey
	// flight names the one registry call of this slot, in this process
	// and (as the lock's key) across replicas: the entry key and the
	// generation, so that a caller who saw an invalidation never joins or
	// waits for a call that began before it.
	flight string
}

func (c *cache) slot(layerName, key, repository, credential string, gen generation) slot {
	id := entryKey(repository, layerName, credential, key)
	if layerName == LayerResult {
		// First writer wins per generation: a result computed before an
		// invalidation can never take the place of one computed after.
		id += "|" + gen.String()
	}
	return slot{l: c.layers[layerName], key: key, repository: repository, credential: credential, gen: gen, id: id,
		flight: id + "#" + gen.String()}
}

// get returns a fresh cached value, or asks the registry once however many
// callers (in this process, and in every replica sharing the store) miss at
// the same time. The store is read once per key in this process however
// many callers ask (singleflight), and the registry call runs under its own
// deadline, not the caller's: a caller whose deadline passes leaves, the
// call goes on and fills the cache for the next render. When the registry
// fails (or failed a moment ago, see the negative cache) an expired value
// that is still within stale-ttl is served with source stale; with nothing
// cached the error is returned. A caller's own cancellation is never
// cached.
func (c *cache) get(ctx context.Context, s slot, fetch fetchFunc) (lookup, error) {
	now := c.now()
	cached := s.l.get(s.id, now)
	if cached != nil && cached.fresh(now) && s.l.current(cached.gen, s.gen) && cached.inStep(now, c.memoryTTL) {
		return c.hit(s.l, cached), nil
	}
	if n := c.localNegative(s, now); n != nil {
		return c.failed(s.l, cached, n.err)
	}
	ch := s.l.group.DoChan(s.flight, func() (any, error) { return c.fill(ctx, s, fetch) })
	select {
	case res := <-ch:
		if res.Err != nil {
			// fill keeps the store's stale copy in the front.
			return c.failed(s.l, newest(cached, s.l.get(s.id, c.now())), res.Err)
		}
		l := res.Val.(lookup)
		if l.source == SourceCache {
			c.metrics.lookup(s.l.name, lookupHit)
		} else {
			c.metrics.lookup(s.l.name, lookupMiss)
		}
		return l, nil
	case <-ctx.Done():
		return c.failed(s.l, newest(cached, s.l.get(s.id, c.now())), &waitError{what: "the registry", err: ctx.Err()})
	}
}

func (c *cache) hit(l *layer, e *entry) lookup {
	e.hits.Add(1)
	c.metrics.lookup(l.name, lookupHit)
	return lookup{value: e.value, source: SourceCache}
}

// newest is the more recent of two usable copies.
func newest(a, b *entry) *entry {
	switch {
	case a == nil:
		return b
	case b == nil:
		return a
	case b.cachedAt.After(a.cachedAt):
		return b
	}
	return a
}

func (c *cache) localNegative(s slot, now time.Time) *negative {
	v, ok := c.negative.Get(s.id)
	if !ok {
		return nil
	}
	n := v.(*negative)
	if now.Before(n.until) && s.l.current(n.gen, s.gen) {
		return n
	}
	c.negative.Delete(s.id)
	return nil
}

// sharedRead is what the store holds for one slot.
type sharedRead struct {
	fresh, stale *entry
	neg          *negative
}

func (c *cache) readShared(ctx context.Context, s slot) (sharedRead, error) {
	vals, err := c.store.Get(ctx, c.entries.Key(s.id), c.negatives.Key(s.id))
	if err != nil {
		return sharedRead{}, err
	}
	now := c.now()
	var out sharedRead
	if se, ok := c.entries.Decode(vals[0]); ok {
		if e := c.fromStored(s.l, se, now); e != nil && e.usable(now) {
			if e.fresh(now) && s.l.current(e.gen, s.gen) {
				out.fresh = e
			} else {
				out.stale = e
			}
		}
	}
	if sn, ok := c.negatives.Decode(vals[1]); ok && now.Before(sn.Until) && s.l.current(sn.Gen, s.gen) {
		out.neg = &negative{layer: sn.Layer, key: sn.Key, repository: sn.Repository, err: sn.err(),
			cachedAt: sn.CachedAt, until: sn.Until, gen: sn.Gen}
	}
	return out, nil
}

func (c *cache) fromStored(l *layer, se storedEntry, now time.Time) *entry {
	v, err := l.decode(se.Value)
	if err != nil {
		return nil
	}
	e := &entry{layer: se.Layer, key: se.Key, repository: se.Repository, value: v, summary: se.Summary,
		cachedAt: se.CachedAt, freshUntil: se.FreshUntil, staleUntil: se.StaleUntil, gen: se.Gen}
	e.markSynced(now)
	return e
}

// adopt keeps a copy read from the store in the front, with the hits this
// process counted so far.
func (c *cache) adopt(s slot, e *entry) {
	if old := s.l.get(s.id, c.now()); old != nil {
		e.hits.Store(old.hits.Load())
	}
	s.l.put(s.id, e)
}

// fill runs once per slot in this process (singleflight). It reads the
// store; when the store has no fresh value it waits for another replica
// that already asks the registry (a short lock in the store), or takes the
// lock and asks itself, under its own deadline.
func (c *cache) fill(callerCtx context.Context, s slot, fetch fetchFunc) (lookup, error) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(callerCtx), c.fetchTimeout)
	defer cancel()
	now := c.now()
	front := s.l.get(s.id, now)
	frontFresh := front != nil && front.fresh(now) && s.l.current(front.gen, s.gen)
	if frontFresh && front.inStep(now, c.memoryTTL) {
		// A call that finished between our lookup and now.
		return c.found(front), nil
	}
	wait := pollFirst
	storeErrors := 0
	// storeFailed reports whether to give up on the store and ask the
	// registry without a lock: at once when the store is known to be
	// down, after a few slow calls otherwise (a storm of renders on a busy
	// node can make single calls miss --redis-timeout).
	storeFailed := func(err error) bool {
		storeErrors++
		return errors.Is(err, store.ErrUnavailable) || storeErrors >= maxStoreErrors
	}
	// pause waits before the next look at the store.
	pause := func() error {
		timer := time.NewTimer(wait)
		defer timer.Stop()
		wait = min(2*wait, pollMax)
		select {
		case <-ctx.Done():
			return &waitError{what: "another replica's registry call", err: ctx.Err()}
		case <-timer.C:
			return nil
		}
	}
	for first := true; ; first = false {
		shared, err := c.readShared(ctx, s)
		if err != nil {
			if frontFresh {
				// The store fails: memory is what there is.
				return c.found(front), nil
			}
			if storeFailed(err) {
				break // ask the registry without a lock
			}
			if err := pause(); err != nil {
				return lookup{}, err
			}
			continue
		}
		if shared.fresh != nil {
			c.adopt(s, shared.fresh)
			return c.found(shared.fresh), nil
		}
		if first {
			if frontFresh {
				// Not in the store (written while it failed, or lost
				// with a restarted Redis), still fresh here.
				front.markSynced(now)
				return c.found(front), nil
			}
			c.keepStale(s, shared.stale)
		}
		if shared.neg != nil {
			c.negative.Set(s.id, shared.neg, max(shared.neg.until.Sub(c.now()), time.Millisecond))
			return lookup{}, shared.neg.err
		}
		unlock, err := c.store.Lock(ctx, keyLock+s.flight, lockTTL)
		if err == nil {
			defer unlock()
			// The holder before us may have finished between the read
			// and the lock.
			if again, err := c.readShared(ctx, s); err == nil && again.fresh != nil {
				c.adopt(s, again.fresh)
				return c.found(again.fresh), nil
			}
			break
		}
		if !errors.Is(err, store.ErrLocked) && storeFailed(err) {
			break
		}
		// Another replica asks the registry (or the store was slow): look
		// again shortly.
		if err := pause(); err != nil {
			return lookup{}, err
		}
	}

	value, summary, err := fetch(ctx)
	if err != nil {
		if !errors.Is(err, context.Canceled) {
			c.putNegative(ctx, s, err)
		}
		return lookup{}, err
	}
	c.negative.Delete(s.id)
	c.putEntry(ctx, s, value, summary)
	return lookup{value: value, source: SourceRegistry}, nil
}

// found is a cached value handed to the callers of fill.
func (c *cache) found(e *entry) lookup {
	e.hits.Add(1)
	return lookup{value: e.value, source: SourceCache}
}

// keepStale keeps the store's expired copy in the front, where a caller
// that gives up or meets a registry failure finds it.
func (c *cache) keepStale(s slot, stale *entry) {
	if stale == nil {
		return
	}
	if front := s.l.get(s.id, c.now()); front == nil || stale.cachedAt.After(front.cachedAt) {
		s.l.put(s.id, stale)
	}
}

// waitError is a fetch that gave up waiting.
type waitError struct {
	what string
	err  error
}

func (e *waitError) Error() string { return "waiting for " + e.what + ": " + e.err.Error() }
func (e *waitError) Unwrap() error { return e.err }

// newEntry builds the front copy of a value fetched now.
func (c *cache) newEntry(s slot, value any, summary string) *entry {
	now := c.now()
	e := &entry{layer: s.l.name, key: s.key, repository: s.repository, value: value, summary: summary,
		cachedAt: now, gen: s.gen}
	e.markSynced(now)
	if s.l.ttl > 0 {
		e.freshUntil = now.Add(s.l.ttl)
		e.staleUntil = e.freshUntil.Add(s.l.staleTTL)
	}
	return e
}

func (c *cache) stored(e *entry) (storedEntry, error) {
	raw, err := json.Marshal(e.value)
	if err != nil {
		return storedEntry{}, err
	}
	return storedEntry{Layer: e.layer, Key: e.key, Repository: e.repository, Value: raw, Summary: e.summary,
		CachedAt: e.cachedAt, FreshUntil: e.freshUntil, StaleUntil: e.staleUntil, Gen: e.gen}, nil
}

// putEntry keeps a fetched value in the front and the store.
func (c *cache) putEntry(ctx context.Context, s slot, value any, summary string) {
	e := c.newEntry(s, value, summary)
	s.l.put(s.id, e)
	se, err := c.stored(e)
	if err == nil {
		err = c.entries.Set(ctx, s.id, se, s.l.storeTTL)
	}
	if err != nil {
		c.log.Debug("cache entry kept in memory only", "layer", s.l.name, "key", s.key, "error", err)
	}
}

// putNegative caches a registry failure, in the front with the error as
// it is and in the store as data scrubbed of secrets.
func (c *cache) putNegative(ctx context.Context, s slot, err error) {
	at := c.now()
	n := &negative{layer: s.l.name, key: s.key, repository: s.repository, err: err, cachedAt: at, until: at.Add(c.negTTL), gen: s.gen}
	c.negative.Set(s.id, n, c.negTTL)
	sn := storedNegative{Layer: s.l.name, Key: s.key, Repository: s.repository, CachedAt: at, Until: n.until, Gen: s.gen}
	sn.describe(err, c.scrub)
	if err := c.negatives.Set(ctx, s.id, sn, c.negTTL); err != nil {
		c.log.Debug("negative cache entry kept in memory only", "layer", s.l.name, "key", s.key, "error", err)
	}
}

// failed serves the stale entry if there is one, else the error.
func (c *cache) failed(l *layer, cached *entry, err error) (lookup, error) {
	if cached == nil || !cached.usable(c.now()) {
		return lookup{}, err
	}
	msg := c.scrub(err.Error())
	cached.lastError.Store(&msg)
	cached.hits.Add(1)
	c.metrics.lookup(l.name, lookupStale)
	return lookup{value: cached.value, source: SourceStale, staleErr: err}, nil
}
