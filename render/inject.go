package render

import (
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/argocd-image-resolver/argocd-image-resolver/rewrite"
)

// Pin modes of Image.Pin.
const (
	PinTag          = "tag"
	PinDigest       = "digest"
	PinTagAndDigest = "tag+digest"
)

// DefaultTagPath is the tag path of a lone image without explicit paths.
const DefaultTagPath = "image.tag"

// paths are the value paths of one alias, defaults applied; nil = not written.
type paths struct {
	alias    string
	tag      valuePath
	name     valuePath
	spec     valuePath
	shasum   valuePath
	override valuePath
	// defaulted holds the options whose path was not given by the user.
	defaulted map[string]bool
}

// option names the option a path of this alias comes from, and whether the
// path is that option's default.
func (p paths) option(vp valuePath) (string, bool) {
	for _, o := range []struct {
		name string
		path valuePath
	}{{"helm.image-tag", p.tag}, {"helm.image-name", p.name}, {"helm.image-spec", p.spec}, {"helm.image-shasum", p.shasum}, {"helm.override-tag", p.override}} {
		if o.path != nil && o.path.String() == vp.String() {
			return o.name, p.defaulted[o.name]
		}
	}
	return "", false
}

// resolvePaths applies the path defaults of DESIGN section 3 and checks the
// paths. With several images every alias must name a tag or spec path.
func resolvePaths(images []Image) ([]paths, error) {
	var (
		out     []paths
		unnamed []string
		seen    = map[string]bool{}
	)
	for _, img := range images {
		if seen[img.Alias] {
			return nil, fmt.Errorf("image alias %q is given twice: aliases must be unique", img.Alias)
		}
		seen[img.Alias] = true
		if img.TagPath == "" && img.SpecPath == "" && !img.Rewrite && len(images) > 1 {
			unnamed = append(unnamed, displayAlias(img))
		}
	}
	if len(unnamed) > 0 {
		return nil, fmt.Errorf("images %s have no value path: with several images each alias must set helm.image-tag or helm.image-spec (for example <alias>.helm.image-tag=frontend.image.tag)",
			strings.Join(unnamed, ", "))
	}
	for _, img := range images {
		p := paths{alias: img.Alias, defaulted: map[string]bool{}}
		var err error
		parse := func(opt, s string) valuePath {
			if err != nil || s == "" {
				return nil
			}
			vp, perr := parsePath(s)
			if perr != nil {
				err = fmt.Errorf("image %s: option %s: %w", displayAlias(img), opt, perr)
			}
			return vp
		}
		if img.rewriteOnly() {
			// The rewrite writes the manifests; no value is written, and
			// an explicit override path is only read for pins.
			p.override = parse("helm.override-tag", img.OverridePath)
			if err != nil {
				return nil, err
			}
			out = append(out, p)
			continue
		}
		tag := img.TagPath
		// With rewrite only the paths given are written: image.tag of a
		// third-party chart belongs to its own image.
		if tag == "" && img.SpecPath == "" && !img.Rewrite {
			tag = DefaultTagPath
			p.defaulted["helm.image-tag"] = true
		}
		p.tag = parse("helm.image-tag", tag)
		p.name = parse("helm.image-name", img.NamePath)
		p.spec = parse("helm.image-spec", img.SpecPath)
		p.shasum = parse("helm.image-shasum", img.ShasumPath)
		p.override = parse("helm.override-tag", img.OverridePath)
		if err != nil {
			return nil, err
		}
		if p.shasum == nil && p.tag != nil {
			p.shasum = p.tag.sibling("shasum")
			p.defaulted["helm.image-shasum"] = true
		}
		if p.override == nil && p.tag != nil {
			p.override = p.tag.sibling("overrideTag")
			p.defaulted["helm.override-tag"] = true
		}
		out = append(out, p)
	}
	return out, nil
}

// rewriteOnly reports whether the image is written only by the rewrite of
// the rendered manifests: it has Rewrite and no explicit value path, so
// that a third-party chart's values do not get image.tag created.
func (img Image) rewriteOnly() bool {
	return img.Rewrite && img.TagPath == "" && img.NamePath == "" && img.SpecPath == "" && img.ShasumPath == ""
}

