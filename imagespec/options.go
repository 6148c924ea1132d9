package imagespec

import (
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/go-containerregistry/pkg/name"
)

// UpdaterPrefix is the annotation prefix of argocd-image-updater. Option
// keys copied from its annotations may keep it; the parser strips it.
const UpdaterPrefix = "argocd-image-updater.argoproj.io/"

// DefaultDigestTag is the tag the digest strategy follows when the spec
// names none.
const DefaultDigestTag = "latest"

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
	OptStrictSemver    = "strict-semver"
	OptHelmCreatePaths = "helm.create-paths"
	OptCheckRendered   = "check-rendered"
	OptMinAge          = "min-age"
	OptMinAgeSource    = "min-age-source"
	OptVerify          = "verify"
	OptFollow          = "follow"
	OptFollowMinAge    = "follow-min-age"
	OptAnnotate        = "annotate"
	OptRewrite         = "rewrite"
	// OptKustomizeImageName is argocd-image-updater's kustomize.image-name:
	// the image name a Kustomize application's manifests use, which the
	// resolved image replaces when it differs from the spec's repository.
	OptKustomizeImageName = "kustomize.image-name"
)

// Sources of a candidate's age for min-age.
const (
	// AgeFirstSeen (the default) counts from when the plugin first saw
	// the digest, a time nobody can backdate.
	AgeFirstSeen = "first-seen"
	// AgeCreated counts from the image config's created time.
	AgeCreated = "created"
)

// optConstraint names the constraint in errors (it comes from the image
// spec or from "semver:<range>", not from an option of its own).
const optConstraint = "constraint"

const allowedStrategies = "semver, semver:<range>, newest-build (or latest), digest, alphabetical (or name), numeric"

