package cmp

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/argoproj/argo-cd/v3/cmpserver/apiclient"
	securejoin "github.com/cyphar/filepath-securejoin"
	"sigs.k8s.io/yaml"

	"github.com/argocd-image-resolver/argocd-image-resolver/resolve"
)

// RepoConfigFile is the optional per-application configuration file, read
// from the application path. It takes the same keys as the parameters.
const RepoConfigFile = ".argocd-image-resolver.yaml"

// Parameter names (spec.source.plugin.parameters[].name).
const (
	ParamImages                  = "images"
	ParamImageOptions            = "image-options"
	ParamValueFiles              = "value-files"
	ParamValues                  = "values"
	ParamHelmParameters          = "helm-parameters"
	ParamHelmStringParameters    = "helm-string-parameters"
	ParamReleaseName             = "release-name"
	ParamSkipCRDs                = "skip-crds"
	ParamIgnoreMissingValueFiles = "ignore-missing-value-files"

	// AnnouncedImagePrefix names the informational parameters announcing
	// resolved tags (`image.<alias>`); they are accepted and ignored.
	AnnouncedImagePrefix = "image."
)

// Environment variables Argo CD sets for a plugin.
const (
	EnvAppName         = "ARGOCD_APP_NAME"
	EnvAppNamespace    = "ARGOCD_APP_NAMESPACE"
	EnvAppProject      = "ARGOCD_APP_PROJECT_NAME"
	EnvAppRevision     = "ARGOCD_APP_REVISION"
	EnvAppRepoURL      = "ARGOCD_APP_SOURCE_REPO_URL"
	EnvAppSourcePath   = "ARGOCD_APP_SOURCE_PATH"
	EnvAppTargetRev    = "ARGOCD_APP_SOURCE_TARGET_REVISION"
	EnvAppParameters   = "ARGOCD_APP_PARAMETERS"
	EnvKubeVersion     = "KUBE_VERSION"
	EnvKubeAPIVersions = "KUBE_API_VERSIONS"
	EnvImageList       = "ARGOCD_ENV_IMAGE_LIST"
)

// Env is the environment of one render as Argo CD passes it.
type Env map[string]string

// EnvFromEntries converts the stream's metadata entries.
func EnvFromEntries(entries []*apiclient.EnvEntry) Env {
	env := make(Env, len(entries))
	for _, e := range entries {
		if e != nil && e.GetName() != "" {
			env[e.GetName()] = e.GetValue()
		}
	}
	return env
}

// EnvFromList converts "NAME=value" pairs (os.Environ()).
func EnvFromList(list []string) Env {
	env := make(Env, len(list))
	for _, kv := range list {
		if name, value, ok := strings.Cut(kv, "="); ok && name != "" {
			env[name] = value
		}
	}
	return env
}

// App identifies the Application a render was for.
type App struct {
	// Name is the Application name, without the `<namespace>_` prefix
	// Argo CD adds for Applications outside its control-plane namespace.
	Name string `json:"name"`
	// Namespace is the Application's own namespace when Argo CD reported it
	// (apps in any namespace); empty means the control-plane namespace.
	Namespace string `json:"namespace,omitempty"`
	Project   string `json:"project,omitempty"`
	RepoURL   string `json:"repoURL,omitempty"`
	Path      string `json:"path,omitempty"`
	// TargetRevision and Revision are the source's requested and resolved
	// revisions.
	TargetRevision string `json:"targetRevision,omitempty"`
	Revision       string `json:"revision,omitempty"`
	// DestinationNamespace is ARGOCD_APP_NAMESPACE.
	DestinationNamespace string `json:"destinationNamespace,omitempty"`
}

// String is the qualified name, `<namespace>/<name>` when the namespace is
// known.
func (a App) String() string {
	if a.Namespace != "" {
		return a.Namespace + "/" + a.Name
	}
	return a.Name
}

// AppFromEnv reads the Application identity.
func AppFromEnv(env Env) App {
	a := App{
		Name:                 env[EnvAppName],
		Project:              env[EnvAppProject],
		RepoURL:              env[EnvAppRepoURL],
		Path:                 env[EnvAppSourcePath],
		TargetRevision:       env[EnvAppTargetRev],
		Revision:             env[EnvAppRevision],
		DestinationNamespace: env[EnvAppNamespace],
	}
	// Application names are DNS subdomains and never hold '_'.
	if ns, name, ok := strings.Cut(a.Name, "_"); ok {
		a.Namespace, a.Name = ns, name
	}
	return a
}

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

	Namespace   string
	KubeVersion string
	APIVersions []string
}

