// Package resolve answers one question: which image version does a policy
// allow right now? It parses image specs and their options, lists tags and
// reads metadata from registries through go-containerregistry, applies the
// update strategy and filters, and caches every layer. It knows nothing of
// Helm or Argo CD.
//
// Trust boundary: the Resolver's options and registries.conf are admin
// input; specs and their options are author input (they come from
// Applications). A spec names an image and, with pull-secret, the *name*
// of a registries.conf entry, whose credentials serve only repositories
// under its prefix; it never names a file, variable or program of the
// sidecar. Where a spec may make the sidecar connect is the registries.conf
// rules of its project (package egress), checked before any request and
// on every connection. Errors carry HTTP statuses, registry error codes
// and hints, never the text of an answer.
package resolve

import (
	"time"

	"github.com/argocd-image-resolver/argocd-image-resolver/imagespec"
)

// Strategy names as users write them (aliases are normalised by the
// parser, package imagespec).
const (
	StrategySemver       = imagespec.StrategySemver
	StrategyNewestBuild  = imagespec.StrategyNewestBuild
	StrategyDigest       = imagespec.StrategyDigest
	StrategyAlphabetical = imagespec.StrategyAlphabetical
	StrategyNumeric      = imagespec.StrategyNumeric
)

// Pin modes: how a result is written into Helm values.
const (
	PinTag       = imagespec.PinTag
	PinDigest    = imagespec.PinDigest
	PinTagDigest = imagespec.PinTagDigest
)

// Result sources.
const (
	SourceRegistry = "registry"
	SourceCache    = "cache"
	SourceStale    = "stale"
)

// Spec is one image an Application asks for: `[alias=]image[:constraint]`
// plus its per-alias options, with their compiled Policy (package
// imagespec parses and compiles them).
type Spec = imagespec.Spec

// Options are the per-alias options (`<alias>.<option>` keys).
type Options = imagespec.Options

// Candidate is one tag the strategy looked at and what happened to it.
type Candidate struct {
	Tag      string `json:"tag"`
	Accepted bool   `json:"accepted"`
	// Reason names the rule that dropped the tag, or why it was chosen.
	Reason string `json:"reason"`
}

// Result is what a spec resolved to. Why (every candidate tag and its
// verdict) is not part of it: the result layer keeps only what renders
// need, and Resolver.Explain recomputes the candidates on demand.
type Result struct {
	Alias string `json:"alias"`
	Image string `json:"image"`
	// Repository is the image as resolved: the default registry and
	// namespace applied ("nginx" is "index.docker.io/library/nginx").
	Repository string `json:"repository,omitempty"`
	Registry   string `json:"registry,omitempty"`
	Strategy   string `json:"strategy"`
	Constraint string `json:"constraint"`
	Tag        string `json:"tag"`
	Digest     string `json:"digest"`
	Pinned     bool   `json:"pinned"`
	// Paused is set when ignore-tags holds "*": the image is not updated,
	// Tag is empty and the chart's own value must be kept.
	Paused bool   `json:"paused,omitempty"`
	Source string `json:"source"`
	// Warning says what could not be checked (a pin whose registry did not
	// answer); the result is usable.
	Warning string `json:"warning,omitempty"`
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
