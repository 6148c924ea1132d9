package migrate

import (
	"slices"
	"sort"
	"strings"

	"github.com/argocd-image-resolver/argocd-image-resolver/imagespec"
)

// updaterAnnotations returns the Application's argocd-image-updater
// annotations, keyed without the prefix.
func updaterAnnotations(annotations map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range annotations {
		if bare, ok := strings.CutPrefix(k, imagespec.UpdaterPrefix); ok {
			out[bare] = v
		}
	}
	return out
}

// removeUpdaterAnnotations deletes argocd-image-updater's annotations from
// an object's metadata, and the annotations map when nothing is left.
func removeUpdaterAnnotations(obj map[string]any) {
	md, _ := obj["metadata"].(map[string]any)
	ann, _ := md["annotations"].(map[string]any)
	if ann == nil {
		return
	}
	for k := range ann {
		if strings.HasPrefix(k, imagespec.UpdaterPrefix) {
			delete(ann, k)
		}
	}
	if len(ann) == 0 {
		delete(md, "annotations")
	}
}

// annotationConfig reads argocd-image-updater's annotations (without
// their prefix). ok is false when there is no image-list annotation: then
// argocd-image-updater does not update the Application.
func annotationConfig(ann map[string]string, f *findings) (cfg updaterConfig, ok bool) {
	list, ok := ann[updImageList]
	if !ok {
		return updaterConfig{}, false
	}
	from := func(key string) string { return "annotation " + imagespec.UpdaterPrefix + key }

	// image-list: comma-separated `[alias=]image[:constraint]`.
	byAlias := map[string]int{}
	for _, raw := range strings.Split(list, ",") {
		raw = strings.TrimSpace(raw)
		if raw == "" {
			continue
		}
		img := updaterImage{image: raw, from: from(updImageList), settings: map[string]setting{}}
		if alias, image, found := strings.Cut(raw, "="); found {
			img.alias, img.image = strings.TrimSpace(alias), strings.TrimSpace(image)
		}
		if img.alias != "" {
			// Annotation keys spell a '/' of the alias as '_'.
			byAlias[annotationAlias(img.alias)] = len(cfg.images)
		}
		cfg.images = append(cfg.images, img)
	}
	if len(cfg.images) == 0 {
		f.note(from(updImageList), "lists no image; argocd-image-updater updated nothing")
	}

	keys := make([]string, 0, len(ann))
	for k := range ann {
		keys = append(keys, k)
	}
	sort.Strings(keys)

	wide := map[string]setting{}
	cfg.writeBack = map[string]setting{}
	for _, key := range keys {
		value := ann[key]
		switch {
		case key == updImageList:
			continue
		case slices.Contains(applicationWideSettings(), key):
			wide[key] = setting{value: value, from: from(key)}
			continue
		case slices.Contains(writeBackSettings(), key) && key != updPullRequest:
			cfg.writeBack[key] = setting{value: value, from: from(key)}
			continue
		}
		alias, opt, found := splitAnnotationKey(key)
		if !found {
			f.error(from(key), "not an annotation argocd-image-updater documents; not converted, review it")
			continue
		}
		i, known := byAlias[alias]
		if !known {
			f.note(from(key), "no image of image-list has the alias %q, so argocd-image-updater did not use it; removed", alias)
			continue
		}
		cfg.images[i].settings[opt] = setting{value: value, from: from(key)}
	}
	// Application-wide settings apply to every image that has no setting
	// of its own (and are the only settings of images without alias).
	for i := range cfg.images {
		for opt, s := range wide {
			if _, own := cfg.images[i].settings[opt]; !own {
				cfg.images[i].settings[opt] = s
			}
		}
	}
	return cfg, true
}

// annotationAlias is an alias as annotation keys spell it: Kubernetes
// annotation keys take no second '/', so argocd-image-updater writes '_'.
func annotationAlias(alias string) string {
	return strings.ReplaceAll(alias, "/", "_")
}

// splitAnnotationKey splits `<alias>.<option>` at a known option.
func splitAnnotationKey(key string) (alias, opt string, ok bool) {
	for _, o := range perImageSettings() {
		if a, found := strings.CutSuffix(key, "."+o); found && a != "" {
			return a, o, true
		}
	}
	return "", "", false
}
