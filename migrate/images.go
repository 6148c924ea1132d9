package migrate

import (
	"errors"
	"strings"

	"github.com/argocd-image-resolver/argocd-image-resolver/cmp"
	"github.com/argocd-image-resolver/argocd-image-resolver/imagespec"
)

// helmPath is a Helm value path argocd-image-updater wrote for an image.
type helmPath struct {
	path string
	// option is the plugin option that names it (helm.image-name, ...).
	option string
	// isDefault: the path is argocd-image-updater's default, which the
	// plugin does not write unless the option names it.
	isDefault bool
}

// plannedImage is one image as the plugin will see it.
type plannedImage struct {
	alias string
	// helmPaths are the value paths argocd-image-updater wrote: the spec
	// path alone when set, else the name and tag paths, defaults included.
	helmPaths []helmPath
	// kustomizeName is the kustomization image it set:
	// kustomize.image-name, else the repository.
	kustomizeName string
}

// imagePlan is what the plugin's images and image-options parameters
// will hold.
type imagePlan struct {
	specs   []string
	options map[string]string
	images  []plannedImage
	// refused: an image the plugin's parser refuses was already reported.
	refused bool
}

// planImages converts argocd-image-updater's images and their settings
// into the plugin's image specs and per-alias options.
func planImages(cfg updaterConfig, kind sourceKind, f *findings) *imagePlan {
	plan := &imagePlan{options: map[string]string{}}
	for _, ui := range cfg.images {
		plan.add(ui, kind, f)
	}
	return plan
}

func (plan *imagePlan) add(ui updaterImage, kind sourceKind, f *findings) {
	alias := annotationAlias(ui.alias)
	if alias != ui.alias {
		f.note(ui.from, "the alias %q is %q here: the plugin's aliases take no '/' (the spelling argocd-image-updater's annotation keys use)", ui.alias, alias)
	}
	entry := ui.image
	if alias != "" {
		entry = alias + "=" + ui.image
	}
	plan.specs = append(plan.specs, entry)
	pluginAlias, repo, err := aliasOf(entry)
	if err != nil {
		plan.refused = true
		f.error(ui.from, "%q: the plugin refuses this image: %s", entry, oneLine(err))
		if alias == "" {
			return
		}
		pluginAlias = alias
	}
	img := plannedImage{alias: pluginAlias, kustomizeName: repo}
	set := func(opt, value string) { plan.options[img.alias+"."+opt] = value }

	for _, opt := range perImageSettings() {
		s, ok := ui.settings[opt]
		value := strings.TrimSpace(s.value)
		if !ok || value == "" {
			continue
		}
		switch opt {
		case updUpdateStrategy:
			set(imagespec.OptUpdateStrategy, value)
		case updAllowTags:
			set(imagespec.OptAllowTags, value)
		case updIgnoreTags:
			set(imagespec.OptIgnoreTags, value)
		case updPlatforms:
			set(imagespec.OptPlatforms, value)
		case updTagMatch:
			if own, ok := ui.settings[updAllowTags]; ok && strings.TrimSpace(own.value) != "" {
				f.note(s.from, "the old spelling of allow-tags, which %s overrides; removed", own.from)
				continue
			}
			set(imagespec.OptAllowTags, value)
			f.note(s.from, "the old spelling of allow-tags; written as %s.%s", img.alias, imagespec.OptAllowTags)
		case updForceUpdate:
			f.note(s.from, "not needed: the plugin resolves and writes every listed image on every render, whether or not Argo CD reports it running; removed")
		case updPullSecret:
			if strings.Contains(value, ":") {
				f.error(s.from, "%q is a credential reference, and the plugin's pull-secret names a registries.conf entry: "+
					"add an entry with these credentials to registries.conf (for a Secret, mount it into the sidecar and use file:), then set %s.%s to the entry's name",
					value, img.alias, imagespec.OptPullSecret)
				continue
			}
			set(imagespec.OptPullSecret, value)
		case updKustomizeImageName:
			if kind == kindHelm {
				f.note(s.from, "a Kustomize setting on a Helm source, which argocd-image-updater did not use; removed")
				continue
			}
			set(imagespec.OptKustomizeImageName, value)
			img.kustomizeName = value
		}
	}
	img.helmPaths = plan.helm(img.alias, ui, kind, f)
	plan.images = append(plan.images, img)
	plan.dropIgnoredConstraint(ui, alias, repo, f)
}

// dropIgnoredConstraint removes the constraint of an image whose strategy
// ranks every tag: argocd-image-updater ignored it (only semver and digest
// use one), and the plugin refuses it.
func (plan *imagePlan) dropIgnoredConstraint(ui updaterImage, alias, repo string, f *findings) {
	s := ui.settings[updUpdateStrategy]
	switch strings.ToLower(strings.TrimSpace(s.value)) {
	case "latest", "newest-build", "name", "alphabetical":
	default:
		return
	}
	rest, ok := strings.CutPrefix(strings.TrimSpace(ui.image), repo)
	if repo == "" || !ok || !strings.HasPrefix(rest, ":") {
		return
	}
	entry := repo
	if alias != "" {
		entry = alias + "=" + repo
	}
	plan.specs[len(plan.specs)-1] = entry
	f.note(ui.from, "the constraint %q of %s: argocd-image-updater does not use one with update-strategy %s, and the plugin refuses it; removed",
		rest[1:], ui.image, s.value)
}

