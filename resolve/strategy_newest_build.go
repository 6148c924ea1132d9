package resolve

import (
	"fmt"
	"sort"
	"time"
)

// newestBuildStrategy picks the tag whose image was created last (the image
// config's "created" time, as Metadata.Created reports it). Tags with the
// same created time, common when one build is pushed under several tags,
// are ordered by name and the lexically highest wins. A tag whose created
// time cannot be read is rejected with the error; if no tag can be read at
// all, Pick fails with the first error, since that is a registry problem
// rather than a policy outcome.
type newestBuildStrategy struct{}

func (newestBuildStrategy) policy() string { return StrategyNewestBuild }

// Pick implements Strategy.
func (s newestBuildStrategy) Pick(tags []string, meta Metadata) (string, []Candidate, error) {
	tag, vs, err := s.pick(tags, meta)
	return tag, candidates(vs), err
}

type builtTag struct {
	tag     string
	created time.Time
}

func (newestBuildStrategy) pick(tags []string, meta Metadata) (string, []verdict, error) {
	tags = uniqueTags(tags)
	var built []builtTag
	var failed []verdict
	var firstErr error
	for _, tag := range tags {
		created, err := meta.Created(tag)
		if err != nil {
			if firstErr == nil {
				firstErr = fmt.Errorf("tag %s: %w", tag, err)
			}
			failed = append(failed, reject(tag, "cannot read created time", fmt.Sprintf("cannot read created time: %v", err)))
			continue
		}
		if created.IsZero() {
			// Ordering by the zero time would call it the oldest build,
			// which is a guess, not a fact.
			failed = append(failed, reject(tag, "no created time",
				"the image config has no created time, so newest-build cannot place it (rebuild with a created time, or use another strategy)"))
			continue
		}
		if created.Unix() == 0 && created.Nanosecond() == 0 {
			// Reproducible builds (ko, Bazel, Jib, Nix, SOURCE_DATE_EPOCH=0)
			// write the Unix epoch: every build claims the same moment.
			failed = append(failed, reject(tag, "created time is the Unix epoch",
				"the image config says created 1970-01-01T00:00:00Z, as reproducible builds (ko, Bazel, Jib, Nix) write, so newest-build cannot place it (set SOURCE_DATE_EPOCH to the commit time, or use semver or another strategy)"))
			continue
		}
		built = append(built, builtTag{tag: tag, created: created})
	}
	sortVerdictsByTag(failed)
	if len(built) == 0 && firstErr != nil {
		return "", failed, fmt.Errorf("cannot read the created time of any of %d tags: %w", len(tags), firstErr)
	}
	if len(built) == 0 {
		return "", failed, ErrNoMatch
	}
	sort.Slice(built, func(i, j int) bool {
		if !built[i].created.Equal(built[j].created) {
			return built[i].created.After(built[j].created)
		}
		return built[i].tag > built[j].tag
	})
	best := built[0]
	out := make([]verdict, 0, len(tags))
	out = append(out, verdict{Candidate: Candidate{Tag: best.tag, Accepted: true,
		Reason: "newest build, created " + best.created.UTC().Format(time.RFC3339)}})
	for _, b := range built[1:] {
		if b.created.Equal(best.created) {
			out = append(out, reject(b.tag, "same created time as the chosen tag",
				fmt.Sprintf("created at the same time as %s, which sorts higher", best.tag)))
			continue
		}
		out = append(out, reject(b.tag, "older than the chosen tag",
			fmt.Sprintf("older than %s (created %s)", best.tag, b.created.UTC().Format(time.RFC3339))))
	}
	return best.tag, append(out, failed...), nil
}
