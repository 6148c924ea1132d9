package plugin

import (
	"fmt"
	"os"
	"strings"

	"github.com/argoproj/argo-cd/v3/pkg/apis/application/v1alpha1"
	"sigs.k8s.io/yaml"

	"github.com/argocd-image-resolver/argocd-image-resolver/cmp"
)

// applicationEnv reads an Application manifest and returns the source path
// and the environment argocd-repo-server gives the plugin for it: the
// ARGOCD_APP_* variables, the plugin env as ARGOCD_ENV_<name> (with
// $VARIABLE references expanded as Argo CD does) and the plugin parameters
// in Argo CD's own encoding. controlPlane is Argo CD's namespace: an
// Application elsewhere is named <namespace>_<name>. pluginNames are the
// names the plugin answers to.
func applicationEnv(path, controlPlane string, pluginNames []string) (string, []string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return "", nil, fmt.Errorf("--app: %w", err)
	}
	var head struct {
		Kind string `json:"kind"`
	}
	if err := yaml.Unmarshal(data, &head); err != nil {
		return "", nil, fmt.Errorf("--app %s: not YAML: %w", path, err)
	}
	if head.Kind != "Application" {
		return "", nil, fmt.Errorf("--app %s is a %s, not an Application", path, head.Kind)
	}
	var app v1alpha1.Application
	if err := yaml.UnmarshalStrict(data, &app); err != nil {
		return "", nil, fmt.Errorf("--app %s: %w", path, err)
	}
	src, err := pluginSource(&app, pluginNames)
	if err != nil {
		return "", nil, fmt.Errorf("--app %s: %w", path, err)
	}
	env := v1alpha1.Env{
		{Name: cmp.EnvAppName, Value: app.InstanceName(controlPlane)},
		{Name: cmp.EnvAppNamespace, Value: app.Spec.Destination.Namespace},
		{Name: cmp.EnvAppProject, Value: app.Spec.Project},
		{Name: cmp.EnvAppRepoURL, Value: src.RepoURL},
		{Name: cmp.EnvAppSourcePath, Value: src.Path},
		{Name: cmp.EnvAppTargetRev, Value: src.TargetRevision},
	}
	environ := env.Environ()
	for _, e := range src.Plugin.Env {
		environ = append(environ, "ARGOCD_ENV_"+e.Name+"="+env.Envsubst(e.Value))
	}
	params, err := src.Plugin.Parameters.Environ()
	if err != nil {
		return "", nil, fmt.Errorf("--app %s: parameters: %w", path, err)
	}
	return src.Path, append(environ, params...), nil
}

// pluginSource is the one source of the Application that uses this plugin.
func pluginSource(app *v1alpha1.Application, names []string) (*v1alpha1.ApplicationSource, error) {
	sources := app.Spec.Sources
	if app.Spec.Source != nil {
		sources = append(v1alpha1.ApplicationSources{*app.Spec.Source}, sources...)
	}
	var found []*v1alpha1.ApplicationSource
	var others []string
	for i := range sources {
		p := sources[i].Plugin
		if p == nil {
			continue
		}
		if !nameIn(p.Name, names) {
			others = append(others, fmt.Sprintf("plugin %q", p.Name))
			continue
		}
		found = append(found, &sources[i])
	}
	switch {
	case len(found) == 1:
		return found[0], nil
	case len(found) > 1:
		return nil, fmt.Errorf("%d sources use the %s plugin; --app renders one Application source", len(found), names[0])
	case len(others) > 0:
		return nil, fmt.Errorf("no source uses the %s plugin (the Application names %s)", names[0], strings.Join(others, ", "))
	}
	return nil, fmt.Errorf("no source uses the %s plugin (spec.source.plugin.name)", names[0])
}

func nameIn(name string, names []string) bool {
	for _, n := range names {
		if n == name {
			return true
		}
	}
	return false
}