// Options are the per-alias options (`<alias>.<option>` keys), as parsed.
// What drives tag selection is compiled into the Spec's Policy.
type Options struct {
	Strategy   string   `json:"strategy"`
	AllowTags  string   `json:"allowTags,omitempty"`  // "regexp:<re>" or "any"
	IgnoreTags []string `json:"ignoreTags,omitempty"` // globs; "*" pauses the image
	Platforms  []string `json:"platforms,omitempty"`  // "linux/amd64", ...
	PullSecret string   `json:"pullSecret,omitempty"` // name of a registries.conf entry

	Pin         string `json:"pin"`                   // PinTag, PinDigest or PinTagDigest
	OverrideTag string `json:"overrideTag,omitempty"` // pins the alias to this tag

	// LooseSemver (strict-semver "false") reads partial versions and plain
	// numbers ("1.2", "20240601") as semver, as argocd-image-updater does;
	// the zero value is strict: only MAJOR.MINOR.PATCH counts.
	LooseSemver bool `json:"looseSemver,omitempty"`
	// CreatePaths (helm.create-paths "true") lets render write value paths
	// the chart's values do not have; by default a missing path fails.
	CreatePaths bool `json:"createPaths,omitempty"`
	// NoRenderedCheck (check-rendered "false") skips the check that the
	// rendered manifests reference the resolved image.
	NoRenderedCheck bool `json:"noRenderedCheck,omitempty"`

	// MinAge (min-age) holds a candidate back until its digest has been
	// known this long; nil leaves the registries.conf entry's default,
	// zero turns it off. MinAgeSource is AgeFirstSeen or AgeCreated.
	MinAge       *time.Duration `json:"minAge,omitempty"`
	MinAgeSource string         `json:"minAgeSource,omitempty"`
	// Verify names the registries.conf signature policy a candidate's
	// digest must satisfy.
	Verify string `json:"verify,omitempty"`
	// Follow names the Application whose version this alias takes
	// ("<name>" or "<namespace>/<name>"); FollowMinAge is how long that
	// Application must have rendered it.
	Follow       string        `json:"follow,omitempty"`
	FollowMinAge time.Duration `json:"followMinAge,omitempty"`
	// Annotate writes the resolution into annotations of the rendered
	// workloads (annotate "true"); the zero value leaves it to serve
	// --annotate.
	Annotate bool `json:"annotate,omitempty"`
	// Rewrite (rewrite "true") writes the resolved reference into the
	// rendered manifests' containers that run the repository, for charts
	// that expose no image value; values are then written only for the
	// helm.image-* paths given.
	Rewrite bool `json:"rewrite,omitempty"`

	// Helm value paths (dotted, list indexes allowed); empty means default.
	HelmImageName   string `json:"helmImageName,omitempty"`
	HelmImageTag    string `json:"helmImageTag,omitempty"`
	HelmImageSpec   string `json:"helmImageSpec,omitempty"`
	HelmImageShasum string `json:"helmImageShasum,omitempty"`
	HelmOverrideTag string `json:"helmOverrideTag,omitempty"`

	// KustomizeImageName (kustomize.image-name) is the name of the image
	// in a Kustomize application's manifests (the `name` of its
	// kustomization images entry); empty means the spec's repository.
	KustomizeImageName string `json:"kustomizeImageName,omitempty"`
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

// Option sets a default that per-alias options may override.
type Option func(*defaults)

type defaults struct {
	strictSemver bool
}

// StrictSemverByDefault sets the default of the strict-semver option (on
// unless the operator turns it off, e.g. serve --strict-semver=false).
func StrictSemverByDefault(strict bool) Option {
	return func(d *defaults) { d.strictSemver = strict }
}

// optionNames lists every accepted option, longest first so that a key such
// as "web.helm.image-tag" matches "helm.image-tag" before anything shorter.
func optionNames() []string {
	names := sortedOptionNames()
	sort.SliceStable(names, func(i, j int) bool { return len(names[i]) > len(names[j]) })
	return names
}

// OptionNames lists every per-alias option the parser accepts, sorted.
func OptionNames() []string { return sortedOptionNames() }

func sortedOptionNames() []string {
	names := []string{
		OptUpdateStrategy, OptAllowTags, OptIgnoreTags, OptPlatforms,
		OptPullSecret, OptHelmImageName, OptHelmImageTag, OptHelmImageSpec,
		OptHelmImageShasum, OptHelmOverrideTag, OptOverrideTag, OptPin,
		OptStrictSemver, OptHelmCreatePaths, OptCheckRendered,
		OptMinAge, OptMinAgeSource, OptVerify, OptFollow, OptFollowMinAge, OptAnnotate,
		OptRewrite, OptKustomizeImageName,
	}
	sort.Strings(names)
	return names
}

// IsOptionKey reports whether key (without the updater prefix) has the
// form <alias>.<option> for a known option, as argocd-image-updater's
// per-alias annotation keys do.
func IsOptionKey(key string) bool {
	for _, o := range optionNames() {
		if a, ok := strings.CutSuffix(key, "."+o); ok && aliasPattern.MatchString(a) {
			return true
		}
	}
	return false
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

	names := optionNames()
	var errs []error
	values := make(map[string]map[string]string)
	origin := make(map[string]string)
	for _, key := range keys {
		value := strings.TrimSpace(options[key])
		if !utf8.ValidString(value) {
			// Specs are stored as JSON, which would replace the bad bytes:
			// the stored rule would differ from the rendered one.
			errs = append(errs, fmt.Errorf("option %q: the value is not valid UTF-8", key))
			continue
		}
		bare := strings.TrimPrefix(strings.TrimSpace(key), UpdaterPrefix)
		alias, opt, err := splitOptionKey(bare, names, aliases, known)
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

func splitOptionKey(key string, names []string, aliases map[string]int, known []string) (alias, opt string, err error) {
	if !strings.Contains(key, ".") {
		return "", "", fmt.Errorf("option keys are <alias>.<option>; options: %s", strings.Join(sortedOptionNames(), ", "))
	}
	unknownAlias := ""
	for _, o := range names {
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

// applyOptions sets the options of one spec, defaults them, and compiles
// its Policy (which checks the tag rules, and the strategy against the
// constraint).
func applyOptions(spec *Spec, values map[string]string, defaults defaults) error {
	var errs []error
	bad := func(opt, value string, err error) {
		errs = append(errs, &OptionError{Alias: spec.Alias, Image: spec.Image, Option: opt, Value: value, Err: err})
	}
	flag := func(opt, value string) (bool, bool) {
		b, err := strconv.ParseBool(strings.ToLower(value))
		if err != nil {
			bad(opt, value, errors.New(`want "true" or "false"`))
			return false, false
		}
		return b, true
	}
	opts := Options{Strategy: StrategySemver, LooseSemver: !defaults.strictSemver}
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
				bad(o, v, err)
				continue
			}
			opts.Strategy = strategy
			if rng != "" {
				if spec.Constraint != "" && spec.Constraint != rng {
					bad(o, v, fmt.Errorf("the image spec already has constraint %q; set the range in one place", spec.Constraint))
					continue
				}
				spec.Constraint = rng
			}
		case OptAllowTags:
			opts.AllowTags = v
		case OptIgnoreTags:
			opts.IgnoreTags = splitList(v)
		case OptPlatforms:
			opts.Platforms = splitList(v)
		case OptPullSecret:
			if err := checkPullSecret(v); err != nil {
				bad(o, v, err)
				continue
			}
			opts.PullSecret = v
		case OptPin:
			switch v {
			case PinTag, PinDigest, PinTagDigest:
				opts.Pin = v
			default:
				bad(o, v, fmt.Errorf("allowed: %s, %s, %s", PinTag, PinDigest, PinTagDigest))
			}
		case OptOverrideTag:
			if v != "" && !tagPattern.MatchString(v) {
				bad(o, v, errors.New("not a valid tag (letters, digits, '_', '.', '-'; at most 128 characters, not starting with '.' or '-')"))
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
		case OptStrictSemver:
			if strict, ok := flag(o, v); ok {
				opts.LooseSemver = !strict
			}
		case OptHelmCreatePaths:
			if create, ok := flag(o, v); ok {
				opts.CreatePaths = create
			}
		case OptCheckRendered:
			if check, ok := flag(o, v); ok {
				opts.NoRenderedCheck = !check
			}
		case OptMinAge:
			d, err := ParseAge(v)
			if err != nil {
				bad(o, v, err)
				continue
			}
			opts.MinAge = &d
		case OptMinAgeSource:
			switch v {
			case AgeFirstSeen, AgeCreated:
				opts.MinAgeSource = v
			default:
				bad(o, v, fmt.Errorf("allowed: %s (when the plugin first saw the digest), %s (the image's created time)", AgeFirstSeen, AgeCreated))
			}
		case OptVerify:
			if !ValidPolicyName(v) {
				bad(o, v, errors.New("name a signature policy of registries.conf (signature-policies), e.g. ci-keyless; ask the Argo CD admins for the names"))
				continue
			}
			opts.Verify = v
		case OptFollow:
			if _, _, err := ParseAppName(v); err != nil {
				bad(o, v, err)
				continue
			}
			opts.Follow = v
		case OptFollowMinAge:
			d, err := ParseAge(v)
			if err != nil {
				bad(o, v, err)
				continue
			}
			opts.FollowMinAge = d
		case OptAnnotate:
			if annotate, ok := flag(o, v); ok {
				opts.Annotate = annotate
			}
		case OptRewrite:
			if rw, ok := flag(o, v); ok {
				opts.Rewrite = rw
			}
		case OptKustomizeImageName:
			if _, err := name.NewRepository(v); err != nil {
				bad(o, v, fmt.Errorf("not an image name without tag or digest, as the manifests write it (e.g. nginx or ghcr.io/acme/web): %w", err))
				continue
			}
			opts.KustomizeImageName = v
		}
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
	errs = append(errs, checkGateOptions(*spec, values)...)
	rules, err := compileTagRules(*spec)
	if err != nil {
		errs = append(errs, err)
	}
	if len(errs) > 0 {
		// The constraint is checked against a strategy only once the
		// options are right: a misspelt strategy would blame it wrongly.
		return errors.Join(errs...)
	}
	policy, err := compile(*spec, rules)
	if err != nil {
		return err
	}
	spec.policy = policy
	return nil
}

// parseStrategy normalises an update-strategy value; rng is the range of
// "semver:<range>".
func parseStrategy(v string) (strategy, rng string, err error) {
	head, tail, hasRange := strings.Cut(v, ":")
	strategy, err = strategyName(head)
	if err != nil {
		return "", "", err
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

// strategyName normalises a strategy name and its aliases ("latest",
// "name"); the empty name is semver.
func strategyName(v string) (string, error) {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "", StrategySemver:
		return StrategySemver, nil
	case StrategyNewestBuild, "latest":
		return StrategyNewestBuild, nil
	case StrategyDigest:
		return StrategyDigest, nil
	case StrategyAlphabetical, "name":
		return StrategyAlphabetical, nil
	case StrategyNumeric:
		return StrategyNumeric, nil
	default:
		return "", fmt.Errorf("%w; allowed: %s", ErrUnknownStrategy, allowedStrategies)
	}
}

// checkPullSecret refuses credential references: options are author
// input, and would make the sidecar read its own files, environment or
// programs and send the result to a host the author names.
func checkPullSecret(v string) error {
	kind, _, ok := strings.Cut(v, ":")
	if !ok {
		return nil
	}
	switch kind {
	// The kinds of credential reference registries.conf takes, and the
	// Kubernetes forms it refuses.
	case "env", "file", "ext", "secret", "pullsecret":
		return errors.New("pull-secret takes the name of a registries.conf entry, not a credential reference; ask the Argo CD admins for an entry in registries.conf (name: team-a, prefix: <registry>/<path>, credentials: env:VAR, file:/path or ext:/path) and set pull-secret: team-a")
	}
	return nil
}

// splitList splits a comma-separated option value, dropping empty items.
func splitList(v string) []string {
	var out []string
	for _, item := range strings.Split(v, ",") {
		if item = strings.TrimSpace(item); item != "" {
			out = append(out, item)
		}
	}
	return out
}
