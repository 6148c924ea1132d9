package resolve

import (
	"context"
	"strings"
	"time"
)

// sawDigest records now as the first-seen time of a digest unless some
// replica saw it before.
func (c *cache) sawDigest(ctx context.Context, repository, digest string) error {
	key := keyFirstSeen + repository + "@" + digest
	_, err := c.store.SetNX(ctx, key, []byte(c.now().UTC().Format(time.RFC3339Nano)), firstSeenTTL)
	return err
}

// firstSeen returns when a digest was first seen, recording now if never.
func (c *cache) firstSeen(ctx context.Context, repository, digest string) (time.Time, error) {
	if err := c.sawDigest(ctx, repository, digest); err != nil {
		return time.Time{}, err
	}
	key := keyFirstSeen + repository + "@" + digest
	vals, err := c.store.Get(ctx, key)
	if err != nil {
		return time.Time{}, err
	}
	seen, err := time.Parse(time.RFC3339Nano, string(vals[0]))
	if err != nil {
		return time.Time{}, err
	}
	// A digest still in use keeps its record: were it to expire, a
	// version running for months would look new and min-age would hold
	// it back.
	if c.now().Sub(seen) > firstSeenRenew {
		if err := c.store.Set(ctx, key, vals[0], firstSeenTTL); err != nil {
			c.log.Debug("first-seen record not renewed", "repository", repository, "digest", digest, "error", err)
		}
	}
	return seen, nil
}

// expireLocal marks the front entries of one repository ("" for all)
// expired, keeping them as stale copies, and drops what this process
// remembers of the repository's generation and failures. Immutable config
// entries stay for a single repository.
func (c *cache) expireLocal(repository string) int {
	now := c.now()
	marked := 0
	for _, l := range c.layers {
		if repository != "" && l.name == LayerConfig {
			continue
		}
		for key, item := range l.items.Items() {
			e := item.Object.(*entry)
			if repository != "" && e.repository != repository {
				continue
			}
			if !e.usable(now) {
				continue
			}
			if e.fresh(now) {
				marked++
			}
			if l.name == LayerResult {
				l.delete(key)
				continue
			}
			l.put(key, e.expiredAt(now))
		}
	}
	for key, item := range c.negative.Items() {
		if repository == "" || item.Object.(*negative).repository == repository {
			c.negative.Delete(key)
			marked++
		}
	}
	c.forgetGenerations(repository)
	return marked
}

// invalidate expires a repository ("" for all) everywhere: it counts the
// fresh entries it expires, bumps the repository's generation in the
// store (replicas that miss the message see it on their next read) and
// broadcasts it (the others drop their front copies at once). The
// generation is bumped before this process forgets what it read, so that
// its next read sees the new one.
func (c *cache) invalidate(ctx context.Context, repository string) int {
	count := 0
	err := c.eachStoreEntry(ctx, repository, func(e Entry) bool {
		if e.Negative || (!e.Stale && (repository == "" || e.Layer != LayerConfig)) {
			count++
		}
		return true
	})
	target := repository
	if target == "" {
		target = allRepos
	}
	// A generation outlives every entry written under an older one.
	_, incrErr := c.store.Incr(ctx, keyGen+repository, c.layers[LayerTags].storeTTL)
	local := c.expireLocal(repository)
	if err != nil {
		count = local
	}
	if incrErr != nil {
		c.log.Warn("invalidation not shared: the store failed; other replicas see the change when their cache expires",
			"repository", target, "error", incrErr)
		return count
	}
	if err := c.store.Publish(ctx, channelInval, []byte(c.sender+" "+target)); err != nil {
		c.log.Warn("invalidation message not sent; other replicas see the change within memory-ttl", "repository", target, "error", err)
	}
	return count
}

// watch applies the invalidations other replicas broadcast until ctx ends,
// then passes each on to onInvalidate.
func (c *cache) watch(ctx context.Context, onInvalidate func(repository string)) error {
	return c.store.Subscribe(ctx, channelInval, func(msg []byte) {
		if msg == nil {
			// (Re)subscribed: messages may have been missed, so read the
			// generations again before trusting the front.
			c.forgetGenerations("")
			return
		}
		sender, repository, ok := strings.Cut(string(msg), " ")
		if !ok || sender == c.sender {
			return
		}
		if repository == allRepos {
			repository = ""
		}
		c.expireLocal(repository)
		if onInvalidate != nil {
			onInvalidate(repository)
		}
	})
}
