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
	"context"
	"errors"
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

	// Rule names what decided the tag: the strategy and its range
	// (`semver "^1.2"`), `override-tag`, or `follow <app>`.
	Rule string `json:"rule,omitempty"`
	// Gates names the gates that accepted the tag, e.g. "min-age 24h",
	// "verify ci-keyless".
	Gates []string `json:"gates,omitempty"`
	// HeldBack lists the candidates the strategy ranks above Tag that a
	// gate refused, best first (at most maxHeldBack).
	HeldBack []Held `json:"heldBack,omitempty"`
	// Followed describes the Application a follow spec took its version
	// from; nil for other specs.
	Followed *Followed `json:"followed,omitempty"`
}

// Held is a candidate a gate refused although the strategy ranks it above
// the accepted tag.
type Held struct {
	Tag    string `json:"tag"`
	Digest string `json:"digest,omitempty"`
	// Gate is the gate that refused it: GateMinAge or GateVerify.
	Gate string `json:"gate"`
	// Reason is why, for people: "first seen 2h ago; min-age 24h".
	Reason string `json:"reason"`
	// EligibleAt is when a min-age gate accepts it (zero for other gates).
	EligibleAt time.Time `json:"eligibleAt,omitzero"`
}

// Gate names.
const (
	GateMinAge = "min-age"
	GateVerify = "verify"
)

// NextEligible is the earliest time a held-back candidate comes of age,
// when the result would change without any push; zero when none waits.
func (r Result) NextEligible() time.Time {
	var next time.Time
	for _, h := range r.HeldBack {
		if !h.EligibleAt.IsZero() && (next.IsZero() || h.EligibleAt.Before(next)) {
			next = h.EligibleAt
		}
	}
	return next
}

// Followed is what a follow spec found: the version another Application
// renders or runs.
type Followed struct {
	// App is the followed Application, "<namespace>/<name>".
	App     string `json:"app"`
	Project string `json:"project,omitempty"`
	Tag     string `json:"tag,omitempty"`
	Digest  string `json:"digest"`
	// Since is when the followed Application started rendering or
	// running this digest, as far as the plugin knows (zero: unknown).
	Since time.Time `json:"since,omitzero"`
	// From says where it was read: FollowFromTracker or FollowFromStatus.
	From string `json:"from"`
	// Previous is what the Application rendered before Digest (tracker
	// only; nil when unknown), for follow-min-age: while Digest is too
	// young, the follower keeps Previous if it ran long enough.
	Previous *Followed `json:"previous,omitempty"`
}

// Where a followed version was read.
const (
	FollowFromTracker = "tracker"
	FollowFromStatus  = "application status"
)

// FollowSource answers follow specs: which version of a repository
// another Application renders or runs. Package refresh implements it
// from the tracker and the Application's status.summary.images.
type FollowSource interface {
	// Followed returns what app ("<name>" in the control-plane namespace,
	// or "<namespace>/<name>") renders or runs of repository (canonical,
	// as Result.Repository). It returns an error wrapping ErrNotFollowed
	// when the app is unknown or uses no image of the repository.
	Followed(ctx context.Context, app, repository string) (Followed, error)
}

// ErrNotFollowed means a follow spec's Application is unknown or does not
// use the repository.
var ErrNotFollowed = errors.New("the followed Application does not use this image")

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
