package resolve

import "fmt"

// digestStrategy follows one mutable tag (Spec.Constraint, default
// "latest"). It chooses that tag when the registry lists it; the Resolver
// then reads the digest the tag points at, so an update is a new digest
// under the same tag.
type digestStrategy struct {
	tag string
}

func (s digestStrategy) policy() string { return fmt.Sprintf("digest of tag %q", s.tag) }

// Pick implements Strategy.
func (s digestStrategy) Pick(tags []string, meta Metadata) (string, []Candidate, error) {
	tag, vs, err := s.pick(tags, meta)
	return tag, candidates(vs), err
}

func (s digestStrategy) pick(tags []string, _ Metadata) (string, []verdict, error) {
	var out []verdict
	found := false
	for _, tag := range uniqueTags(tags) {
		if tag == s.tag {
			found = true
			out = append(out, verdict{Candidate: Candidate{Tag: tag, Accepted: true,
				Reason: "tracked tag; its digest is followed"}})
			continue
		}
		out = append(out, reject(tag, "not the tracked tag", fmt.Sprintf("not the tracked tag %q", s.tag)))
	}
	sortVerdictsByTag(out)
	if !found {
		return "", out, ErrNoMatch
	}
	return s.tag, acceptedFirst(out), nil
}
