package resolve

import (
	"context"
	"encoding/json"
	"time"
)

// Baselines: the tags a repository listed when min-age first looked at it.
const (
	keyBaseline = "b|" // b|<repository>: JSON list of tags
	// baselineMemoTTL is how long a process keeps a baseline it read; the
	// stored copy never changes while it lives.
	baselineMemoTTL = time.Hour
	// maxBaselines bounds the baselines kept in the process.
	maxBaselines = 256
)

// baseline returns the tags repository listed when min-age first looked at
// it, recording tags as that list when none is stored (first writer wins
// across replicas). A store that fails makes tags the baseline of this
// resolution only: the created-time rule still holds young images back.
func (c *cache) baseline(ctx context.Context, repository string, tags []string) map[string]bool {
	if v, ok := c.baselines.Get(repository); ok {
		return v.(map[string]bool)
	}
	v, _, _ := c.genGroup.Do("baseline|"+repository, func() (any, error) {
		set := toSet(tags)
		raw, err := json.Marshal(tags)
		if err != nil {
			return set, nil
		}
		key := keyBaseline + repository
		written, err := c.store.SetNX(ctx, key, raw, firstSeenTTL)
		if err != nil {
			c.log.Debug("min-age baseline not stored", "repository", repository, "error", err)
			return set, nil
		}
		if !written {
			vals, err := c.store.Get(ctx, key)
			var stored []string
			if err != nil || vals[0] == nil || json.Unmarshal(vals[0], &stored) != nil {
				return set, nil
			}
			set = toSet(stored)
		}
		c.baselines.Set(repository, set, baselineMemoTTL)
		return set, nil
	})
	return v.(map[string]bool)
}

func toSet(tags []string) map[string]bool {
	set := make(map[string]bool, len(tags))
	for _, t := range tags {
		set[t] = true
	}
	return set
}
