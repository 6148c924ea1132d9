// Package imagespec parses what an Application asks for: image specs
// (`[alias=]image[:constraint-or-tag]`) and their per-alias options
// (`<alias>.<option>` keys), and compiles the options that drive tag
// selection (strategy, range, allow-tags regexp, ignore-tags globs,
// platforms) into a Policy once, so that filters and strategies never
// validate again.
//
// Specs are author input: this package decides what is accepted and says
// why not. It depends on Masterminds semver, go-containerregistry's name
// package and the standard library only, so that its fuzz target runs
// fast.
package imagespec

import (
	"errors"
	"fmt"
	"path"
	"regexp"
	"strings"
	"unicode/utf8"

	"github.com/google/go-containerregistry/pkg/name"
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
	// Project is the AppProject the spec is resolved for
	// (ARGOCD_APP_PROJECT_NAME), whose registries.conf rules apply. The
	// caller sets it from Argo CD's environment, never from options.
	Project string `json:"project,omitempty"`

	// policy is the compiled form ParseAll built; nil for a Spec written
	// as a literal or decoded from JSON (Policy compiles those on demand).
	policy *Policy
}

// Reference is the image and constraint as a spec writes them
// ("ghcr.io/acme/web:~1.6"), without the alias.
func (s Spec) Reference() string {
	if s.Constraint == "" {
		return s.Image
	}
	return s.Image + ":" + s.Constraint
}

// String is the spec in `alias=image[:constraint]` form.
func (s Spec) String() string {
	return s.Alias + "=" + s.Reference()
}

// Patterns of the spec grammar.
var (
	aliasPattern  = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*$`)
	pathComponent = regexp.MustCompile(`^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$`)
	tagPattern    = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$`)
)

// Parse parses one `[alias=]image[:constraint-or-tag]` spec with default
// options. It is ParseAll for a single image and no options.
func Parse(s string) (Spec, error) {
	specs, err := ParseAll([]string{s}, nil)
	if err != nil {
		return Spec{}, err
	}
	return specs[0], nil
}

// ParseAll parses image specs and their per-alias options.
//
// An image spec is `[alias=]image[:constraint-or-tag]`:
//   - the alias is optional and defaults to the last path element of the
//     repository ("web" for "ghcr.io/acme/web");
//   - a ':' before the last '/' belongs to the registry host (a port, as in
//     "127.0.0.1:5000/acme/web"); the constraint is whatever follows the
//     first ':' of the last path element;
//   - digests ("image@sha256:...") are rejected: a digest cannot be updated.
//     Pin a version with the override-tag option, or follow a mutable tag
//     with update-strategy digest.
//
// Option keys are `<alias>.<option>`, optionally prefixed with
// argocd-image-updater's annotation prefix. Every problem found is reported
// (joined), each naming the alias, the bad value and what is allowed.
// Every Spec returned carries its compiled Policy.
func ParseAll(images []string, options map[string]string, opts ...Option) ([]Spec, error) {
	defaults := defaults{strictSemver: true}
	for _, o := range opts {
		o(&defaults)
	}
	var errs []error
	specs := make([]Spec, 0, len(images))
	index := make(map[string]int, len(images))
	for i, raw := range images {
		spec, err := parseImage(raw)
		if err != nil {
			errs = append(errs, fmt.Errorf("images[%d] %q: %w", i, raw, err))
			continue
		}
		if prev, dup := index[spec.Alias]; dup {
			errs = append(errs, fmt.Errorf("images[%d] %q: alias %q is already used by images[%d] %q; give one of them another alias with <alias>=<image>",
				i, raw, spec.Alias, prev, images[prev]))
			continue
		}
		index[spec.Alias] = i
		specs = append(specs, spec)
	}

	values, err := groupOptions(options, index)
	errs = append(errs, err...)

	for i := range specs {
		if err := applyOptions(&specs[i], values[specs[i].Alias], defaults); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return specs, nil
}

// parseImage splits `[alias=]image[:constraint]` without looking at options.
func parseImage(raw string) (Spec, error) {
	s := strings.TrimSpace(raw)
	if s == "" {
		return Spec{}, errors.New("empty image spec; write [alias=]image[:constraint], e.g. web=ghcr.io/acme/web:~1.6")
	}
	if !utf8.ValidString(s) {
		// Specs are stored as JSON, which would replace the bad bytes.
		return Spec{}, errors.New("the image spec is not valid UTF-8")
	}
	var spec Spec
	if eq := strings.IndexByte(s, '='); eq >= 0 && aliasPattern.MatchString(strings.TrimSpace(s[:eq])) {
		spec.Alias, s = strings.TrimSpace(s[:eq]), strings.TrimSpace(s[eq+1:])
	} else if eq == 0 {
		return Spec{}, errors.New("empty alias before '='; write alias=image or leave the alias out")
	}
	if s == "" {
		return Spec{}, fmt.Errorf("alias %q has an empty image; write %s=<image>[:constraint]", spec.Alias, spec.Alias)
	}
	if strings.Contains(s, "@") {
		return Spec{}, errors.New("digests cannot be updated, so specs do not take '@<digest>'; pin a version with the override-tag option, or follow a tag with update-strategy digest")
	}
	image := s
	lastSlash := strings.LastIndexByte(s, '/')
	if colon := strings.IndexByte(s[lastSlash+1:], ':'); colon >= 0 {
		colon += lastSlash + 1
		image, spec.Constraint = s[:colon], strings.TrimSpace(s[colon+1:])
		if spec.Constraint == "" {
			return Spec{}, fmt.Errorf("empty constraint after ':' in %q; remove the ':' or write a range such as ~1.6 or a tag", s)
		}
	}
	if err := CheckRepository(image); err != nil {
		return Spec{}, err
	}
	spec.Image = image
	if spec.Alias == "" {
		spec.Alias = path.Base(image)
	}
	return spec, nil
}

// CheckRepository validates a repository reference without tag or
// digest: an optional registry host[:port] followed by lowercase path
// components separated by '.', '_', '__' or '-'. It is the one rule of
// what names a repository; webhook payloads are held to it too.
func CheckRepository(image string) error {
	repo, err := name.NewRepository(image)
	if err != nil {
		return fmt.Errorf("image %q is not a valid repository: %v", image, err)
	}
	for _, part := range strings.Split(repo.RepositoryStr(), "/") {
		if !pathComponent.MatchString(part) {
			return fmt.Errorf("image %q is not a valid repository: path element %q must be lowercase letters and digits, separated by '.', '_', '__' or '-'", image, part)
		}
	}
	return nil
}
