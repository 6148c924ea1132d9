package migrate

import (
	"bytes"
	"encoding/json"
	"strings"

	"github.com/argoproj/argo-cd/v3/pkg/apis/application/v1alpha1"

	"github.com/argocd-image-resolver/argocd-image-resolver/imagespec"
)

// argoGroup is the API group of Argo CD's Application and ApplicationSet.
const argoGroup = "argoproj.io"

// application is one Application of the input.
type application struct {
	entry *entry
	app   v1alpha1.Application
	f     *findings
	// updater and ref are the ImageUpdater and the index of its
	// applicationRef that select the Application; updater is nil when
	// none does.
	updater *imageUpdater
	ref     int
}

func isArgoKind(obj map[string]any, kind string) bool {
	k, _ := obj["kind"].(string)
	api, _ := obj["apiVersion"].(string)
	return k == kind && strings.HasPrefix(api, argoGroup+"/")
}

func decodeApplication(e *entry) (*application, error) {
	a := &application{entry: e}
	if err := remarshal(e.obj, &a.app); err != nil {
		return nil, e.at.errorf("not an Argo CD Application: %w", err)
	}
	a.f = newFindings("app", a.app.Namespace, a.app.Name)
	return a, nil
}

// convert rewrites the Application to use the plugin when
// argocd-image-updater updated it. An Application it did not update, or
// that cannot be converted, is left as it is.
func (a *application) convert(pluginName string) {
	cfg, ok := a.config()
	if !ok {
		return
	}
	t, ok := chooseSource(&a.app, cfg, a.f)
	if !ok {
		return
	}
	a.checkSourceFields(t)
	if t.kind == kindDirectory {
		a.f.note(t.field()+".directory", "argocd-image-updater does not update directory sources, and the plugin will resolve these images in its manifests")
	}
	plan := planImages(cfg, t.kind, a.f)
	own := sourceParameters(t, plan, a.app.Spec.Destination.Namespace, a.f)
	if t.kind == kindHelm {
		plan.checkHelmPaths(a.f)
	}
	plan.validate(a.f)
	writeBack(cfg, &a.app, t, a.f)
	a.rewrite(t, pluginSource(t, pluginName, append(plan.parameters(), own...)))
}

// config is argocd-image-updater's configuration for the Application:
// that of the ImageUpdater selecting it (or the annotations, when the
// ImageUpdater reads them), else the annotations. ok is false when argocd-image-updater did
// not update the Application.
func (a *application) config() (updaterConfig, bool) {
	ann := updaterAnnotations(a.app.Annotations)
	if u := a.updater; u != nil {
		field := u.refField(refPath(a.ref) + ".useAnnotations")
		if u.usesAnnotations(a.ref) {
			cfg, ok := annotationConfig(ann, a.f)
			if !ok {
				a.f.error(field, "the Application has no %s%s annotation, so nothing is converted", imagespec.UpdaterPrefix, updImageList)
			}
			return cfg, ok
		}
		if len(ann) > 0 {
			a.f.note("annotations", "argocd-image-updater reads the ImageUpdater %s instead, since %s is not true; removed", u.f.object, field)
		}
		return u.config(a.ref), true
	}
	cfg, ok := annotationConfig(ann, a.f)
	if !ok && len(ann) > 0 {
		a.f.note("annotations", "argocd-image-updater annotations without %s%s, which it ignores; left as they are", imagespec.UpdaterPrefix, updImageList)
	}
	return cfg, ok
}

// checkSourceFields reports fields of the source that the Argo CD API this
// command is built with does not know: they are lost with the source's
// settings.
func (a *application) checkSourceFields(t target) {
	raw := sourceObject(a.entry.obj, t.index)
	if raw == nil {
		return
	}
	data, err := json.Marshal(raw)
	if err != nil {
		return
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var src v1alpha1.ApplicationSource
	if err := dec.Decode(&src); err != nil {
		a.f.error(t.field(), "%s: not a field of Argo CD's Application as this command knows it; not converted", oneLine(err))
	}
}

// sourceObject is spec.source (index -1) or spec.sources[index] of obj.
func sourceObject(obj map[string]any, index int) map[string]any {
	spec, _ := obj["spec"].(map[string]any)
	if index < 0 {
		src, _ := spec["source"].(map[string]any)
		return src
	}
	sources, _ := spec["sources"].([]any)
	if index >= len(sources) {
		return nil
	}
	src, _ := sources[index].(map[string]any)
	return src
}

// rewrite puts the plugin source in place of the target source, removes
// argocd-image-updater's annotations, and drops what the API server sets
// (status, operation, and metadata such as uid and resourceVersion), so
// that the output can be applied or committed. Everything else stays.
func (a *application) rewrite(t target, src v1alpha1.ApplicationSource) {
	var srcObj map[string]any
	if err := remarshal(src, &srcObj); err != nil {
		a.f.error(t.field(), "cannot be written: %v", err)
		return
	}
	obj := a.entry.obj
	spec, _ := obj["spec"].(map[string]any)
	if t.index < 0 {
		spec["source"] = srcObj
	} else {
		sources, _ := spec["sources"].([]any)
		sources[t.index] = srcObj
	}
	removeUpdaterAnnotations(obj)
	delete(obj, "status")
	delete(obj, "operation")
	if md, ok := obj["metadata"].(map[string]any); ok {
		for _, k := range []string{"uid", "resourceVersion", "generation", "creationTimestamp", "managedFields", "selfLink", "deletionTimestamp", "deletionGracePeriodSeconds"} {
			delete(md, k)
		}
	}
}

// applicationSet reports argocd-image-updater annotations in an
// ApplicationSet's template, which this command does not convert.
func applicationSet(e *entry) {
	var set struct {
		Metadata struct{ Name, Namespace string } `json:"metadata"`
		Spec     struct {
			Template struct {
				Metadata struct {
					Annotations map[string]string `json:"annotations"`
				} `json:"metadata"`
			} `json:"template"`
		} `json:"spec"`
	}
	if err := remarshal(e.obj, &set); err != nil {
		return
	}
	if len(updaterAnnotations(set.Spec.Template.Metadata.Annotations)) == 0 {
		return
	}
	f := newFindings("applicationset", set.Metadata.Namespace, set.Metadata.Name)
	f.error("spec.template.metadata.annotations", "argocd-image-updater annotations in an ApplicationSet's template are not converted: "+
		"run migrate on one generated Application and move its plugin source into the template; left as they are")
	e.findings = append(e.findings, f.list...)
}
