// Package resolve answers one question: which image version does a policy
// allow right now? It parses image specs and their options, lists tags and
// reads metadata from registries through go-containerregistry, applies the
// update strategy and filters, and caches every layer. It knows nothing of
// Helm or Argo CD.
package resolve

import "time"

// Strategy names as users write them (aliases are normalised by the parser).
const (
	StrategySemver       = "semver"
	StrategyNewestBuild  = "newest-build"
	StrategyDigest       = "digest"
	StrategyAlphabetical = "alphabetical"
	StrategyNumeric      = "numeric"
)

// Pin modes: how a result is written into Helm values.
const (
	PinTag       = "tag"
	PinDigest    = "digest"
	PinTagDigest = "tag+digest"
)

// Result sources.
const (
	SourceRegistry = "registry"
	SourceCache    = "cache"
	SourceStale    = "stale"
)

// Spec is one image an Application asks for: `[alias=]image[:constraint]`
// plus its per-alias options.
type Spec struct {
	// Alias names the image in options and reports; defaults to the last
	// path element of the repository.
	Alias string `json:"alias"`
	// Image is the repository without tag, e.g. "ghcr.io/acme/web".
	Image string `json:"image"`
	// Constraint is the semver range or the tag after ':' in the spec, or
	// the range of "semver:<range>"; empty means "highest stable".
	Constraint string  `json:"constraint,omitempty"`
	Options    Options `json:"options"`
}

// Options are the per-alias options (`<alias>.<option>` keys).
type Options struct {
	Strategy   string   `json:"strategy"`
	AllowTags  string   `json:"allowTags,omitempty"`  // "regexp:<re>" or "any"
	IgnoreTags []string `json:"ignoreTags,omitempty"` // globs; "*" pauses the image
	Platforms  []string `json:"platforms,omitempty"`  // "linux/amd64", ...
	PullSecret string   `json:"pullSecret,omitempty"` // credential reference, never the secret itself

	Pin         string `json:"pin"`                   // PinTag, PinDigest or PinTagDigest
	OverrideTag string `json:"overrideTag,omitempty"` // pins the alias to this tag

	// Helm value paths (dotted, list indexes allowed); empty means default.
	HelmImageName   string `json:"helmImageName,omitempty"`
	HelmImageTag    string `json:"helmImageTag,omitempty"`
	HelmImageSpec   string `json:"helmImageSpec,omitempty"`
	HelmImageShasum string `json:"helmImageShasum,omitempty"`
	HelmOverrideTag string `json:"helmOverrideTag,omitempty"`
}

// Candidate is one tag the strategy looked at and what happened to it.
type Candidate struct {
	Tag      string `json:"tag"`
	Accepted bool   `json:"accepted"`
	// Reason names the rule that dropped the tag, or why it was chosen.
	Reason string `json:"reason"`
}

// Result is what a spec resolved to, and why.
type Result struct {
	Alias      string `json:"alias"`
	Image      string `json:"image"`
	Registry   string `json:"registry,omitempty"`
	Strategy   string `json:"strategy"`
	Constraint string `json:"constraint"`
	Tag        string `json:"tag"`
	Digest     string `json:"digest"`
	Pinned     bool   `json:"pinned"`
	// Paused is set when ignore-tags holds "*": the image is not updated,
	// Tag is empty and the chart's own value must be kept.
	Paused     bool        `json:"paused,omitempty"`
	Source     string      `json:"source"`
	Candidates []Candidate `json:"candidates"`
	// ResolvedAt is when the registry answered (cached results keep it).
	ResolvedAt time.Time `json:"resolvedAt"`
}

// Metadata is what filters and strategies may ask about a tag of the spec's
// repository. The Resolver implements it through its cache; tests implement
// it with a map.
type Metadata interface {
	// Digest is the manifest digest the tag points at (a HEAD request).
	Digest(tag string) (string, error)
	// Created is the image config's created time; for an index, the newest
	// among the platforms the spec allows.
	Created(tag string) (time.Time, error)
	// Platforms lists "os/arch[/variant]" the tag provides (one entry for a
	// single-platform image).
	Platforms(tag string) ([]string, error)
}

// Strategy picks one tag among those the filters allowed.
type Strategy interface {
	// Pick returns the chosen tag and a verdict for every tag it was given.
	Pick(tags []string, meta Metadata) (tag string, candidates []Candidate, err error)
}