func displayAlias(img Image) string {
	if img.Alias != "" {
		return strconv.Quote(img.Alias)
	}
	return strconv.Quote(img.Repository)
}

// pin is why and to what an alias is pinned.
type pin struct {
	tag    string
	source string // "override-tag option", "values at <path>", "parameter <path>"
}

// pinOf decides whether an alias is pinned: the override-tag option first,
// then a non-empty value at the override path of the merged values (the
// chart renders it before anything else), then an explicit helm-parameter
// for the tag path.
func pinOf(img Image, p paths, effective map[string]interface{}, params map[string]string) (pin, bool) {
	if img.OverrideTag != "" {
		return pin{tag: img.OverrideTag, source: "override-tag option"}, true
	}
	if p.override != nil {
		if v, ok := p.override.lookup(effective); ok {
			if s, ok := scalarString(v); ok && s != "" {
				return pin{tag: s, source: "values at " + p.override.String()}, true
			}
		}
	}
	if p.tag != nil {
		if v, ok := params[p.tag.String()]; ok && v != "" {
			return pin{tag: v, source: "parameter " + p.tag.String()}, true
		}
	}
	return pin{}, false
}

// explicitParams maps the canonical path of every helm-parameter and
// helm-string-parameter to its value; string parameters win, as Helm applies
// them last. Names that are not plain value paths are left out.
func explicitParams(req *Request) map[string]string {
	out := map[string]string{}
	for _, m := range []map[string]string{req.Parameters, req.StringParameters} {
		for k, v := range m {
			vp, err := parsePath(k)
			if err != nil {
				continue
			}
			out[vp.String()] = v
		}
	}
	return out
}

// scalarString formats a scalar value as the chart would render it.
func scalarString(v interface{}) (string, bool) {
	switch t := v.(type) {
	case nil:
		return "", true
	case string:
		return t, true
	case bool:
		return strconv.FormatBool(t), true
	case float64:
		return strconv.FormatFloat(t, 'f', -1, 64), true
	case int64:
		return strconv.FormatInt(t, 10), true
	case int:
		return strconv.Itoa(t), true
	default:
		return "", false
	}
}

// write is one value render sets.
type write struct {
	path  valuePath
	value string
	alias string
	// option names the path for errors ("helm.image-tag"); defaulted is
	// set when the user did not give the path.
	option    string
	defaulted bool
	// clear marks a write that only empties a value (the shasum of a
	// pinned image): it is skipped when the values lack the path.
	clear bool
}

// expectation is the reference the rendered manifests must show for one
// alias: its repository with the written tag or digest.
type expectation struct {
	alias      string
	repository string
	tag        string
	digest     string
	// reference is what a rewrite of the manifests writes: the repository
	// with the tag, digest or both, as the pin mode says; rewrite says
	// that the image has the rewrite option.
	reference string
	rewrite   bool
}

// String is the reference as it would appear in a manifest.
func (e expectation) String() string {
	switch {
	case e.tag != "" && e.digest != "":
		return e.repository + ":" + e.tag + "@" + e.digest
	case e.digest != "":
		return e.repository + "@" + e.digest
	}
	return e.repository + ":" + e.tag
}

