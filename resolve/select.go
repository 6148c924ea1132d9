package resolve

import (
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/argocd-image-resolver/argocd-image-resolver/imagespec"
)

// ErrPaused is returned (wrapped with the alias) by Select for an image
// whose ignore-tags holds "*": its updates are paused.
var ErrPaused = errors.New(`updates paused by ignore-tags "*"`)

// ErrNoMatch means no tag satisfied the filters and the strategy. Strategies
// return it from Pick; Select returns a *NoMatchError, which matches it
// with errors.Is.
var ErrNoMatch = errors.New("no tag satisfies the policy")

// RuleCount is how many tags one rule dropped.
type RuleCount struct {
	Rule  string `json:"rule"`
	Count int    `json:"count"`
}

// NoMatchError says why no tag was left: how many tags the registry listed
// and how many each rule dropped, most first.
type NoMatchError struct {
	Alias  string
	Image  string
	Policy string // e.g. `semver "~1.6"`
	Seen   int
	Rules  []RuleCount
}

func (e *NoMatchError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s (%s): none of %d tags satisfies %s: ", e.Alias, e.Image, e.Seen, e.Policy)
	if e.Seen == 0 {
		b.WriteString("the repository lists no tags; check the image name and that its tags are pushed")
		return b.String()
	}
	for i, r := range e.Rules {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%d %s", r.Count, r.Rule)
	}
	return b.String()
}

// Is makes errors.Is(err, ErrNoMatch) true.
func (e *NoMatchError) Is(target error) bool { return target == ErrNoMatch }

// picker is what every strategy of this package implements beyond
// Strategy: verdicts with rule labels, and a short policy description.
type picker interface {
	Strategy
	pick(tags []string, meta Metadata) (string, []verdict, error)
	policy() string
}

// NewStrategy returns the strategy of a spec (semver when none is set).
// Its error is the spec's policy error (an *imagespec.OptionError).
func NewStrategy(spec Spec) (Strategy, error) {
	p, err := spec.Policy()
	if err != nil {
		return nil, err
	}
	return newPicker(p), nil
}

// newPicker builds the strategy of a compiled policy; the policy was
// checked when compiled, so there is nothing left to refuse.
func newPicker(p *imagespec.Policy) picker {
	switch p.Strategy {
	case StrategyNewestBuild:
		return newestBuildStrategy{}
	case StrategyDigest:
		return digestStrategy{tag: p.Constraint}
	case StrategyAlphabetical:
		return alphabeticalStrategy{}
	case StrategyNumeric:
		return numericStrategy{}
	default:
		return newSemverStrategy(p)
	}
}

// eagerPlatformAfter bounds how many picks Select retries when the chosen
// tag lacks a requested platform before it checks every remaining tag at
// once; it keeps registry calls low in the common case and the work linear
// for huge tag lists.
const eagerPlatformAfter = 8

// Select chooses the tag of spec among tags. It applies allow-tags and
// ignore-tags, then the strategy; when platforms are requested it reads
// the platforms of the tag the strategy picks, and picks again without it
// when one is missing, so metadata is read only for likely winners.
//
// Every distinct input tag appears exactly once in the candidates: the
// accepted tag first, then tags ranked above it that lack a platform, then
// the rest in the strategy's order (best first; tags it cannot rank, such as
// non-semver tags, sorted by name), then tags the name filters dropped,
// sorted by name.
//
// A paused image returns an error wrapping ErrPaused. When no tag is left
// the error is a *NoMatchError (errors.Is ErrNoMatch) counting the rules
// that dropped the tags. A spec whose options do not compile (only
// possible for one that did not come from ParseSpecs) fails with its
// *imagespec.OptionError.
func Select(spec Spec, tags []string, meta Metadata) (string, []Candidate, error) {
	sel, err := selectGated(spec, tags, meta, nil)
	return sel.tag, sel.candidates, err
}

// selection is what selectGated chose and why.
type selection struct {
	tag        string
	candidates []Candidate
	// held are the candidates gates refused, best first.
	held []Held
	// unsure is set when a gate could not judge a candidate (it was held
	// back): the choice may change as soon as the gate can judge again.
	unsure bool
}