// aliasOf returns the alias and repository the plugin gives an image
// spec. Only the spec itself is checked here: an error about its options
// or constraint (which depend on the options) still names them, and
// validate checks those with every option in place.
func aliasOf(entry string) (alias, repo string, err error) {
	specs, err := imagespec.ParseAll([]string{entry}, nil)
	if err == nil {
		return specs[0].Alias, specs[0].Image, nil
	}
	var oe *imagespec.OptionError
	if errors.As(err, &oe) {
		return oe.Alias, oe.Image, nil
	}
	return "", "", err
}

// helm converts an image's Helm value paths. argocd-image-updater writes
// the spec path alone when one is set, else the name and tag paths, which
// default to image.name and image.tag.
func (plan *imagePlan) helm(alias string, ui updaterImage, kind sourceKind, f *findings) []helmPath {
	present := func(opts ...string) []setting {
		var out []setting
		for _, o := range opts {
			if s, ok := ui.settings[o]; ok {
				out = append(out, s)
			}
		}
		return out
	}
	if kind == kindKustomize {
		for _, s := range present(updHelmImageName, updHelmImageTag, updHelmImageSpec) {
			f.note(s.from, "a Helm setting on a Kustomize source, which argocd-image-updater did not use; removed")
		}
		return nil
	}
	if spec := strings.TrimSpace(ui.settings[updHelmImageSpec].value); spec != "" {
		for _, s := range present(updHelmImageName, updHelmImageTag) {
			f.note(s.from, "argocd-image-updater does not use it when helm.image-spec is set; removed")
		}
		plan.options[alias+"."+imagespec.OptHelmImageSpec] = spec
		return []helmPath{{path: spec, option: imagespec.OptHelmImageSpec}}
	}
	return []helmPath{
		plan.helmPath(alias, ui.settings[updHelmImageName].value, imagespec.OptHelmImageName, updDefaultHelmName),
		plan.helmPath(alias, ui.settings[updHelmImageTag].value, imagespec.OptHelmImageTag, updDefaultHelmTag),
	}
}

func (plan *imagePlan) helmPath(alias, value, option, def string) helmPath {
	if p := strings.TrimSpace(value); p != "" {
		plan.options[alias+"."+option] = p
		return helmPath{path: p, option: option}
	}
	return helmPath{path: def, option: option, isDefault: true}
}

// ownedHelmPath returns the image whose value path p argocd-image-updater
// wrote, and which path it is.
func (plan *imagePlan) ownedHelmPath(p string) (alias string, hp helmPath, ok bool) {
	for _, img := range plan.images {
		for _, h := range img.helmPaths {
			if h.path == p {
				return img.alias, h, true
			}
		}
	}
	return "", helmPath{}, false
}

// useHelmPath makes the plugin write a value path that was only
// argocd-image-updater's default.
func (plan *imagePlan) useHelmPath(alias string, hp helmPath) {
	plan.options[alias+"."+hp.option] = hp.path
}

// checkHelmPaths reports what the plugin refuses for a Helm chart: with
// several images, each names where its tag (or full reference) goes.
func (plan *imagePlan) checkHelmPaths(f *findings) {
	if len(plan.images) < 2 {
		return
	}
	for _, img := range plan.images {
		_, tag := plan.options[img.alias+"."+imagespec.OptHelmImageTag]
		_, spec := plan.options[img.alias+"."+imagespec.OptHelmImageSpec]
		if !tag && !spec {
			f.error("image "+img.alias, "with several images the plugin needs %s.%s (or %s) for each; argocd-image-updater wrote %s for every image without one",
				img.alias, imagespec.OptHelmImageTag, imagespec.OptHelmImageSpec, updDefaultHelmTag)
		}
	}
}

// validate hands the images and options to the plugin's own parser.
func (plan *imagePlan) validate(f *findings) {
	if plan.refused || len(plan.specs) == 0 {
		return
	}
	if _, err := imagespec.ParseAll(plan.specs, plan.options); err != nil {
		f.error("images", "the plugin refuses these images or options: %s", oneLine(err))
	}
}

// parameters returns the images and image-options parameters.
func (plan *imagePlan) parameters() params {
	var p params
	p.array(cmp.ParamImages, plan.specs)
	p.mapping(cmp.ParamImageOptions, plan.options)
	return p
}

// oneLine keeps a report line on one line: joined errors become "; ".
func oneLine(err error) string {
	return strings.ReplaceAll(err.Error(), "\n", "; ")
}
