package resolve

import (
	"context"
	"time"
)

// peekResult returns a fresh result without asking the registry. The
// store is read once however many callers peek at the same time.
func (c *cache) peekResult(ctx context.Context, s slot) (Result, bool) {
	now := c.now()
	e := s.l.get(s.id, now)
	if e != nil && e.fresh(now) && e.inStep(now, c.memoryTTL) {
		return c.hit(s.l, e).value.(Result), true
	}
	v, _, _ := s.l.group.Do("peek|"+s.id, func() (any, error) {
		shared, err := c.readShared(context.WithoutCancel(ctx), s)
		switch {
		case err == nil && shared.fresh != nil:
			c.adopt(s, shared.fresh)
			return shared.fresh, nil
		case e != nil && e.fresh(now):
			// Store failing, or our own result not written there.
			e.markSynced(now)
			return e, nil
		}
		return (*entry)(nil), nil
	})
	if found := v.(*entry); found != nil {
		return c.hit(s.l, found).value.(Result), true
	}
	c.metrics.lookup(s.l.name, lookupMiss)
	return Result{}, false
}

// putResult stores a result first-writer-wins: when another replica stored
// one for the same spec and generation first, that one is returned and
// kept, so that every replica renders the same answer.
//
// Renders of one spec that finish together in this process write once.
//
// A result that would change at a known time without any push (a candidate
// min-age holds back comes of age) is fresh only until then (until; zero:
// the layer's TTL).
func (c *cache) putResult(ctx context.Context, s slot, res Result, summary string, until time.Time) (kept Result, ours bool) {
	v, _, _ := s.l.group.Do("put|"+s.id, func() (any, error) {
		kept, _ := c.storeResult(context.WithoutCancel(ctx), s, res, summary, until)
		return kept, nil
	})
	kept = v.(Result)
	if kept.Tag == res.Tag && kept.Digest == res.Digest {
		return res, true
	}
	return kept, false
}

func (c *cache) storeResult(ctx context.Context, s slot, res Result, summary string, until time.Time) (kept Result, ours bool) {
	e := c.newEntry(s, res, summary)
	ttl := s.l.storeTTL
	if !until.IsZero() && until.Before(e.freshUntil) {
		e.freshUntil = until
		// The shared copy goes when it stops being fresh, so that the
		// next replica to resolve writes the answer every replica takes.
		ttl = max(until.Sub(c.now()), time.Second)
	}
	se, err := c.stored(e)
	if err != nil {
		s.l.put(s.id, e)
		return res, true
	}
	set, err := c.entries.SetNX(ctx, s.id, se, ttl)
	if err == nil && !set {
		if shared, err := c.readShared(ctx, s); err == nil && shared.fresh != nil {
			c.adopt(s, shared.fresh)
			return shared.fresh.value.(Result), false
		}
	}
	s.l.put(s.id, e)
	return res, true
}