// hold keeps a held-back candidate: the best maxHeldBack, and beyond them
// the one that comes of age first, so that Result.NextEligible is right
// however many are held back.
func (s *selection) hold(h Held) {
	if len(s.held) < maxHeldBack {
		s.held = append(s.held, h)
		return
	}
	if h.EligibleAt.IsZero() {
		return
	}
	next := Result{HeldBack: s.held}.NextEligible()
	if next.IsZero() || h.EligibleAt.Before(next) {
		s.held[maxHeldBack-1] = h
	}
}

// selectGated is Select with gates: after the filters, the strategy and
// the platform check accept a tag, every gate must accept its digest too;
// a refused tag is dropped and the strategy picks again. Refused tags are
// ranked right after the accepted one in the candidates.
func selectGated(spec Spec, tags []string, meta Metadata, gates []gate) (selection, error) {
	policy, err := spec.Policy()
	if err != nil {
		return selection{}, err
	}
	strat := newPicker(policy)
	filter := newTagFilter(&policy.Tags)
	tags = uniqueTags(tags)

	if spec.Options.Paused() {
		out := make([]Candidate, len(tags))
		for i, tag := range tags {
			out[i] = Candidate{Tag: tag, Reason: `ignored by ignore-tags "*"`}
		}
		sort.Slice(out, func(i, j int) bool { return out[i].Tag < out[j].Tag })
		return selection{candidates: out}, fmt.Errorf("%s (%s): %w", spec.Alias, spec.Image, ErrPaused)
	}

	var byName []verdict
	allowed := make([]string, 0, len(tags))
	for _, tag := range tags {
		if v, ok := filter.byName(tag); !ok {
			byName = append(byName, v)
			continue
		}
		allowed = append(allowed, tag)
	}
	sortVerdictsByTag(byName)

	meta = newMemoMetadata(meta)
	var byPlatform []verdict
	platformReads, platformFailures := 0, 0
	var firstPlatformErr string
	dropPlatform := func(tag string) bool {
		v, ok, failed := filter.byPlatform(tag, meta)
		if len(policy.Tags.Platforms) > 0 {
			platformReads++
		}
		if failed {
			platformFailures++
			if firstPlatformErr == "" {
				firstPlatformErr = "tag " + tag + ": " + v.Reason
			}
		}
		if !ok {
			byPlatform = append(byPlatform, v)
		}
		return !ok
	}
	var sel selection
	var byGate []verdict
	gateChecks := 0
	// dropGated runs the gates on a tag the platform check kept.
	dropGated := func(tag string) (bool, error) {
		if len(gates) == 0 {
			return false, nil
		}
		if gateChecks == maxGateChecks {
			return false, fmt.Errorf("gates held back the %d best tags; check the gates (%s) or narrow the tags with allow-tags", maxGateChecks, gateLabels(gates))
		}
		gateChecks++
		digest, err := meta.Digest(tag)
		if err != nil {
			return false, err
		}
		for _, g := range gates {
			held, err := g.check(tag, digest)
			if err != nil {
				sel.unsure = true
				held = &Held{Tag: tag, Digest: digest, Gate: g.name(), Reason: "not checked: " + err.Error()}
			}
			if held != nil {
				reason := held.Reason
				if !held.EligibleAt.IsZero() {
					reason += "; eligible at " + held.EligibleAt.UTC().Format(time.RFC3339)
				}
				byGate = append(byGate, reject(tag, "held back by "+g.label(), reason))
				sel.hold(*held)
				return true, nil
			}
		}
		return false, nil
	}

	for attempt := 0; ; attempt++ {
		if attempt == eagerPlatformAfter && len(policy.Tags.Platforms) > 0 {
			kept := allowed[:0]
			for _, tag := range allowed {
				if !dropPlatform(tag) {
					kept = append(kept, tag)
				}
			}
			allowed = kept
		}
		tag, ranked, err := strat.pick(allowed, meta)
		switch {
		case errors.Is(err, ErrNoMatch):
			all := concatVerdicts(byGate, byPlatform, ranked, byName)
			sel.candidates = candidates(all)
			if platformReads > 0 && platformFailures == platformReads {
				return sel, fmt.Errorf("%s (%s): cannot read the platforms of any of %d tags checked (%s); check registry access or drop the platforms option",
					spec.Alias, spec.Image, platformReads, firstPlatformErr)
			}
			return sel, &NoMatchError{
				Alias: spec.Alias, Image: spec.Image, Policy: strat.policy(),
				Seen: len(tags), Rules: countRules(all),
			}
		case err != nil:
			sel.candidates = candidates(concatVerdicts(byGate, byPlatform, ranked, byName))
			return sel, fmt.Errorf("%s (%s): %s: %w", spec.Alias, spec.Image, strat.policy(), err)
		}
		if dropPlatform(tag) {
			allowed = without(allowed, tag)
			continue
		}
		drop, err := dropGated(tag)
		if err != nil {
			sel.candidates = candidates(concatVerdicts(byGate, byPlatform, ranked, byName))
			return sel, fmt.Errorf("%s (%s): %w", spec.Alias, spec.Image, err)
		}
		if drop {
			allowed = without(allowed, tag)
			continue
		}
		// ranked starts with the accepted tag.
		all := concatVerdicts(ranked[:1], byGate, byPlatform, ranked[1:], byName)
		sel.tag, sel.candidates = tag, candidates(all)
		return sel, nil
	}
}

