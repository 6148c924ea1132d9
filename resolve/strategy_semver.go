package resolve

import (
	"fmt"
	"regexp"
	"sort"
	"strings"

	"github.com/Masterminds/semver/v3"

	"github.com/argocd-image-resolver/argocd-image-resolver/imagespec"
)

// semverStrategy picks the highest semantic version allowed by an optional
// Masterminds range. Tags may carry a "v" prefix. Pre-releases are allowed
// only by a range that names one (Masterminds semantics); with no range the
// highest stable version wins.
//
// Strict (the default, as in Kargo) only full MAJOR.MINOR.PATCH versions
// (optional "v", pre-release and build) are candidates: a date tag such as
// 20240601 would otherwise read as version 20240601.0.0 and outrank every
// release. Loose reads partial versions and numbers too, as
// argocd-image-updater does.
//
// When several tags spell the same version ("1.2.3" and "v1.2.3"), the
// canonical spelling (exactly "MAJOR.MINOR.PATCH[-pre]") wins, and among
// non-canonical spellings the lexically smallest tag.
type semverStrategy struct {
	raw    string
	strict bool
	// match is the range; nil when the spec has none.
	match *semver.Constraints
	// withPre is the same range with pre-releases included, used only to
	// tell "excluded because pre-release" from "outside the range".
	withPre *semver.Constraints
}

// newSemverStrategy takes the range compiled with the spec's policy.
func newSemverStrategy(p *imagespec.Policy) *semverStrategy {
	return &semverStrategy{raw: p.Constraint, strict: p.Strict, match: p.Range, withPre: p.RangeWithPre}
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
			noise = append(noise, reject(tag, ruleNotSemver, ruleNotSemver))
			continue
		}
		if s.strict {
			if rule, reason, ok := strictVersion(tag, v); !ok {
				noise = append(noise, reject(tag, rule, reason))
				continue
			}
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

// Rules that drop tags the semver strategy cannot rank.
const (
	ruleNotSemver = "not a semantic version"
	rulePartial   = "partial version"
	ruleDate      = "looks like a date"
	ruleNotStrict = "not strict semver"
)

// datePattern matches tags that are dates (20240601, 2024-06-01,
// 2024.06.01, optionally followed by a time or build number).
var datePattern = regexp.MustCompile(`^v?(19|20)\d\d[-._]?(0[1-9]|1[0-2])[-._]?(0[1-9]|[12]\d|3[01])([-._T]?\d+)*$`)

// strictVersion reports whether a tag that parses loosely as v is a full
// MAJOR.MINOR.PATCH version, and if not which rule drops it and why.
func strictVersion(tag string, v *semver.Version) (rule, reason string, ok bool) {
	if _, err := semver.StrictNewVersion(strings.TrimPrefix(tag, "v")); err == nil {
		return "", "", true
	}
	loose := fmt.Sprintf(`set strict-semver: "false" to read it as %s`, v.String())
	core, _, _ := strings.Cut(strings.TrimPrefix(tag, "v"), "-")
	core, _, _ = strings.Cut(core, "+")
	switch {
	case datePattern.MatchString(tag):
		return ruleDate, "looks like a date, not a version MAJOR.MINOR.PATCH (rank dates with update-strategy alphabetical)", false
	case strings.Count(core, ".") < 2:
		return rulePartial, "partial version: strict-semver wants MAJOR.MINOR.PATCH (" + loose + ")", false
	default:
		return ruleNotStrict, "not a strict semantic version MAJOR.MINOR.PATCH (" + loose + ")", false
	}
}

// allows applies the range (or the stable-only default) to one version.
func (s *semverStrategy) allows(v *semver.Version) (reason, rule string, ok bool) {
	const preRule = "pre-release (add -0 to the constraint to allow them, e.g. ^1.0.0-0)"
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
