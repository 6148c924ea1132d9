package migrate

import (
	"fmt"
	"strings"

	"github.com/argoproj/argo-cd/v3/pkg/apis/application/v1alpha1"
)

// sourceKind is what renders a source in Argo CD.
type sourceKind int

const (
	// kindUnknown: the source has no helm, kustomize or directory block
	// and the input has no status saying what Argo CD detected. The
	// plugin detects the chart or kustomization itself.
	kindUnknown sourceKind = iota
	kindHelm
	kindKustomize
	kindDirectory
)

// kindOf is the kind of a source: its settings block, else what Argo CD
// recorded in the Application's status.
func kindOf(src *v1alpha1.ApplicationSource, detected v1alpha1.ApplicationSourceType) sourceKind {
	switch {
	case src.Helm != nil:
		return kindHelm
	case src.Kustomize != nil:
		return kindKustomize
	case src.Directory != nil:
		return kindDirectory
	}
	switch detected {
	case v1alpha1.ApplicationSourceTypeHelm:
		return kindHelm
	case v1alpha1.ApplicationSourceTypeKustomize:
		return kindKustomize
	case v1alpha1.ApplicationSourceTypeDirectory:
		return kindDirectory
	}
	return kindUnknown
}

// target is the source the conversion rewrites.
type target struct {
	// index is -1 for spec.source, else the index in spec.sources.
	index int
	src   v1alpha1.ApplicationSource
	kind  sourceKind
}

// field names the source in the report.
func (t target) field() string {
	if t.index < 0 {
		return "spec.source"
	}
	return fmt.Sprintf("spec.sources[%d]", t.index)
}

// chooseSource picks the source argocd-image-updater updated: the single
// source, or among several the one with a path in git, preferring one
// with helm, kustomize or directory settings and, when the write-back
// names a repository, one of that repository. ok is false when there is
// none, or no single one; the reason is reported.
func chooseSource(app *v1alpha1.Application, cfg updaterConfig, f *findings) (target, bool) {
	if src := app.Spec.Source; src != nil {
		t := target{index: -1, src: *src, kind: kindOf(src, app.Status.SourceType)}
		return t, usable(t, f)
	}
	sources := app.Spec.Sources
	if len(sources) == 0 {
		f.error("spec", "the Application has no source; not converted")
		return target{}, false
	}
	detected := func(i int) v1alpha1.ApplicationSourceType {
		if len(app.Status.SourceTypes) == len(sources) {
			return app.Status.SourceTypes[i]
		}
		return ""
	}
	var candidates []int
	for i, s := range sources {
		if s.Chart == "" && s.Plugin == nil && s.Path != "" {
			candidates = append(candidates, i)
		}
	}
	if repo, ok := cfg.writeBack[updGitRepository]; ok && repo.value != "" {
		candidates = narrow(candidates, func(i int) bool { return sameRepository(sources[i].RepoURL, repo.value) })
	}
	candidates = narrow(candidates, func(i int) bool {
		s := sources[i]
		return s.Helm != nil || s.Kustomize != nil || s.Directory != nil
	})
	switch len(candidates) {
	case 1:
		i := candidates[0]
		return target{index: i, src: sources[i], kind: kindOf(&sources[i], detected(i))}, true
	case 0:
		for i, s := range sources {
			t := target{index: i, src: s}
			if s.Chart != "" || s.Plugin != nil {
				return t, usable(t, f)
			}
		}
		f.error("spec.sources", "no source has a path in a git repository; not converted")
		return target{}, false
	}
	names := make([]string, len(candidates))
	for j, i := range candidates {
		names[j] = target{index: i}.field()
	}
	f.error("spec.sources", "%s could each be the source argocd-image-updater updated; not converted: "+
		"move the images to the plugin parameters of the right one by hand, or give the others no helm, kustomize or directory block",
		strings.Join(names, ", "))
	return target{}, false
}

// narrow keeps the candidates that pass, unless none does.
func narrow(candidates []int, keep func(int) bool) []int {
	var out []int
	for _, i := range candidates {
		if keep(i) {
			out = append(out, i)
		}
	}
	if len(out) == 0 {
		return candidates
	}
	return out
}

// usable reports whether the plugin can take over the source.
func usable(t target, f *findings) bool {
	switch {
	case t.src.Chart != "":
		f.error(t.field()+".chart", "%q comes from a Helm repository, and Argo CD never hands such a source to a plugin; not converted: "+
			"commit a wrapper chart to git that lists it as a dependency (Chart.yaml dependencies), and point the source at that path", t.src.Chart)
		return false
	case t.src.Plugin != nil:
		f.error(t.field()+".plugin", "the source already uses the plugin %q; not converted", t.src.Plugin.Name)
		return false
	}
	return true
}

// sameRepository compares repository URLs as git does, ignoring a
// trailing ".git" or "/" and the case of the scheme and host.
func sameRepository(a, b string) bool {
	norm := func(u string) string {
		u = strings.TrimSuffix(strings.TrimSuffix(strings.TrimSpace(u), "/"), ".git")
		if scheme, rest, ok := strings.Cut(u, "://"); ok {
			host, p, _ := strings.Cut(rest, "/")
			return strings.ToLower(scheme) + "://" + strings.ToLower(host) + "/" + p
		}
		return u
	}
	return norm(a) == norm(b)
}

// sourceParameters converts the source's own settings to plugin
// parameters: its helm, kustomize or directory block.
func sourceParameters(t target, plan *imagePlan, destinationNamespace string, f *findings) params {
	var p params
	field := t.field()
	if h := t.src.Helm; h != nil {
		p = append(p, helmParameters(h, field+".helm", plan, destinationNamespace, f)...)
	}
	if k := t.src.Kustomize; k != nil {
		p = append(p, kustomizeParameters(k, field+".kustomize", plan, f)...)
	}
	if d := t.src.Directory; d != nil {
		p = append(p, directoryParameters(d, field+".directory", f)...)
	}
	return p
}

// pluginSource is the source with its settings replaced by the plugin.
func pluginSource(t target, pluginName string, p params) v1alpha1.ApplicationSource {
	out := t.src
	out.Helm, out.Kustomize, out.Directory = nil, nil, nil
	out.Plugin = &v1alpha1.ApplicationSourcePlugin{Name: pluginName, Parameters: v1alpha1.ApplicationSourcePluginParameters(p)}
	return out
}
