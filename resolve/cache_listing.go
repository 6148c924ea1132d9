package resolve

import (
	"context"
	"sort"
	"strings"
	"time"
)

// listChunk is how many entries a listing reads from the store at a time.
const listChunk = 256

// Entries calls fn with every cache entry (fresh, stale and negative) of
// one repository, or of every repository when repository is empty, until
// fn returns false. The repository may be spelt any way
// CanonicalRepository reads. Entries come as the store holds them (every
// replica's when the store is shared; this process's own while the store
// fails), in the order of their keys: by repository, layer, credential and
// key, an entry before the cached error of the same key. They are read
// from the store a chunk at a time, so a listing of everything holds the
// keys and one chunk, not the whole cache. Entries hold keys, summaries
// and scrubbed error messages, never a credential.
//
// The error is ctx's, or the store's when it failed after fn was called
// (before that the process's own entries are listed instead).
func (r *Resolver) Entries(ctx context.Context, repository string, fn func(Entry) bool) error {
	key := r.cacheRepository(repository)
	called := false
	err := r.cache.eachStoreEntry(ctx, key, func(e Entry) bool {
		called = true
		return fn(e)
	})
	if err == nil || called || ctx.Err() != nil {
		return err
	}
	for _, e := range r.cache.frontEntries() {
		if key != "" && e.Repository != key {
			continue
		}
		if !fn(e) {
			break
		}
	}
	return nil
}

// Snapshot lists every cache entry for inspection (see Entries), sorted by
// layer and key.
func (r *Resolver) Snapshot() []Entry {
	var out []Entry
	_ = r.Entries(context.Background(), "", func(e Entry) bool {
		out = append(out, e)
		return true
	})
	sort.SliceStable(out, func(i, j int) bool {
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

// cacheRepository is the name the cache holds a repository under (the
// host the registry is asked at, its api_url); "" stays "".
func (r *Resolver) cacheRepository(repository string) string {
	repository = strings.TrimSpace(repository)
	if repository == "" {
		return ""
	}
	if repo, _, err := r.repository(r.CanonicalRepository(repository)); err == nil {
		return repo.Name()
	}
	return repository
}

// listed is one key of a listing: an entry's or a negative's.
type listed struct {
	id       string
	negative bool
}

// eachStoreEntry calls fn with the entries of one repository ("" for
// all) as the store holds them, stale and negative ones included, in key
// order, until fn returns false; results of older generations
// (unreachable, left to expire) are left out.
func (c *cache) eachStoreEntry(ctx context.Context, repository string, fn func(Entry) bool) error {
	sub := ""
	if repository != "" {
		sub = repository + "|"
	}
	keys, err := c.entries.Keys(ctx, sub)
	if err != nil {
		return err
	}
	negKeys, err := c.negatives.Keys(ctx, sub)
	if err != nil {
		return err
	}
	order := make([]listed, 0, len(keys)+len(negKeys))
	for _, k := range keys {
		order = append(order, listed{id: k})
	}
	for _, k := range negKeys {
		order = append(order, listed{id: k, negative: true})
	}
	keys, negKeys = nil, nil
	sort.Slice(order, func(i, j int) bool {
		if order[i].id != order[j].id {
			return order[i].id < order[j].id
		}
		return !order[i].negative && order[j].negative
	})

	gens := map[string]generation{}
	genOf := func(repo string) generation {
		g, ok := gens[repo]
		if !ok {
			g = c.generation(ctx, repo)
			gens[repo] = g
		}
		return g
	}
	for start := 0; start < len(order); start += listChunk {
		part := order[start:min(start+listChunk, len(order))]
		var ids, negIDs []string
		for _, k := range part {
			if k.negative {
				negIDs = append(negIDs, k.id)
			} else {
				ids = append(ids, k.id)
			}
		}
		vals, err := c.entries.GetMany(ctx, ids...)
		if err != nil {
			return err
		}
		negs, err := c.negatives.GetMany(ctx, negIDs...)
		if err != nil {
			return err
		}
		now := c.now()
		for _, k := range part {
			var (
				e  Entry
				ok bool
			)
			if k.negative {
				e, ok = c.describeNegative(negs[k.id], genOf)
			} else {
				e, ok = c.describeStored(vals[k.id], k.id, now, genOf)
			}
			if ok && !fn(e) {
				return nil
			}
		}
		if err := ctx.Err(); err != nil {
			return err
		}
	}
	return nil
}

// describeStored is the listing of one stored entry, without decoding its
// value; ok is false for what is no longer usable.
func (c *cache) describeStored(se storedEntry, id string, now time.Time, genOf func(string) generation) (Entry, bool) {
	l, found := c.layers[se.Layer]
	if !found {
		return Entry{}, false
	}
	e := &entry{layer: se.Layer, key: se.Key, repository: se.Repository, summary: se.Summary,
		cachedAt: se.CachedAt, freshUntil: se.FreshUntil, staleUntil: se.StaleUntil, gen: se.Gen}
	if !e.usable(now) {
		return Entry{}, false
	}
	current := l.current(e.gen, genOf(e.repository))
	if l.name == LayerResult && !current {
		return Entry{}, false
	}
	en := e.describe(now)
	en.Stale = !e.fresh(now) || !current
	if front := l.get(id, now); front != nil {
		en.Hits = front.hits.Load()
		if msg := front.lastError.Load(); msg != nil {
			en.LastError = c.scrub(*msg)
		}
	}
	return en, true
}

// describeNegative is the listing of one stored registry error.
func (c *cache) describeNegative(sn storedNegative, genOf func(string) generation) (Entry, bool) {
	l, found := c.layers[sn.Layer]
	if !found || !c.now().Before(sn.Until) || !l.current(sn.Gen, genOf(sn.Repository)) {
		return Entry{}, false
	}
	return negativeEntry(sn.Layer, sn.Key, sn.Repository, sn.CachedAt, sn.Until, c.scrub(sn.err().Error())), true
}

// frontEntries lists what this process holds (the listing while the store
// fails), in the order eachStoreEntry lists.
func (c *cache) frontEntries() []Entry {
	now := c.now()
	type item struct {
		id string
		e  Entry
	}
	var items []item
	for _, l := range c.layers {
		for id, it := range l.items.Items() {
			e := it.Object.(*entry)
			if !e.usable(now) {
				continue
			}
			en := e.describe(now)
			if msg := e.lastError.Load(); msg != nil {
				en.LastError = c.scrub(*msg)
			}
			items = append(items, item{id: id, e: en})
		}
	}
	for id, it := range c.negative.Items() {
		n := it.Object.(*negative)
		if now.Before(n.until) {
			items = append(items, item{id: id, e: negativeEntry(n.layer, n.key, n.repository, n.cachedAt, n.until, c.scrub(n.err.Error()))})
		}
	}
	sort.Slice(items, func(i, j int) bool {
		if items[i].id != items[j].id {
			return items[i].id < items[j].id
		}
		return !items[i].e.Negative && items[j].e.Negative
	})
	out := make([]Entry, len(items))
	for i, it := range items {
		out[i] = it.e
	}
	return out
}
