package resolve

import "github.com/argocd-image-resolver/argocd-image-resolver/imagespec"

// gatesFor builds the gates of one resolution: min-age (the spec's, or its
// registries.conf entry's default) and verify.
func (r *Resolver) gatesFor(meta *repoMetadata, t target, tags []string) ([]gate, error) {
	spec := meta.spec
	var gates []gate
	age := spec.Options.MinAge
	// A registry's default spares the digest strategy, which has no older
	// version to render while a new digest waits.
	if age == nil && t.entry != nil && t.entry.MinAge > 0 && spec.Options.Strategy != imagespec.StrategyDigest {
		age = &t.entry.MinAge
	}
	if age != nil && *age > 0 {
		g := &minAgeGate{
			ctx: meta.ctx, age: *age, source: spec.Options.MinAgeSource, now: r.now(),
			repository: meta.repo.Name(), cache: r.cache, meta: meta,
		}
		if g.source != imagespec.AgeCreated {
			g.baseline = r.cache.baseline(meta.ctx, meta.repo.Name(), tags)
		}
		gates = append(gates, g)
	}
	v, err := r.verifyGateFor(meta)
	if err != nil {
		return nil, err
	}
	if v != nil {
		gates = append(gates, v)
	}
	return gates, nil
}
