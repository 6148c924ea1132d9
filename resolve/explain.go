package resolve

import "context"

// Explanation is a Result with the reasons behind it.
type Explanation struct {
	Result
	// Candidates is every distinct tag the registry lists, in Select's
	// order, each with the rule that accepted or dropped it; also when
	// resolution failed because no tag was left. Empty for pinned and
	// paused images, which no tag list decides.
	Candidates []Candidate `json:"candidates"`
}

// Explain resolves spec as ResolveOne does, through the same cache (a
// cached result is answered as it is), and says why: the verdict on every
// candidate tag. Candidates are never cached; for a cached result they
// are recomputed from the cached tag list and metadata, which costs no
// registry call while those are fresh. They can name a tag other than
// Result.Tag only in the moment the tag list was refreshed before the
// result expired. Explanations are not counted as resolutions.
func (r *Resolver) Explain(ctx context.Context, spec Spec) (Explanation, error) {
	ctx = withProject(ctx, spec.Project)
	res, candidates, err := r.resolve(ctx, spec, true)
	if candidates == nil {
		candidates = []Candidate{}
	}
	return Explanation{Result: res, Candidates: candidates}, err
}

// recomputeCandidates runs Select again over the cached tag list (asking
// the registry only for what is no longer cached). An explanation that
// cannot be had leaves the result as it is, without candidates.
func (r *Resolver) recomputeCandidates(meta *repoMetadata, t target) []Candidate {
	tags, err := meta.tags()
	if err != nil {
		r.log.Debug("candidates not recomputed: no tag list", "image", meta.spec.Image, "error", r.secrets.scrub(err.Error()))
		return nil
	}
	gates, err := r.gatesFor(meta, t, tags)
	if err != nil {
		return nil
	}
	sel, _ := selectGated(meta.spec, tags, meta, gates)
	return sel.candidates
}
