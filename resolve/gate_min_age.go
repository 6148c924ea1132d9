package resolve

import (
	"context"
	"fmt"
	"time"

	"github.com/argocd-image-resolver/argocd-image-resolver/imagespec"
)

// minAgeGate holds a candidate back until its digest has been known for
// the min-age.
//
// By default the age counts from when the plugin first saw the digest
// (recorded in the store at the first HEAD that returned it, by any
// replica), which nobody can backdate. Tags the repository already listed
// when min-age first looked at it (its baseline) count as old when their
// image's created time is older than the min-age too, so that a new
// install or an emptied store does not freeze every image, while a tag
// pushed a minute before the store was emptied is still held back. A
// baseline tag counts at the digest it had when min-age first judged it: a
// digest pushed to it later waits the full min-age. The limits: an image
// pushed just before the baseline was taken with a backdated created time
// passes, and so does one pushed with a backdated created time to a
// baseline tag min-age had never judged (one ranked below every tag it
// accepted). With min-age-source created the age counts from the created
// time alone.
type minAgeGate struct {
	ctx        context.Context
	age        time.Duration
	source     string
	now        time.Time
	repository string
	cache      *cache
	meta       Metadata
	baseline   *baseline
}

func (g *minAgeGate) name() string { return GateMinAge }

func (g *minAgeGate) label() string {
	if g.source == imagespec.AgeCreated {
		return "min-age " + formatAge(g.age) + " (created)"
	}
	return "min-age " + formatAge(g.age)
}

func (g *minAgeGate) check(tag, digest string) (*Held, error) {
	if g.source == imagespec.AgeCreated {
		created, err := g.meta.Created(tag)
		if err != nil {
			return nil, fmt.Errorf("read the created time of tag %s: %w", tag, err)
		}
		return g.judge(tag, digest, "created", created), nil
	}
	seen, err := g.cache.firstSeen(g.ctx, g.repository, digest)
	if err != nil {
		return nil, fmt.Errorf("read when digest %s was first seen: %w", digest, err)
	}
	if g.baseline.has(tag) && g.cache.baselineDigest(g.ctx, g.repository, tag, digest) {
		if created, err := g.meta.Created(tag); err == nil && !created.IsZero() && g.now.Sub(created) >= g.age {
			return nil, nil
		}
	}
	return g.judge(tag, digest, "first seen", seen), nil
}

func (g *minAgeGate) judge(tag, digest, since string, at time.Time) *Held {
	eligible := at.Add(g.age)
	if !g.now.Before(eligible) {
		return nil
	}
	return &Held{
		Tag: tag, Digest: digest, Gate: GateMinAge, EligibleAt: eligible,
		Reason: fmt.Sprintf("%s %s ago; min-age %s", since, formatAgo(g.now.Sub(at)), formatAge(g.age)),
	}
}
