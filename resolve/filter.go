package resolve

import (
	"fmt"
	"path"
	"regexp"
	"strings"

	"github.com/argocd-image-resolver/argocd-image-resolver/imagespec"
)

// verdict is a Candidate plus the short rule label that Select counts when
// no tag is left ("9 outside constraint").
type verdict struct {
	Candidate
	rule string
}

func reject(tag, rule, reason string) verdict {
	return verdict{Candidate: Candidate{Tag: tag, Reason: reason}, rule: rule}
}

func candidates(vs []verdict) []Candidate {
	out := make([]Candidate, len(vs))
	for i, v := range vs {
		out[i] = v.Candidate
	}
	return out
}

// tagFilter applies the compiled allow-tags, ignore-tags and platforms
// options of one spec (imagespec.TagRules, checked when compiled).
type tagFilter struct {
	rules *imagespec.TagRules
}

func newTagFilter(rules *imagespec.TagRules) *tagFilter { return &tagFilter{rules: rules} }

// artifactTag matches the tags registries hold for artifacts about an
// image rather than images: cosign's sha256-<hex>.sig, .att and .sbom, and
// the OCI referrers tag scheme sha256-<hex>. Without this a newest-build or
// alphabetical policy could pick a signature.
var artifactTag = regexp.MustCompile(`^sha256-[0-9a-f]{64}(\.(sig|att|sbom))?$`)

// byName drops artifact tags, then applies allow-tags then ignore-tags; it needs no registry call.
// It returns the rejection and false when the tag is dropped.
func (f *tagFilter) byName(tag string) (verdict, bool) {
	if artifactTag.MatchString(tag) {
		const r = "a signature, attestation or SBOM tag, not an image version"
		return reject(tag, r, r), false
	}
	if f.rules.Allow != nil && !f.rules.Allow.MatchString(tag) {
		r := fmt.Sprintf("does not match allow-tags %q", f.rules.AllowTags)
		return reject(tag, r, r), false
	}
	for _, g := range f.rules.Ignore {
		if ok, _ := path.Match(g, tag); ok {
			r := fmt.Sprintf("ignored by ignore-tags %q", g)
			return reject(tag, r, r), false
		}
	}
	return verdict{}, true
}

// byPlatform keeps a tag whose image provides every requested platform. It
// asks the registry only when platforms are requested. A metadata error
// drops the tag; failed reports whether that happened.
func (f *tagFilter) byPlatform(tag string, meta Metadata) (v verdict, ok, failed bool) {
	if len(f.rules.Platforms) == 0 {
		return verdict{}, true, false
	}
	have, err := meta.Platforms(tag)
	if err != nil {
		return reject(tag, "cannot read platforms", fmt.Sprintf("cannot read platforms: %v", err)), false, true
	}
	var missing []string
	for _, want := range f.rules.Platforms {
		found := false
		for _, h := range have {
			if platformMatches(want, h) {
				found = true
				break
			}
		}
		if !found {
			missing = append(missing, want)
		}
	}
	if len(missing) == 0 {
		return verdict{}, true, false
	}
	r := "missing platform " + strings.Join(missing, ", ")
	if len(missing) > 1 {
		r = "missing platforms " + strings.Join(missing, ", ")
	}
	return reject(tag, r, r), false, false
}

// platformMatches compares "os/arch[/variant]" strings. A wanted platform
// without variant accepts any variant; arm64 without variant means v8, as
// in the OCI image index conventions.
func platformMatches(want, have string) bool {
	wos, warch, wvar := splitPlatform(want)
	hos, harch, hvar := splitPlatform(have)
	if wos != hos || warch != harch {
		return false
	}
	if wvar == "" {
		return true
	}
	return armVariant(harch, hvar) == armVariant(warch, wvar)
}

// armVariant fills in the implied variant of arm64 images.
func armVariant(arch, variant string) string {
	if arch == "arm64" && variant == "" {
		return "v8"
	}
	return variant
}

func splitPlatform(p string) (os, arch, variant string) {
	parts := strings.SplitN(strings.ToLower(strings.TrimSpace(p)), "/", 3)
	os = parts[0]
	if len(parts) > 1 {
		arch = parts[1]
	}
	if len(parts) > 2 {
		variant = parts[2]
	}
	return os, arch, variant
}

// FilterTags applies the allow-tags, ignore-tags and platforms options to
// tags, in that order. It returns the tags kept, in input order, and a
// Candidate naming the rule for every tag dropped. Platforms are read from
// meta only for tags the name filters kept, and only when platforms are
// requested; a tag whose platforms cannot be read is dropped with the
// error as reason. Select applies the same rules lazily, reading platforms
// only for the tags a strategy would pick. Options that do not compile are
// an error (an *imagespec.OptionError).
func FilterTags(o Options, tags []string, meta Metadata) (kept []string, rejected []Candidate, err error) {
	rules, err := imagespec.CompileTagRules(o)
	if err != nil {
		return nil, nil, err
	}
	f := newTagFilter(rules)
	for _, tag := range tags {
		if v, ok := f.byName(tag); !ok {
			rejected = append(rejected, v.Candidate)
			continue
		}
		if v, ok, _ := f.byPlatform(tag, meta); !ok {
			rejected = append(rejected, v.Candidate)
			continue
		}
		kept = append(kept, tag)
	}
	return kept, rejected, nil
}
