package migrate

import (
	"bytes"
	"encoding/json"
	"fmt"
	"path"
	"strings"

	"github.com/argoproj/argo-cd/v3/pkg/apis/application/v1alpha1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
)

// imageUpdaterGroup is the API group of argocd-image-updater's
// ImageUpdater resource (argocd-image-updater.argoproj.io/v1alpha1).
const imageUpdaterGroup = "argocd-image-updater.argoproj.io"

// The ImageUpdater resource of argocd-image-updater v1, as its API types
// (api/v1alpha1) define it. Pointers tell a field left out from one set
// empty: a more specific level overrides only what it sets.
type imageUpdaterSpec struct {
	// Namespace is deprecated (and later removed): Applications are
	// looked for in this namespace instead of the resource's own.
	Namespace            *string               `json:"namespace,omitempty"`
	CommonUpdateSettings *commonUpdateSettings `json:"commonUpdateSettings,omitempty"`
	WriteBackConfig      *writeBackConfig      `json:"writeBackConfig,omitempty"`
	ApplicationRefs      []applicationRef      `json:"applicationRefs"`
}

type applicationRef struct {
	NamePattern          string                `json:"namePattern"`
	LabelSelectors       *metav1.LabelSelector `json:"labelSelectors,omitempty"`
	UseAnnotations       *bool                 `json:"useAnnotations,omitempty"`
	CommonUpdateSettings *commonUpdateSettings `json:"commonUpdateSettings,omitempty"`
	WriteBackConfig      *writeBackConfig      `json:"writeBackConfig,omitempty"`
	Images               []imageConfig         `json:"images,omitempty"`
}

type imageConfig struct {
	Alias                string                `json:"alias"`
	ImageName            string                `json:"imageName"`
	CommonUpdateSettings *commonUpdateSettings `json:"commonUpdateSettings,omitempty"`
	ManifestTargets      *manifestTarget       `json:"manifestTargets,omitempty"`
}

type commonUpdateSettings struct {
	UpdateStrategy *string  `json:"updateStrategy,omitempty"`
	ForceUpdate    *bool    `json:"forceUpdate,omitempty"`
	AllowTags      *string  `json:"allowTags,omitempty"`
	IgnoreTags     []string `json:"ignoreTags,omitempty"`
	PullSecret     *string  `json:"pullSecret,omitempty"`
	Platforms      []string `json:"platforms,omitempty"`
}

type writeBackConfig struct {
	Method    *string    `json:"method,omitempty"`
	GitConfig *gitConfig `json:"gitConfig,omitempty"`
}

type gitConfig struct {
	Repository      *string         `json:"repository,omitempty"`
	Branch          *string         `json:"branch,omitempty"`
	WriteBackTarget *string         `json:"writeBackTarget,omitempty"`
	PullRequest     json.RawMessage `json:"pullRequest,omitempty"`
}

type manifestTarget struct {
	Helm      *helmTarget      `json:"helm,omitempty"`
	Kustomize *kustomizeTarget `json:"kustomize,omitempty"`
}

type helmTarget struct {
	Name *string `json:"name,omitempty"`
	Tag  *string `json:"tag,omitempty"`
	Spec *string `json:"spec,omitempty"`
}

type kustomizeTarget struct {
	Name *string `json:"name,omitempty"`
}

// imageUpdater is one ImageUpdater of the input.
type imageUpdater struct {
	entry     *entry
	name      string
	namespace string
	spec      imageUpdaterSpec
	f         *findings
	// selected lists the Applications it selects, as namespace/name.
	selected []string
}

// isImageUpdater reports whether obj is argocd-image-updater's resource.
func isImageUpdater(obj map[string]any) bool {
	kind, _ := obj["kind"].(string)
	api, _ := obj["apiVersion"].(string)
	return kind == "ImageUpdater" && strings.HasPrefix(api, imageUpdaterGroup+"/")
}

// decodeImageUpdater reads an ImageUpdater. Fields its API does not have
// are reported, since what they meant is not converted.
func decodeImageUpdater(e *entry) (*imageUpdater, error) {
	var head struct {
		Metadata metav1.ObjectMeta `json:"metadata"`
		Spec     json.RawMessage   `json:"spec"`
	}
	if err := remarshal(e.obj, &head); err != nil {
		return nil, e.at.errorf("ImageUpdater: %w", err)
	}
	u := &imageUpdater{entry: e, name: head.Metadata.Name, namespace: head.Metadata.Namespace}
	u.f = newFindings("imageupdater", u.namespace, u.name)
	if len(head.Spec) == 0 {
		return nil, e.at.errorf("ImageUpdater %s has no spec", u.f.object)
	}
	if err := json.Unmarshal(head.Spec, &u.spec); err != nil {
		return nil, e.at.errorf("ImageUpdater %s: spec: %w", u.f.object, err)
	}
	strict := json.NewDecoder(bytes.NewReader(head.Spec))
	strict.DisallowUnknownFields()
	var check imageUpdaterSpec
	if err := strict.Decode(&check); err != nil {
		u.f.error("spec", "%v: a field argocd-image-updater's ImageUpdater API does not document; it is not converted, review it", err)
	}
	return u, nil
}

// applicationNamespace is the namespace whose Applications the resource
// selects: its deprecated spec.namespace, else its own. Empty selects in
// every namespace (an input without namespaces).
func (u *imageUpdater) applicationNamespace() string {
	if u.spec.Namespace != nil && *u.spec.Namespace != "" {
		return *u.spec.Namespace
	}
	return u.namespace
}

