package resolve

import (
	"errors"
	"fmt"
	"path"
	"regexp"
	"sort"
	"strings"

	"github.com/Masterminds/semver/v3"
	"github.com/google/go-containerregistry/pkg/name"
)

// UpdaterPrefix is the annotation prefix of argocd-image-updater. Option
// keys copied from its annotations may keep it; the parser strips it.
const UpdaterPrefix = "argocd-image-updater.argoproj.io/"

// DefaultDigestTag is the tag the digest strategy follows when the spec
// names none.
const DefaultDigestTag = "latest"

// Option names, as written after `<alias>.` in option keys.
const (
	OptUpdateStrategy  = "update-strategy"
	OptAllowTags       = "allow-tags"
	OptIgnoreTags      = "ignore-tags"
	OptPlatforms       = "platforms"
	OptPullSecret      = "pull-secret"
	OptHelmImageName   = "helm.image-name"
	OptHelmImageTag    = "helm.image-tag"
	OptHelmImageSpec   = "helm.image-spec"
	OptHelmImageShasum = "helm.image-shasum"
	OptHelmOverrideTag = "helm.override-tag"
	OptOverrideTag     = "override-tag"
	OptPin             = "pin"
)

// optionNames lists every accepted option, longest first so that a key such
// as "web.helm.image-tag" matches "helm.image-tag" before anything shorter.
var optionNames = func() []string {
	names := []string{
		OptUpdateStrategy, OptAllowTags, OptIgnoreTags, OptPlatforms,
		OptPullSecret, OptHelmImageName, OptHelmImageTag, OptHelmImageSpec,
		OptHelmImageShasum, OptHelmOverrideTag, OptOverrideTag, OptPin,
	}
	sort.Slice(names, func(i, j int) bool {
		if len(names[i]) != len(names[j]) {
			return len(names[i]) > len(names[j])
		}
		return names[i] < names[j]
	})
	return names
}()

const allowedStrategies = "semver, semver:<range>, newest-build (or latest), digest, alphabetical (or name), numeric"

var (
	aliasPattern    = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*$`)
	pathComponent   = regexp.MustCompile(`^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$`)
	tagPattern      = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$`)
	platformPattern = regexp.MustCompile(`^[a-z0-9]+/[a-z0-9_]+(?:/[a-z0-9]+)?$`)
)

// ParseSpec parses one `[alias=]image[:constraint-or-tag]` spec with default
// options. It is ParseSpecs for a single image and no options.
func ParseSpec(s string) (Spec, error) {
	specs, err := ParseSpecs([]string{s}, nil)
	if err != nil {
		return Spec{}, err
	}
	return specs[0], nil
}

