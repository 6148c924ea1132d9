package imagespec

import (
	"errors"
	"fmt"
	"path"
	"regexp"
	"slices"
	"strings"

	"github.com/Masterminds/semver/v3"
)

// Policy is the compiled form of what a spec asks of tag selection: the
// strategy, its range or tracked tag, and the tag rules. ParseAll builds
// it once per spec; filters and strategies read it and never validate
// again. It is read-only and safe to share.
type Policy struct {
	// Strategy is one of the Strategy* names, never empty.
	Strategy string
	// Constraint is the semver range as written ("" for none) with the
	// semver strategy, the tag the digest strategy follows (default
	// applied), and "" with every other strategy.
	Constraint string
	// Range is Constraint compiled (semver with a range only; nil
	// otherwise). RangeWithPre is the same range admitting pre-releases,
	// which tells "excluded as a pre-release" from "outside the range".
	Range, RangeWithPre *semver.Constraints
	// Strict is strict-semver: only full MAJOR.MINOR.PATCH tags are
	// versions.
	Strict bool
	// Tags are the compiled allow-tags, ignore-tags and platforms.
	Tags TagRules

	// from is what the policy was compiled from, so that a Spec changed
	// after parsing is compiled again rather than served a stale policy.
	from source
}

// TagRules are the compiled allow-tags, ignore-tags and platforms
// options.
type TagRules struct {
	// AllowTags is allow-tags as written ("", "any" or "regexp:<re>").
	AllowTags string
	// Allow is the allow-tags expression; nil allows every tag.
	Allow *regexp.Regexp
	// Ignore are the ignore-tags globs, each valid for path.Match.
	Ignore []string
	// Platforms are "os/arch[/variant]" strings, each well-formed.
	Platforms []string
}

// source is the part of a Spec a Policy depends on.
type source struct {
	strategy, constraint, allowTags string
	loose                           bool
	ignore, platforms               []string
}

func sourceOf(s Spec) source {
	return source{
		strategy: s.Options.Strategy, constraint: s.Constraint, allowTags: s.Options.AllowTags,
		loose: s.Options.LooseSemver, ignore: slices.Clone(s.Options.IgnoreTags), platforms: slices.Clone(s.Options.Platforms),
	}
}

// matches reports whether s still holds what the policy was compiled from.
func (a source) matches(s Spec) bool {
	o := s.Options
	return a.strategy == o.Strategy && a.constraint == s.Constraint && a.allowTags == o.AllowTags &&
		a.loose == o.LooseSemver && slices.Equal(a.ignore, o.IgnoreTags) && slices.Equal(a.platforms, o.Platforms)
}

var platformPattern = regexp.MustCompile(`^[a-z0-9]+/[a-z0-9_]+(?:/[a-z0-9]+)?$`)

// Policy returns the spec's compiled policy: the one ParseAll built, or,
// for a Spec written as a literal, decoded from JSON (the tracker stores
// specs so) or changed since it was parsed, a policy compiled now by the
// same rules.
func (s Spec) Policy() (*Policy, error) {
	if s.policy != nil && s.policy.from.matches(s) {
		return s.policy, nil
	}
	return Compile(s)
}

// Compile checks and compiles the selection options of a spec: the
// strategy, the constraint against it, and the tag rules. It is where
// those rules live; ParseAll calls it, and so does Policy for specs that
// did not come from ParseAll. Errors are *OptionError values, joined.
func Compile(s Spec) (*Policy, error) {
	rules, err := compileTagRules(s)
	if err != nil {
		return nil, err
	}
	return compile(s, rules)
}

// CompileTagRules checks and compiles allow-tags, ignore-tags and
// platforms alone.
func CompileTagRules(o Options) (*TagRules, error) {
	rules, err := compileTagRules(Spec{Options: o})
	if err != nil {
		return nil, err
	}
	return &rules, nil
}

// compile completes a policy from checked tag rules: strategy and
// constraint.
func compile(s Spec, rules TagRules) (*Policy, error) {
	bad := func(opt, value string, err error) error {
		return &OptionError{Alias: s.Alias, Image: s.Image, Option: opt, Value: value, Err: err}
	}
	// "semver:<range>" is an option value the parser splits; a Spec holds
	// the name alone.
	strategy, err := strategyName(s.Options.Strategy)
	if err != nil {
		return nil, bad(OptUpdateStrategy, s.Options.Strategy, err)
	}
	p := &Policy{Strategy: strategy, Strict: !s.Options.LooseSemver, Tags: rules, from: sourceOf(s)}
	c := s.Constraint
	switch strategy {
	case StrategySemver:
		p.Constraint = c
		if c == "" {
			break
		}
		rng, err := semver.NewConstraint(c)
		if err != nil {
			return nil, bad(optConstraint, c, fmt.Errorf("not a semver range (%v); write e.g. ~1.6, ^2, >=1.2 <2, or 1.2.3; to follow a mutable tag such as %q use update-strategy digest", err, c))
		}
		withPre := *rng
		withPre.IncludePrerelease = true
		p.Range, p.RangeWithPre = rng, &withPre
	case StrategyDigest:
		if c == "" {
			c = DefaultDigestTag
		}
		if !tagPattern.MatchString(c) {
			return nil, bad(optConstraint, c, errors.New("the digest strategy follows one tag, and this is not a valid tag name"))
		}
		p.Constraint = c
	default:
		if c != "" {
			return nil, bad(optConstraint, c, fmt.Errorf("strategy %s ranks every allowed tag and takes no constraint; remove %q from the image, or restrict tags with %s.%s",
				strategy, ":"+c, s.Alias, OptAllowTags))
		}
	}
	return p, nil
}

// compileTagRules checks and compiles allow-tags, ignore-tags and
// platforms, reporting every problem.
func compileTagRules(s Spec) (TagRules, error) {
	o := s.Options
	var errs []error
	bad := func(opt, value string, err error) {
		errs = append(errs, &OptionError{Alias: s.Alias, Image: s.Image, Option: opt, Value: value, Err: err})
	}
	// Copies: the rules must not change when the caller's Options do.
	rules := TagRules{AllowTags: o.AllowTags, Ignore: slices.Clone(o.IgnoreTags), Platforms: slices.Clone(o.Platforms)}
	switch v := o.AllowTags; {
	case v == "" || v == "any":
	case strings.HasPrefix(v, "regexp:"):
		re, err := regexp.Compile(strings.TrimPrefix(v, "regexp:"))
		if err != nil {
			bad(OptAllowTags, v, fmt.Errorf("bad regular expression: %v", err))
			break
		}
		rules.Allow = re
	default:
		bad(OptAllowTags, v, errors.New(`allowed: "regexp:<expression>" or "any"`))
	}
	for _, g := range o.IgnoreTags {
		if _, err := path.Match(g, ""); err != nil {
			bad(OptIgnoreTags, strings.Join(o.IgnoreTags, ","), fmt.Errorf("glob %q: %v; write comma-separated globs such as *-debug,sha-*", g, err))
			break
		}
	}
	for _, p := range o.Platforms {
		if !platformPattern.MatchString(p) {
			bad(OptPlatforms, strings.Join(o.Platforms, ","), fmt.Errorf("platform %q: write os/arch[/variant] in lowercase, comma-separated, e.g. linux/amd64,linux/arm64/v8", p))
			break
		}
	}
	return rules, errors.Join(errs...)
}
