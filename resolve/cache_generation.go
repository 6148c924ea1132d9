package resolve

import (
	"context"
	"strconv"
	"time"

	"github.com/argocd-image-resolver/argocd-image-resolver/store"
)

// cachedGen is a repository's generation as last read from the store.
type cachedGen struct {
	gen    generation
	readAt time.Time
}

// generation returns the repository's invalidation counters, read from the
// store at most every memory-ttl (an invalidation message forgets them at
// once). While the store fails the last known value is used. A read that
// began before a forget neither answers callers who come after it nor
// replaces the forgotten value.
func (c *cache) generation(ctx context.Context, repository string) generation {
	now := c.now()
	c.gensMu.Lock()
	known, ok := c.gens[repository]
	epoch := c.gensEpoch
	c.gensMu.Unlock()
	if ok && now.Sub(known.readAt) < c.memoryTTL {
		return known.gen
	}
	flight := repository + "#" + strconv.FormatUint(epoch, 10)
	v, _, _ := c.genGroup.Do(flight, func() (any, error) {
		vals, err := c.store.Get(context.WithoutCancel(ctx), keyGen+repository, keyGen)
		if err != nil {
			return known.gen, nil
		}
		g := generation{Repo: store.Counter(vals[0]), All: store.Counter(vals[1])}
		c.gensMu.Lock()
		if c.gensEpoch == epoch {
			c.gens[repository] = cachedGen{gen: g, readAt: now}
		}
		c.gensMu.Unlock()
		return g, nil
	})
	return v.(generation)
}

// forgetGenerations drops the counters read for repository ("" for all).
func (c *cache) forgetGenerations(repository string) {
	c.gensMu.Lock()
	defer c.gensMu.Unlock()
	c.gensEpoch++
	if repository == "" {
		clear(c.gens)
		return
	}
	delete(c.gens, repository)
}
