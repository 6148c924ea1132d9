package refresh

import (
	"context"
	"sync"
	"time"
)

// comingOfAge remembers the earliest time a candidate held back by
// min-age (or follow-min-age) comes of age, among the results the
// refresher's passes saw, so that the leader checks again right then
// instead of at its next interval: the rollout happens on time without a
// webhook. The result cache expires at that time too (package resolve).
type comingOfAge struct {
	mu      sync.Mutex
	next    time.Time
	changed chan struct{}
}

func newComingOfAge() *comingOfAge {
	return &comingOfAge{changed: make(chan struct{}, 1)}
}

// note records t when it is earlier than what waits (zero is ignored).
func (c *comingOfAge) note(t time.Time) {
	if t.IsZero() {
		return
	}
	c.mu.Lock()
	earlier := c.next.IsZero() || t.Before(c.next)
	if earlier {
		c.next = t
	}
	c.mu.Unlock()
	if earlier {
		select {
		case c.changed <- struct{}{}:
		default:
		}
	}
}

// at is the earliest time noted, zero for none.
func (c *comingOfAge) at() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.next
}

// done forgets t once a pass for it started; the pass notes what is next.
func (c *comingOfAge) done(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.next.Equal(t) {
		c.next = time.Time{}
	}
}

// ComingOfAge is when the earliest held-back candidate the refresher saw
// comes of age, zero when none waits. The leader checks every tracked
// Application again at that time.
func (r *Refresher) ComingOfAge() time.Time { return r.ages.at() }

// waitForPass waits for the next periodic tick, or for the earliest
// held-back candidate to come of age, whichever is first. It returns false
// when ctx ends.
func (r *Refresher) waitForPass(ctx context.Context, tick <-chan time.Time) bool {
	for {
		at := r.ages.at()
		var fire <-chan time.Time
		var timer *time.Timer
		if !at.IsZero() {
			// A second late, so that the result cache has expired too.
			timer = time.NewTimer(max(at.Sub(r.now())+time.Second, 0))
			fire = timer.C
		}
		stop := func() {
			if timer != nil {
				timer.Stop()
			}
		}
		select {
		case <-ctx.Done():
			stop()
			return false
		case <-tick:
			stop()
			return true
		case <-fire:
			r.ages.done(at)
			r.log.Info("a held-back image comes of age; checking now", "at", at)
			return true
		case <-r.ages.changed:
			stop()
		}
	}
}
