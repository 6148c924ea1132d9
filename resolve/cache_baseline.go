package resolve

import (
	"context"
	"encoding/json"
	"time"
)

// Baselines: the tags a repository listed when min-age first looked at it.
const (
	keyBaseline       = "b|"  // b|<repository>: JSON baseline
	keyBaselineDigest = "bd|" // bd|<repository>|<tag>: the digest a baseline tag counts at
	// baselineMemoTTL is how long a process trusts a baseline it read
	// before it reads the store again (which notices an emptied store).
	baselineMemoTTL = 5 * time.Second
	// maxBaselines bounds the baselines kept in the process.
	maxBaselines = 256
)

// baseline is what a repository held when min-age first looked at it.
type baseline struct {
	At   time.Time `json:"at"`
	Tags []string  `json:"tags"`
	set  map[string]bool
}

// has reports whether tag was listed when the baseline was taken.
func (b *baseline) has(tag string) bool { return b != nil && b.set[tag] }

// baselineDigest reports whether digest is the digest baseline tag tag
// counts at: the one it had when min-age first judged it (recorded now if
// it never did). A digest pushed to the tag later is not part of the
// baseline. A failing store answers no, which holds the tag back.
func (c *cache) baselineDigest(ctx context.Context, repository, tag, digest string) bool {
	key := keyBaselineDigest + repository + "|" + tag
	written, err := c.store.SetNX(ctx, key, []byte(digest), 0)
	if err != nil {
		return false
	}
	if written {
		return true
	}
	vals, err := c.store.Get(ctx, key)
	return err == nil && string(vals[0]) == digest
}

// baseline returns the baseline of repository, taking tags as it at now
// when none is stored (first writer wins across replicas). It never
// expires: a baseline taken again would let a tag pushed just before with
// a backdated created time through. A store that fails makes tags the
// baseline of this resolution only.
func (c *cache) baseline(ctx context.Context, repository string, tags []string) *baseline {
	if v, ok := c.baselines.Get(repository); ok {
		return v.(*baseline)
	}
	v, _, _ := c.genGroup.Do("baseline|"+repository, func() (any, error) {
		b := &baseline{At: c.now().UTC(), Tags: tags}
		b.set = toSet(b.Tags)
		raw, err := json.Marshal(b)
		if err != nil {
			return b, nil
		}
		key := keyBaseline + repository
		written, err := c.store.SetNX(ctx, key, raw, 0)
		if err != nil {
			c.log.Debug("min-age baseline not stored", "repository", repository, "error", err)
			return b, nil
		}
		if !written {
			vals, err := c.store.Get(ctx, key)
			var stored baseline
			if err != nil || vals[0] == nil || json.Unmarshal(vals[0], &stored) != nil {
				return b, nil
			}
			stored.set = toSet(stored.Tags)
			b = &stored
		}
		c.baselines.Set(repository, b, baselineMemoTTL)
		return b, nil
	})
	return v.(*baseline)
}

func toSet(tags []string) map[string]bool {
	set := make(map[string]bool, len(tags))
	for _, t := range tags {
		set[t] = true
	}
	return set
}
