package resolve

import (
	"fmt"
	"sort"

	"github.com/Masterminds/semver/v3"
)

// semverStrategy picks the highest semantic version allowed by an optional
// Masterminds range. Tags may carry a "v" prefix. Pre-releases are allowed
// only by a range that names one (Masterminds semantics); with no range the
// highest stable version wins.
//
// When several tags spell the same version ("1.2.3" and "v1.2.3"), the
// canonical spelling (exactly "MAJOR.MINOR.PATCH[-pre]") wins, and among
// non-canonical spellings the lexically smallest tag.
type semverStrategy struct {
	raw string
	// match is the range; nil when the spec has none.
	match *semver.Constraints
	// withPre is the same range with pre-releases included, used only to
	// tell "excluded because pre-release" from "outside the range".
	withPre *semver.Constraints
}

func newSemverStrategy(constraint string) (*semverStrategy, error) {
	s := &semverStrategy{raw: constraint}
	if constraint == "" {
		return s, nil
	}
	c, err := semver.NewConstraint(constraint)
	if err != nil {
		return nil, err
	}
	pre := *c
	pre.IncludePrerelease = true
	s.match, s.withPre = c, &pre
	return s, nil
}

func (s *semverStrategy) policy() string {
	if s.raw == "" {
		return "semver (highest stable)"
	}
	return fmt.Sprintf("semver %q", s.raw)
}

// Pick implements Strategy.
func (s *semverStrategy) Pick(tags []string, meta Metadata) (string, []Candidate, error) {
	tag, vs, err := s.pick(tags, meta)
	return tag, candidates(vs), err
}

type parsedVersion struct {
	tag string
	v   *semver.Version
}

// canonical reports whether the tag is the plain spelling of its version.
func (p parsedVersion) canonical() bool { return p.tag == p.v.String() }

func (s *semverStrategy) pick(tags []string, _ Metadata) (string, []verdict, error) {
	var versions []parsedVersion
	var noise []verdict
	for _, tag := range uniqueTags(tags) {
		v, err := semver.NewVersion(tag)
		if err != nil {
			noise = append(noise, reject(tag, "not a semantic version", "not a semantic version"))
			continue
		}
		versions = append(versions, parsedVersion{tag: tag, v: v})
	}
	sort.SliceStable(versions, func(i, j int) bool {
		a, b := versions[i], versions[j]
		if c := a.v.Compare(b.v); c != 0 {
			return c > 0
		}
		if a.canonical() != b.canonical() {
			return a.canonical()
		}
		return a.tag < b.tag
	})
	sortVerdictsByTag(noise)

	var chosen *parsedVersion
	out := make([]verdict, 0, len(versions)+len(noise))
	for i := range versions {
		p := versions[i]
		if reason, rule, ok := s.allows(p.v); !ok {
			out = append(out, reject(p.tag, rule, reason))
			continue
		}
		if chosen == nil {
			chosen = &versions[i]
			reason := "highest stable version"
			if s.raw != "" {
				reason = fmt.Sprintf("highest version matching %q", s.raw)
			}
			out = append(out, verdict{Candidate: Candidate{Tag: p.tag, Accepted: true, Reason: reason}})
			continue
		}
		if p.v.Equal(chosen.v) {
			out = append(out, reject(p.tag, "same version as the chosen tag",
				fmt.Sprintf("same version as %s, which is preferred", chosen.tag)))
			continue
		}
		out = append(out, reject(p.tag, "lower than the chosen version", "lower than "+chosen.tag))
	}
	out = append(out, noise...)
	if chosen == nil {
		return "", out, ErrNoMatch
	}
	return chosen.tag, acceptedFirst(out), nil
}

// allows applies the range (or the stable-only default) to one version.
func (s *semverStrategy) allows(v *semver.Version) (reason, rule string, ok bool) {
	const preRule = "pre-release, constraint does not ask for one"
	if s.match == nil {
		if v.Prerelease() != "" {
			return preRule, preRule, false
		}
		return "", "", true
	}
	if s.match.Check(v) {
		return "", "", true
	}
	if v.Prerelease() != "" && s.withPre.Check(v) {
		return preRule, preRule, false
	}
	return fmt.Sprintf("outside constraint %q", s.raw), "outside constraint", false
}
