package cmp

import (
	"maps"
	"strings"

	"github.com/argocd-image-resolver/argocd-image-resolver/kustomization"
	"github.com/argocd-image-resolver/argocd-image-resolver/resolve"
)

// Config is everything one render needs besides the chart.
type Config struct {
	App App

	Images       []string
	ImageOptions map[string]string

	ValueFiles              []string
	Values                  string
	HelmParameters          map[string]string
	HelmStringParameters    map[string]string
	ReleaseName             string
	SkipCRDs                bool
	IgnoreMissingValueFiles bool

	// Directory are the options of an application path that holds plain
	// manifests rather than a chart (Argo CD's directory source).
	Directory DirectoryOptions
	// Kustomize are the options of an application path that holds a
	// kustomization (Argo CD's spec.source.kustomize).
	Kustomize kustomization.Options

	Namespace   string
	KubeVersion string
	APIVersions []string
}

// Specs parses the configured images and options; opts are the operator's
// defaults (serve --strict-semver).
func (c *Config) Specs(opts ...resolve.SpecOption) ([]resolve.Spec, error) {
	if len(c.Images) == 0 {
		return nil, nil
	}
	specs, err := resolve.ParseSpecs(c.Images, c.ImageOptions, opts...)
	if err != nil {
		return nil, inputError("%v", err)
	}
	// The project comes from Argo CD (ARGOCD_APP_PROJECT_NAME), not from
	// the Application: it selects the registries.conf rules.
	for i := range specs {
		specs[i].Project = c.App.Project
	}
	return specs, nil
}

// settings is one source of configuration; nil fields are unset.
type settings struct {
	Images                  *[]string          `json:"images,omitempty"`
	ImageOptions            *map[string]string `json:"image-options,omitempty"`
	ValueFiles              *[]string          `json:"value-files,omitempty"`
	Values                  *string            `json:"values,omitempty"`
	HelmParameters          *map[string]string `json:"helm-parameters,omitempty"`
	HelmStringParameters    *map[string]string `json:"helm-string-parameters,omitempty"`
	ReleaseName             *string            `json:"release-name,omitempty"`
	SkipCRDs                *flexBool          `json:"skip-crds,omitempty"`
	IgnoreMissingValueFiles *flexBool          `json:"ignore-missing-value-files,omitempty"`
	DirectoryRecurse        *flexBool          `json:"directory-recurse,omitempty"`
	DirectoryInclude        *string            `json:"directory-include,omitempty"`
	DirectoryExclude        *string            `json:"directory-exclude,omitempty"`
	ImageList               *string            `json:"image-list,omitempty"`
	kustomizeSettings

	// aliasOptions are per-alias keys given at the top level, as
	// argocd-image-updater annotations are (`<alias>.update-strategy`).
	aliasOptions map[string]string
}

// images returns images or image-list, refusing both.
func (s *settings) images(source string) (*[]string, error) {
	switch {
	case s.Images != nil && s.ImageList != nil:
		return nil, inputError("%s: give images or image-list, not both", source)
	case s.ImageList != nil:
		list := splitImageList(*s.ImageList)
		return &list, nil
	}
	return s.Images, nil
}

// imageOptions merges image-options with the top-level per-alias keys.
func (s *settings) imageOptions(source string) (*map[string]string, error) {
	if len(s.aliasOptions) == 0 {
		return s.ImageOptions, nil
	}
	out := map[string]string{}
	if s.ImageOptions != nil {
		maps.Copy(out, *s.ImageOptions)
	}
	for k, v := range s.aliasOptions {
		if prev, ok := out[k]; ok && prev != v {
			return nil, inputError("%s: option %q is set twice, %q in image-options and %q as its own key; keep one", source, k, prev, v)
		}
		out[k] = v
	}
	return &out, nil
}

func (s *settings) addAliasOption(key, value string) {
	if s.aliasOptions == nil {
		s.aliasOptions = map[string]string{}
	}
	s.aliasOptions[key] = value
}

// splitImageList splits argocd-image-updater's comma-separated image-list.
func splitImageList(v string) []string {
	var out []string
	for _, part := range strings.Split(v, ",") {
		if part = strings.TrimSpace(part); part != "" {
			out = append(out, part)
		}
	}
	return out
}

// LoadConfig builds the render configuration of one application from
// Argo CD's environment and the application directory: plugin parameters
// (ARGOCD_APP_PARAMETERS) win over the plugin env (ARGOCD_ENV_IMAGE_LIST),
// which wins over RepoConfigFile in the application's folder app (a path
// in repo).
func LoadConfig(env Env, repo Repo, app string) (*Config, error) {
	params, err := parseParameters(env[EnvAppParameters])
	if err != nil {
		return nil, err
	}
	file, err := readRepoConfig(repo, app)
	if err != nil {
		return nil, err
	}
	paramImages, err := params.images("plugin parameters")
	if err != nil {
		return nil, err
	}
	fileImages, err := file.images(RepoConfigFile)
	if err != nil {
		return nil, err
	}
	if paramImages == nil {
		for _, name := range imageListEnv {
			if list := env[name]; strings.TrimSpace(list) != "" {
				images := splitList(list)
				paramImages = &images
				break
			}
		}
	}
	paramOptions, err := params.imageOptions("plugin parameters")
	if err != nil {
		return nil, err
	}
	fileOptions, err := file.imageOptions(RepoConfigFile)
	if err != nil {
		return nil, err
	}

	c := &Config{
		App:         AppFromEnv(env),
		Namespace:   env[EnvAppNamespace],
		KubeVersion: env[EnvKubeVersion],
		APIVersions: splitList(env[EnvKubeAPIVersions]),
	}
	c.Images = pick(paramImages, fileImages)
	c.ImageOptions = pick(paramOptions, fileOptions)
	c.ValueFiles = pick(params.ValueFiles, file.ValueFiles)
	if err := checkRefValueFiles(repo, app, c.ValueFiles); err != nil {
		return nil, err
	}
	c.Values = pick(params.Values, file.Values)
	c.HelmParameters = pick(params.HelmParameters, file.HelmParameters)
	c.HelmStringParameters = pick(params.HelmStringParameters, file.HelmStringParameters)
	c.ReleaseName = pick(params.ReleaseName, file.ReleaseName)
	c.SkipCRDs = bool(pick(params.SkipCRDs, file.SkipCRDs))
	c.IgnoreMissingValueFiles = bool(pick(params.IgnoreMissingValueFiles, file.IgnoreMissingValueFiles))
	c.Directory = DirectoryOptions{
		Recurse: bool(pick(params.DirectoryRecurse, file.DirectoryRecurse)),
		Include: pick(params.DirectoryInclude, file.DirectoryInclude),
		Exclude: pick(params.DirectoryExclude, file.DirectoryExclude),
	}
	if c.Kustomize, err = compileKustomizeOptions(params.kustomizeSettings, file.kustomizeSettings); err != nil {
		return nil, err
	}
	if c.ReleaseName == "" {
		c.ReleaseName = c.App.Name
	}
	return c, nil
}

func pick[T any](first, second *T) T {
	if first != nil {
		return *first
	}
	if second != nil {
		return *second
	}
	var zero T
	return zero
}