// Specs parses the configured images and options.
func (c *Config) Specs() ([]resolve.Spec, error) {
	if len(c.Images) == 0 {
		return nil, nil
	}
	specs, err := resolve.ParseSpecs(c.Images, c.ImageOptions)
	if err != nil {
		return nil, inputError("%v", err)
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
}

// flexBool accepts true/false as a YAML boolean or a string.
type flexBool bool

func (b *flexBool) UnmarshalJSON(data []byte) error {
	var s string
	if err := json.Unmarshal(data, &s); err != nil {
		var v bool
		if err := json.Unmarshal(data, &v); err != nil {
			return fmt.Errorf("want \"true\" or \"false\", got %s", data)
		}
		*b = flexBool(v)
		return nil
	}
	v, err := strconv.ParseBool(strings.TrimSpace(s))
	if err != nil {
		return fmt.Errorf("want \"true\" or \"false\", got %q", s)
	}
	*b = flexBool(v)
	return nil
}

// pluginParameter is one element of ARGOCD_APP_PARAMETERS as Argo CD
// marshals ApplicationSourcePluginParameter.
type pluginParameter struct {
	Name   string             `json:"name"`
	String *string            `json:"string,omitempty"`
	Array  *[]string          `json:"array,omitempty"`
	Map    *map[string]string `json:"map,omitempty"`
}

type paramKind int

const (
	kindString paramKind = iota
	kindArray
	kindMap
	kindBool
)

var parameterKinds = map[string]paramKind{
	ParamImages:                  kindArray,
	ParamImageOptions:            kindMap,
	ParamValueFiles:              kindArray,
	ParamValues:                  kindString,
	ParamHelmParameters:          kindMap,
	ParamHelmStringParameters:    kindMap,
	ParamReleaseName:             kindString,
	ParamSkipCRDs:                kindBool,
	ParamIgnoreMissingValueFiles: kindBool,
}

func knownParameters() string {
	names := make([]string, 0, len(parameterKinds))
	for n := range parameterKinds {
		names = append(names, n)
	}
	sort.Strings(names)
	return strings.Join(names, ", ")
}

// parseParameters decodes ARGOCD_APP_PARAMETERS.
func parseParameters(raw string) (settings, error) {
	var out settings
	if strings.TrimSpace(raw) == "" {
		return out, nil
	}
	var params []pluginParameter
	dec := json.NewDecoder(strings.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&params); err != nil {
		return out, inputError("%s is not the JSON list of plugin parameters Argo CD sends: %v", EnvAppParameters, err)
	}
	var errs []error
	for _, p := range params {
		name := strings.TrimPrefix(p.Name, resolve.UpdaterPrefix)
		if strings.HasPrefix(name, AnnouncedImagePrefix) {
			continue
		}
		kind, ok := parameterKinds[name]
		if !ok {
			errs = append(errs, fmt.Errorf("unknown parameter %q (known: %s)", p.Name, knownParameters()))
			continue
		}
		if err := out.set(name, kind, p); err != nil {
			errs = append(errs, fmt.Errorf("parameter %q: %w", p.Name, err))
		}
	}
	if len(errs) > 0 {
		return settings{}, inputError("%v", errors.Join(errs...))
	}
	return out, nil
}

func (s *settings) set(name string, kind paramKind, p pluginParameter) error {
	var str string
	switch kind {
	case kindArray:
		if p.Array == nil {
			return errors.New("must be an array (set `array:` in spec.source.plugin.parameters)")
		}
	case kindMap:
		if p.Map == nil {
			return errors.New("must be a map (set `map:` in spec.source.plugin.parameters)")
		}
	case kindString, kindBool:
		if p.String == nil {
			return errors.New("must be a string (set `string:` in spec.source.plugin.parameters)")
		}
		str = *p.String
	}
	switch name {
	case ParamImages:
		s.Images = p.Array
	case ParamImageOptions:
		s.ImageOptions = p.Map
	case ParamValueFiles:
		s.ValueFiles = p.Array
	case ParamValues:
		s.Values = &str
	case ParamHelmParameters:
		s.HelmParameters = p.Map
	case ParamHelmStringParameters:
		s.HelmStringParameters = p.Map
	case ParamReleaseName:
		s.ReleaseName = &str
	case ParamSkipCRDs, ParamIgnoreMissingValueFiles:
		v, err := strconv.ParseBool(strings.TrimSpace(str))
		if err != nil {
			return fmt.Errorf("want \"true\" or \"false\", got %q", str)
		}
		b := flexBool(v)
		if name == ParamSkipCRDs {
			s.SkipCRDs = &b
		} else {
			s.IgnoreMissingValueFiles = &b
		}
	}
	return nil
}

// readRepoConfig reads RepoConfigFile from appDir; a missing file is no
// configuration. Links in the tree are resolved within repoRoot.
func readRepoConfig(repoRoot, appDir string) (settings, error) {
	var out settings
	rel, err := filepath.Rel(repoRoot, filepath.Join(appDir, RepoConfigFile))
	if err != nil {
		return out, err
	}
	p, err := securejoin.SecureJoin(repoRoot, rel)
	if err != nil {
		return out, err
	}
	data, err := os.ReadFile(p)
	if errors.Is(err, fs.ErrNotExist) {
		return out, nil
	}
	if err != nil {
		return out, fmt.Errorf("reading %s: %w", RepoConfigFile, err)
	}
	jsonData, err := yaml.YAMLToJSON(data)
	if err != nil {
		return out, inputError("%s: %v", RepoConfigFile, err)
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(jsonData, &raw); err != nil {
		return out, inputError("%s: want a mapping of parameter names, e.g. `images: [web=ghcr.io/acme/web:~1.6]`: %v", RepoConfigFile, err)
	}
	normalized := make(map[string]json.RawMessage, len(raw))
	for k, v := range raw {
		normalized[strings.TrimPrefix(k, resolve.UpdaterPrefix)] = v
	}
	jsonData, err = json.Marshal(normalized)
	if err != nil {
		return out, err
	}
	dec := json.NewDecoder(bytes.NewReader(jsonData))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&out); err != nil {
		return settings{}, inputError("%s: %v (known keys: %s)", RepoConfigFile, err, knownParameters())
	}
	return out, nil
}

// splitList splits a comma- or whitespace-separated list.
func splitList(s string) []string {
	return strings.FieldsFunc(s, func(r rune) bool {
		return r == ',' || r == ' ' || r == '\n' || r == '\t' || r == '\r'
	})
}

// LoadConfig builds the render configuration of one application from
// Argo CD's environment and the application directory: plugin parameters
// (ARGOCD_APP_PARAMETERS) win over the plugin env (ARGOCD_ENV_IMAGE_LIST),
// which wins over RepoConfigFile in appDir.
func LoadConfig(env Env, repoRoot, appDir string) (*Config, error) {
	params, err := parseParameters(env[EnvAppParameters])
	if err != nil {
		return nil, err
	}
	file, err := readRepoConfig(repoRoot, appDir)
	if err != nil {
		return nil, err
	}
	if list := env[EnvImageList]; strings.TrimSpace(list) != "" && params.Images == nil {
		images := splitList(list)
		params.Images = &images
	}

	c := &Config{
		App:         AppFromEnv(env),
		Namespace:   env[EnvAppNamespace],
		KubeVersion: env[EnvKubeVersion],
		APIVersions: splitList(env[EnvKubeAPIVersions]),
	}
	c.Images = pick(params.Images, file.Images)
	c.ImageOptions = pick(params.ImageOptions, file.ImageOptions)
	c.ValueFiles = pick(params.ValueFiles, file.ValueFiles)
	c.Values = pick(params.Values, file.Values)
	c.HelmParameters = pick(params.HelmParameters, file.HelmParameters)
	c.HelmStringParameters = pick(params.HelmStringParameters, file.HelmStringParameters)
	c.ReleaseName = pick(params.ReleaseName, file.ReleaseName)
	c.SkipCRDs = bool(pick(params.SkipCRDs, file.SkipCRDs))
	c.IgnoreMissingValueFiles = bool(pick(params.IgnoreMissingValueFiles, file.IgnoreMissingValueFiles))
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