// injection computes the writes of one alias, its report and what the
// rendered manifests must then reference.
func injection(img Image, p paths, effective map[string]interface{}, params map[string]string) ([]write, Injection, expectation, error) {
	inj := Injection{Alias: img.Alias, Values: map[string]string{}}
	want := expectation{alias: img.Alias, repository: img.Repository, rewrite: img.Rewrite}
	var ws []write
	put := func(vp valuePath, v string, clear bool) {
		if vp == nil {
			return
		}
		opt, defaulted := p.option(vp)
		ws = append(ws, write{path: vp, value: v, alias: img.Alias, option: opt, defaulted: defaulted, clear: clear})
		inj.Values[vp.String()] = v
	}
	add := func(vp valuePath, v string) { put(vp, v, false) }
	needRepo := func() error {
		if img.Repository == "" && (p.name != nil || p.spec != nil) {
			return fmt.Errorf("image %s: helm.image-name/helm.image-spec are set but the image has no repository", displayAlias(img))
		}
		return nil
	}
	if err := needRepo(); err != nil {
		return nil, inj, want, err
	}

	if pn, ok := pinOf(img, p, effective, params); ok {
		inj.Pinned = true
		want.tag = pn.tag
		want.reference = img.Repository + ":" + pn.tag
		add(p.tag, pn.tag)
		put(p.shasum, "", true)
		if img.OverrideTag != "" && p.override != nil {
			if v, ok := p.override.lookup(effective); ok {
				if s, _ := scalarString(v); s != "" && s != img.OverrideTag {
					add(p.override, img.OverrideTag)
				}
			}
		}
		add(p.name, img.Repository)
		add(p.spec, img.Repository+":"+pn.tag)
		return ws, inj, want, nil
	}

	mode := img.Pin
	if mode == "" {
		mode = PinTag
	}
	need := func(what, val string) error {
		if val == "" {
			return fmt.Errorf("image %s: pin %q needs a resolved %s, and the result has none", displayAlias(img), mode, what)
		}
		return nil
	}
	switch mode {
	case PinTag:
		if err := need("tag", img.Tag); err != nil {
			return nil, inj, want, err
		}
		want.tag = img.Tag
		want.reference = img.Repository + ":" + img.Tag
		add(p.tag, img.Tag)
		add(p.spec, img.Repository+":"+img.Tag)
	case PinDigest:
		if err := need("digest", img.Digest); err != nil {
			return nil, inj, want, err
		}
		if p.shasum == nil && p.spec == nil && !img.Rewrite {
			return nil, inj, want, fmt.Errorf("image %s: pin \"digest\" needs a shasum path (helm.image-shasum) or a spec path (helm.image-spec)", displayAlias(img))
		}
		want.tag, want.digest = img.Tag, img.Digest
		want.reference = img.Repository + "@" + img.Digest
		add(p.shasum, img.Digest)
		if img.Tag != "" {
			add(p.tag, img.Tag)
		}
		add(p.spec, img.Repository+"@"+img.Digest)
	case PinTagAndDigest:
		if err := need("tag", img.Tag); err != nil {
			return nil, inj, want, err
		}
		if err := need("digest", img.Digest); err != nil {
			return nil, inj, want, err
		}
		want.tag, want.digest = img.Tag, img.Digest
		want.reference = img.Repository + ":" + img.Tag + "@" + img.Digest
		add(p.tag, img.Tag+"@"+img.Digest)
		add(p.spec, img.Repository+":"+img.Tag+"@"+img.Digest)
	default:
		return nil, inj, want, fmt.Errorf("image %s: unknown pin %q (use tag, digest or tag+digest)", displayAlias(img), img.Pin)
	}
	add(p.name, img.Repository)
	return ws, inj, want, nil
}

// injections computes the writes of every image, refusing two aliases that
// write the same path, and what the images with Rewrite write into the
// rendered manifests.
func injections(images []Image, effective map[string]interface{}, params map[string]string) ([]write, []Injection, []expectation, []rewrite.Image, error) {
	ps, err := resolvePaths(images)
	if err != nil {
		return nil, nil, nil, nil, err
	}
	var (
		all      []write
		report   []Injection
		expects  []expectation
		rewrites []rewrite.Image
		owner    = map[string]string{}
	)
	for i, img := range images {
		ws, inj, want, err := injection(img, ps[i], effective, params)
		if err != nil {
			return nil, nil, nil, nil, err
		}
		for _, w := range ws {
			k := w.path.String()
			if prev, ok := owner[k]; ok && prev != img.Alias {
				return nil, nil, nil, nil, fmt.Errorf("images %q and %q both write value path %s: give each alias its own helm.image-tag/helm.image-spec", prev, img.Alias, k)
			}
			owner[k] = img.Alias
		}
		all = append(all, ws...)
		report = append(report, inj)
		if !img.SkipRenderedCheck {
			expects = append(expects, want)
		}
		if img.Rewrite {
			rewrites = append(rewrites, rewrite.Image{Repository: img.Repository, Reference: want.reference})
		}
	}
	sort.SliceStable(report, func(i, j int) bool { return report[i].Alias < report[j].Alias })
	return all, report, expects, rewrites, nil
}
