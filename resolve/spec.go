package resolve

import "github.com/argocd-image-resolver/argocd-image-resolver/imagespec"

// Image specs and their options are parsed, checked and compiled by
// package imagespec, which holds the rules, their tests and the fuzz
// target; these names keep the callers' code as it reads.

// UpdaterPrefix is the annotation prefix of argocd-image-updater. Option
// keys copied from its annotations may keep it; the parser strips it.
const UpdaterPrefix = imagespec.UpdaterPrefix

// DefaultDigestTag is the tag the digest strategy follows when the spec
// names none.
const DefaultDigestTag = imagespec.DefaultDigestTag

// Option names, as written after `<alias>.` in option keys.
const (
	OptUpdateStrategy  = imagespec.OptUpdateStrategy
	OptAllowTags       = imagespec.OptAllowTags
	OptIgnoreTags      = imagespec.OptIgnoreTags
	OptPlatforms       = imagespec.OptPlatforms
	OptPullSecret      = imagespec.OptPullSecret
	OptHelmImageName   = imagespec.OptHelmImageName
	OptHelmImageTag    = imagespec.OptHelmImageTag
	OptHelmImageSpec   = imagespec.OptHelmImageSpec
	OptHelmImageShasum = imagespec.OptHelmImageShasum
	OptHelmOverrideTag = imagespec.OptHelmOverrideTag
	OptOverrideTag     = imagespec.OptOverrideTag
	OptPin             = imagespec.OptPin
	OptStrictSemver    = imagespec.OptStrictSemver
	OptHelmCreatePaths = imagespec.OptHelmCreatePaths
	OptCheckRendered   = imagespec.OptCheckRendered
	OptMinAge          = imagespec.OptMinAge
	OptMinAgeSource    = imagespec.OptMinAgeSource
	OptVerify          = imagespec.OptVerify
	OptFollow          = imagespec.OptFollow
	OptFollowMinAge    = imagespec.OptFollowMinAge
	OptAnnotate        = imagespec.OptAnnotate
	OptRewrite         = imagespec.OptRewrite
)

// SpecOption sets a default that per-alias options may override.
type SpecOption = imagespec.Option

// StrictSemverByDefault sets the default of the strict-semver option (on
// unless the operator turns it off, e.g. serve --strict-semver=false).
func StrictSemverByDefault(strict bool) SpecOption { return imagespec.StrictSemverByDefault(strict) }

// ParseSpec parses one `[alias=]image[:constraint-or-tag]` spec with
// default options (imagespec.Parse).
func ParseSpec(s string) (Spec, error) { return imagespec.Parse(s) }

// ParseSpecs parses image specs and their per-alias options, and compiles
// each spec's policy (imagespec.ParseAll).
func ParseSpecs(images []string, options map[string]string, opts ...SpecOption) ([]Spec, error) {
	return imagespec.ParseAll(images, options, opts...)
}

// IsOptionKey reports whether key (without the updater prefix) has the
// form <alias>.<option> for a known option.
func IsOptionKey(key string) bool { return imagespec.IsOptionKey(key) }

// OptionNames lists every per-alias option the parser accepts, sorted.
func OptionNames() []string { return imagespec.OptionNames() }