// ParseSpecs parses image specs and their per-alias options.
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
func ParseSpecs(images []string, options map[string]string) ([]Spec, error) {
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
		if err := applyOptions(&specs[i], values[specs[i].Alias]); err != nil {
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
	if err := checkImage(image); err != nil {
		return Spec{}, err
	}
	spec.Image = image
	if spec.Alias == "" {
		spec.Alias = path.Base(image)
	}
	return spec, nil
}

// checkImage validates a repository reference without tag: an optional
// registry host[:port] followed by lowercase path components.
func checkImage(image string) error {
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

// groupOptions maps option keys to aliases, stripping the updater prefix.
func groupOptions(options map[string]string, aliases map[string]int) (map[string]map[string]string, []error) {
	keys := make([]string, 0, len(options))
	for k := range options {
		keys = append(keys, k)
	}
	sort.Strings(keys)

	known := make([]string, 0, len(aliases))
	for a := range aliases {
		known = append(known, a)
	}
	sort.Strings(known)

	var errs []error
	values := make(map[string]map[string]string)
	origin := make(map[string]string)
	for _, key := range keys {
		value := strings.TrimSpace(options[key])
		bare := strings.TrimPrefix(strings.TrimSpace(key), UpdaterPrefix)
		alias, opt, err := splitOptionKey(bare, aliases, known)
		if err != nil {
			errs = append(errs, fmt.Errorf("option %q: %w", key, err))
			continue
		}
		id := alias + "." + opt
		if first, seen := origin[id]; seen {
			if values[alias][opt] != value {
				errs = append(errs, fmt.Errorf("option %q: alias %q: %s is set twice with different values (%q as %q, %q as %q); keep one",
					key, alias, opt, values[alias][opt], first, value, key))
			}
			continue
		}
		origin[id] = key
		if values[alias] == nil {
			values[alias] = make(map[string]string)
		}
		values[alias][opt] = value
	}
	return values, errs
}

func splitOptionKey(key string, aliases map[string]int, known []string) (alias, opt string, err error) {
	if !strings.Contains(key, ".") {
		return "", "", fmt.Errorf("option keys are <alias>.<option>; options: %s", strings.Join(sortedOptionNames(), ", "))
	}
	unknownAlias := ""
	for _, o := range optionNames {
		if !strings.HasSuffix(key, "."+o) {
			continue
		}
		a := key[:len(key)-len(o)-1]
		if _, ok := aliases[a]; ok {
			return a, o, nil
		}
		if unknownAlias == "" {
			unknownAlias = a
		}
	}
	if unknownAlias != "" {
		return "", "", fmt.Errorf("no image has alias %q (aliases: %s); name the alias as in images, or add <alias>=<image>", unknownAlias, aliasList(known))
	}
	for _, a := range known {
		if strings.HasPrefix(key, a+".") {
			return "", "", fmt.Errorf("alias %q: unknown option %q; options: %s", a, key[len(a)+1:], strings.Join(sortedOptionNames(), ", "))
		}
	}
	return "", "", fmt.Errorf("unknown option; keys are <alias>.<option> with aliases %s and options %s", aliasList(known), strings.Join(sortedOptionNames(), ", "))
}

func aliasList(known []string) string {
	if len(known) == 0 {
		return "(none: no images)"
	}
	return strings.Join(known, ", ")
}

func sortedOptionNames() []string {
	names := append([]string(nil), optionNames...)
	sort.Strings(names)
	return names
}

// applyOptions sets the options of one spec, then defaults and checks the
// result as a whole (strategy against constraint, pin default).
func applyOptions(spec *Spec, values map[string]string) error {
	var errs []error
	bad := func(opt, value, format string, args ...any) {
		errs = append(errs, fmt.Errorf("alias %q (%s): %s %q: %s", spec.Alias, spec.Image, opt, value, fmt.Sprintf(format, args...)))
	}
	opts := Options{Strategy: StrategySemver}
	optNames := make([]string, 0, len(values))
	for o := range values {
		optNames = append(optNames, o)
	}
	sort.Strings(optNames)
	for _, o := range optNames {
		v := values[o]
		switch o {
		case OptUpdateStrategy:
			strategy, rng, err := parseStrategy(v)
			if err != nil {
				bad(o, v, "%v", err)
				continue
			}
			opts.Strategy = strategy
			if rng != "" {
				if spec.Constraint != "" && spec.Constraint != rng {
					bad(o, v, "the image spec already has constraint %q; set the range in one place", spec.Constraint)
					continue
				}
				spec.Constraint = rng
			}
		case OptAllowTags:
			if err := checkAllowTags(v); err != nil {
				bad(o, v, "%v", err)
				continue
			}
			opts.AllowTags = v
		case OptIgnoreTags:
			globs, err := parseIgnoreTags(v)
			if err != nil {
				bad(o, v, "%v", err)
				continue
			}
			opts.IgnoreTags = globs
		case OptPlatforms:
			platforms, err := parsePlatforms(v)
			if err != nil {
				bad(o, v, "%v", err)
				continue
			}
			opts.Platforms = platforms
		case OptPullSecret:
			opts.PullSecret = v
		case OptPin:
			switch v {
			case PinTag, PinDigest, PinTagDigest:
				opts.Pin = v
			default:
				bad(o, v, "allowed: %s, %s, %s", PinTag, PinDigest, PinTagDigest)
			}
		case OptOverrideTag:
			if v != "" && !tagPattern.MatchString(v) {
				bad(o, v, "not a valid tag (letters, digits, '_', '.', '-'; at most 128 characters, not starting with '.' or '-')")
				continue
			}
			opts.OverrideTag = v
		case OptHelmImageName:
			opts.HelmImageName = v
		case OptHelmImageTag:
			opts.HelmImageTag = v
		case OptHelmImageSpec:
			opts.HelmImageSpec = v
		case OptHelmImageShasum:
			opts.HelmImageShasum = v
		case OptHelmOverrideTag:
			opts.HelmOverrideTag = v
		}
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	if opts.Pin == "" {
		opts.Pin = PinTag
		if opts.Strategy == StrategyDigest {
			opts.Pin = PinDigest
		}
	}
	if opts.Strategy == StrategyDigest && spec.Constraint == "" {
		spec.Constraint = DefaultDigestTag
	}
	spec.Options = opts
	return checkConstraint(*spec)
}

// parseStrategy normalises an update-strategy value; rng is the range of
// "semver:<range>".
func parseStrategy(v string) (strategy, rng string, err error) {
	head, tail, hasRange := strings.Cut(v, ":")
	switch strings.ToLower(strings.TrimSpace(head)) {
	case "", StrategySemver:
		strategy = StrategySemver
	case StrategyNewestBuild, "latest":
		strategy = StrategyNewestBuild
	case StrategyDigest:
		strategy = StrategyDigest
	case StrategyAlphabetical, "name":
		strategy = StrategyAlphabetical
	case StrategyNumeric:
		strategy = StrategyNumeric
	default:
		return "", "", fmt.Errorf("unknown strategy; allowed: %s", allowedStrategies)
	}
	if hasRange {
		if strategy != StrategySemver {
			return "", "", fmt.Errorf("only semver takes a range after ':'; allowed: %s", allowedStrategies)
		}
		rng = strings.TrimSpace(tail)
		if rng == "" {
			return "", "", errors.New("empty range after 'semver:'; write semver:~1.6 or plain semver")
		}
	}
	return strategy, rng, nil
}

// checkConstraint verifies that the constraint means something to the
// strategy: a semver range for semver, a tag for digest, nothing for the
// strategies that rank every allowed tag.
func checkConstraint(spec Spec) error {
	c := spec.Constraint
	switch spec.Options.Strategy {
	case StrategySemver:
		if c == "" {
			return nil
		}
		if _, err := semver.NewConstraint(c); err != nil {
			return fmt.Errorf("alias %q (%s): constraint %q: not a semver range (%v); write e.g. ~1.6, ^2, >=1.2 <2, or 1.2.3; to follow a mutable tag such as %q use update-strategy digest",
				spec.Alias, spec.Image, c, err, c)
		}
	case StrategyDigest:
		if !tagPattern.MatchString(c) {
			return fmt.Errorf("alias %q (%s): constraint %q: the digest strategy follows one tag, and this is not a valid tag name", spec.Alias, spec.Image, c)
		}
	default:
		if c != "" {
			return fmt.Errorf("alias %q (%s): constraint %q: strategy %s ranks every allowed tag and takes no constraint; remove %q from the image, or restrict tags with %s.allow-tags",
				spec.Alias, spec.Image, c, spec.Options.Strategy, ":"+c, spec.Alias)
		}
	}
	return nil
}

func checkAllowTags(v string) error {
	switch {
	case v == "" || v == "any":
		return nil
	case strings.HasPrefix(v, "regexp:"):
		if _, err := regexp.Compile(strings.TrimPrefix(v, "regexp:")); err != nil {
			return fmt.Errorf("bad regular expression: %v", err)
		}
		return nil
	default:
		return errors.New(`allowed: "regexp:<expression>" or "any"`)
	}
}

func parseIgnoreTags(v string) ([]string, error) {
	var globs []string
	for _, g := range strings.Split(v, ",") {
		g = strings.TrimSpace(g)
		if g == "" {
			continue
		}
		if _, err := path.Match(g, ""); err != nil {
			return nil, fmt.Errorf("glob %q: %v; write comma-separated globs such as *-debug,sha-*", g, err)
		}
		globs = append(globs, g)
	}
	return globs, nil
}

func parsePlatforms(v string) ([]string, error) {
	var platforms []string
	for _, p := range strings.Split(v, ",") {
		p = strings.TrimSpace(p)
		if p == "" {
			continue
		}
		if !platformPattern.MatchString(p) {
			return nil, fmt.Errorf("platform %q: write os/arch[/variant] in lowercase, comma-separated, e.g. linux/amd64,linux/arm64/v8", p)
		}
		platforms = append(platforms, p)
	}
	return platforms, nil
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

// Paused reports whether ignore-tags holds "*": the image is not updated.
func (o Options) Paused() bool {
	for _, g := range o.IgnoreTags {
		if g == "*" {
			return true
		}
	}
	return false
}