// selects returns the index of the first applicationRef that selects app,
// or -1. A ref whose pattern or selector is malformed is reported and
// selects nothing.
func (u *imageUpdater) selects(app *v1alpha1.Application, reported map[int]bool) int {
	if ns := u.applicationNamespace(); ns != "" && app.Namespace != "" && ns != app.Namespace {
		return -1
	}
	for i, ref := range u.spec.ApplicationRefs {
		field := refPath(i)
		ok, err := path.Match(ref.NamePattern, app.Name)
		if err != nil {
			if !reported[i] {
				u.f.error(field+".namePattern", "%q is not a glob pattern (%v); it selects nothing here", ref.NamePattern, err)
				reported[i] = true
			}
			continue
		}
		if !ok {
			continue
		}
		if ref.LabelSelectors != nil {
			sel, err := metav1.LabelSelectorAsSelector(ref.LabelSelectors)
			if err != nil {
				if !reported[i] {
					u.f.error(field+".labelSelectors", "%v; it selects nothing here", err)
					reported[i] = true
				}
				continue
			}
			if !sel.Matches(labels.Set(app.Labels)) {
				continue
			}
		}
		return i
	}
	return -1
}

// refPath is the field path of applicationRef i.
func refPath(i int) string {
	return fmt.Sprintf("spec.applicationRefs[%d]", i)
}

// refField names a field of the resource in the report.
func (u *imageUpdater) refField(field string) string {
	return "ImageUpdater " + u.f.object + " " + field
}

// usesAnnotations reports whether ref i reads the Application's
// annotations instead of its own images (useAnnotations: true).
func (u *imageUpdater) usesAnnotations(i int) bool {
	b := u.spec.ApplicationRefs[i].UseAnnotations
	return b != nil && *b
}

// config is the configuration applicationRef i gives the Applications it
// selects: the spec's common settings, overridden by the ref's, overridden
// by each image's; the spec's write-back settings overridden by the ref's.
func (u *imageUpdater) config(i int) updaterConfig {
	ref := u.spec.ApplicationRefs[i]
	refField := refPath(i)
	cfg := updaterConfig{writeBack: map[string]setting{}}
	u.writeBack(cfg.writeBack, u.spec.WriteBackConfig, "spec.writeBackConfig")
	u.writeBack(cfg.writeBack, ref.WriteBackConfig, refField+".writeBackConfig")
	for j, img := range ref.Images {
		imgPath := fmt.Sprintf("%s.images[%d]", refField, j)
		ui := updaterImage{
			alias:    img.Alias,
			image:    img.ImageName,
			from:     u.refField(imgPath + ".imageName"),
			settings: map[string]setting{},
		}
		u.common(ui.settings, u.spec.CommonUpdateSettings, "spec.commonUpdateSettings")
		u.common(ui.settings, ref.CommonUpdateSettings, refField+".commonUpdateSettings")
		u.common(ui.settings, img.CommonUpdateSettings, imgPath+".commonUpdateSettings")
		if t := img.ManifestTargets; t != nil {
			if h := t.Helm; h != nil {
				u.set(ui.settings, updHelmImageName, h.Name, imgPath+".manifestTargets.helm.name")
				u.set(ui.settings, updHelmImageTag, h.Tag, imgPath+".manifestTargets.helm.tag")
				u.set(ui.settings, updHelmImageSpec, h.Spec, imgPath+".manifestTargets.helm.spec")
			}
			if k := t.Kustomize; k != nil {
				u.set(ui.settings, updKustomizeImageName, k.Name, imgPath+".manifestTargets.kustomize.name")
			}
		}
		cfg.images = append(cfg.images, ui)
	}
	return cfg
}

func (u *imageUpdater) set(into map[string]setting, opt string, v *string, field string) {
	if v != nil {
		into[opt] = setting{value: *v, from: u.refField(field)}
	}
}

func (u *imageUpdater) list(into map[string]setting, opt string, v []string, field string) {
	if v != nil {
		into[opt] = setting{value: strings.Join(v, ","), from: u.refField(field)}
	}
}

func (u *imageUpdater) common(into map[string]setting, c *commonUpdateSettings, field string) {
	if c == nil {
		return
	}
	u.set(into, updUpdateStrategy, c.UpdateStrategy, field+".updateStrategy")
	u.set(into, updAllowTags, c.AllowTags, field+".allowTags")
	u.list(into, updIgnoreTags, c.IgnoreTags, field+".ignoreTags")
	u.set(into, updPullSecret, c.PullSecret, field+".pullSecret")
	u.list(into, updPlatforms, c.Platforms, field+".platforms")
	if c.ForceUpdate != nil {
		into[updForceUpdate] = setting{value: fmt.Sprint(*c.ForceUpdate), from: u.refField(field + ".forceUpdate")}
	}
}

func (u *imageUpdater) writeBack(into map[string]setting, w *writeBackConfig, field string) {
	if w == nil {
		return
	}
	u.set(into, updWriteBackMethod, w.Method, field+".method")
	g := w.GitConfig
	if g == nil {
		return
	}
	u.set(into, updGitRepository, g.Repository, field+".gitConfig.repository")
	u.set(into, updGitBranch, g.Branch, field+".gitConfig.branch")
	u.set(into, updWriteBackTarget, g.WriteBackTarget, field+".gitConfig.writeBackTarget")
	if len(g.PullRequest) > 0 && string(g.PullRequest) != "null" {
		into[updPullRequest] = setting{value: string(g.PullRequest), from: u.refField(field + ".gitConfig.pullRequest")}
	}
}

// remarshal converts JSON-shaped values into a typed value.
func remarshal(in any, out any) error {
	data, err := json.Marshal(in)
	if err != nil {
		return err
	}
	return json.Unmarshal(data, out)
}