func gateLabels(gates []gate) string {
	labels := make([]string, len(gates))
	for i, g := range gates {
		labels[i] = g.label()
	}
	return strings.Join(labels, ", ")
}

func countRules(vs []verdict) []RuleCount {
	counts := make(map[string]int)
	for _, v := range vs {
		if !v.Accepted {
			counts[v.rule]++
		}
	}
	out := make([]RuleCount, 0, len(counts))
	for rule, n := range counts {
		out = append(out, RuleCount{Rule: rule, Count: n})
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Count != out[j].Count {
			return out[i].Count > out[j].Count
		}
		return out[i].Rule < out[j].Rule
	})
	return out
}

func concatVerdicts(parts ...[]verdict) []verdict {
	n := 0
	for _, p := range parts {
		n += len(p)
	}
	out := make([]verdict, 0, n)
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

// uniqueTags drops empty and repeated tags, keeping the first occurrence.
func uniqueTags(tags []string) []string {
	seen := make(map[string]struct{}, len(tags))
	out := make([]string, 0, len(tags))
	for _, t := range tags {
		if t == "" {
			continue
		}
		if _, dup := seen[t]; dup {
			continue
		}
		seen[t] = struct{}{}
		out = append(out, t)
	}
	return out
}

func without(tags []string, drop string) []string {
	out := make([]string, 0, len(tags))
	for _, t := range tags {
		if t != drop {
			out = append(out, t)
		}
	}
	return out
}

func sortVerdictsByTag(vs []verdict) {
	sort.Slice(vs, func(i, j int) bool { return vs[i].Tag < vs[j].Tag })
}

// acceptedFirst moves the accepted verdict to the front, keeping the order
// of the others.
func acceptedFirst(vs []verdict) []verdict {
	for i, v := range vs {
		if v.Accepted {
			out := make([]verdict, 0, len(vs))
			out = append(out, v)
			out = append(out, vs[:i]...)
			return append(out, vs[i+1:]...)
		}
	}
	return vs
}

// memoMetadata remembers answers for the duration of one Select, so that
// repeated picks do not ask the Resolver again.
type memoMetadata struct {
	next      Metadata
	digests   map[string]memo[string]
	created   map[string]memo[time.Time]
	platforms map[string]memo[[]string]
}

type memo[T any] struct {
	v   T
	err error
}

func newMemoMetadata(next Metadata) *memoMetadata {
	return &memoMetadata{
		next:      next,
		digests:   make(map[string]memo[string]),
		created:   make(map[string]memo[time.Time]),
		platforms: make(map[string]memo[[]string]),
	}
}

func remember[T any](m map[string]memo[T], tag string, load func(string) (T, error)) (T, error) {
	if r, ok := m[tag]; ok {
		return r.v, r.err
	}
	v, err := load(tag)
	m[tag] = memo[T]{v: v, err: err}
	return v, err
}

func (m *memoMetadata) Digest(tag string) (string, error) {
	return remember(m.digests, tag, m.next.Digest)
}

func (m *memoMetadata) Created(tag string) (time.Time, error) {
	return remember(m.created, tag, m.next.Created)
}

func (m *memoMetadata) Platforms(tag string) ([]string, error) {
	return remember(m.platforms, tag, m.next.Platforms)
}
