package kustomization

import (
	"bytes"
	"fmt"
	"path"
	"strings"
	"unicode/utf8"

	"sigs.k8s.io/kustomize/api/provider"
	"sigs.k8s.io/kustomize/api/resource"
	"sigs.k8s.io/kustomize/api/types"
	"sigs.k8s.io/yaml"
)

// RemoteReferenceError says that a kustomization names a remote base or
// file (a git repository or an http URL). Kustomize would clone or fetch
// it itself, with the git program and its own HTTP client, outside the
// plugin's connection rules.
type RemoteReferenceError struct {
	// File is the kustomization, or the generator or transformer
	// configuration, that names it (a path in the repository).
	File  string
	Key   string
	Value string
}

func (e *RemoteReferenceError) Error() string {
	return fmt.Sprintf("%s: %s entry %q is a remote reference (git repository or http URL): the image-resolver plugin builds kustomizations only from the Application's repository, since Kustomize would fetch it outside the plugin's connection rules; copy the base into the repository, or render this Application with Argo CD's own Kustomize support",
		e.File, e.Key, e.Value)
}

// HelmChartsError says that a kustomization inflates Helm charts, which
// Kustomize does by running a helm program.
type HelmChartsError struct {
	File string
}

func (e *HelmChartsError) Error() string {
	return fmt.Sprintf("%s: helmCharts are not supported: Kustomize would run a helm program, which the image-resolver plugin never does; point the Application at the chart itself (the plugin renders Helm charts with its own Helm library), or render the charts into the repository", e.File)
}

// UnscreenedError says that a kustomization, or a file that configures
// a built-in generator or transformer, could not be read to check what it
// names.
type UnscreenedError struct {
	File string
	Err  error
}

func (e *UnscreenedError) Error() string {
	return fmt.Sprintf("%s: not a valid kustomization (%v): the plugin checks what each kustomization names before Kustomize reads it; fix the file", e.File, e.Err)
}

func (e *UnscreenedError) Unwrap() error { return e.Err }

// Screen checks each file of one Kustomize build as Kustomize will read
// it. Kustomizations are decoded with Kustomize's own decoder (which
// matches keys whatever their case, and resolves YAML merge keys its own
// way), checked field by field, and handed to Kustomize re-encoded, so
// that Kustomize reads exactly what was checked. Other files are parsed
// with Kustomize's resource factory (Lists expanded, as for generator and
// transformer configurations), and those that configure a built-in plugin
// (group "", version builtin) are checked.
type Screen struct {
	resources *resource.Factory
}

// NewScreen returns a Screen with Kustomize's own resource factory.
func NewScreen() *Screen {
	return &Screen{resources: provider.NewDefaultDepProvider().GetResourceFactory()}
}

// File screens the file at file (its path in the repository) and returns
// the bytes Kustomize is to read.
func (s *Screen) File(file string, data []byte) ([]byte, error) {
	if IsFileName(path.Base(file)) {
		var k types.Kustomization
		if err := k.Unmarshal(data); err != nil {
			return nil, &UnscreenedError{File: file, Err: err}
		}
		if err := s.Kustomization(file, &k); err != nil {
			return nil, err
		}
		out, err := yaml.Marshal(&k)
		if err != nil {
			return nil, &UnscreenedError{File: file, Err: err}
		}
		return out, nil
	}
	if utf8.Valid(data) && !bytes.Contains(data, []byte("builtin")) && !bytes.ContainsRune(data, '\\') {
		// No escape could spell the builtin version either.
		return data, nil
	}
	return data, s.configs(file, data)
}

// Kustomization checks the fields of k whose values Kustomize loads as
// files or folders, and refuses Helm charts.
func (s *Screen) Kustomization(file string, k *types.Kustomization) error {
	if len(k.HelmCharts) > 0 || len(k.HelmChartInflationGenerator) > 0 || k.HelmGlobals != nil {
		return &HelmChartsError{File: file}
	}
	check := func(key string, values ...string) error {
		for _, v := range values {
			if IsRemoteReference(v) {
				return &RemoteReferenceError{File: file, Key: key, Value: v}
			}
		}
		return nil
	}
	var smp []string
	for _, p := range k.PatchesStrategicMerge {
		smp = append(smp, string(p))
	}
	for _, c := range []struct {
		key    string
		values []string
	}{
		{"resources", k.Resources},
		{"bases", k.Bases},
		{"components", k.Components},
		{"crds", k.Crds},
		{"configurations", k.Configurations},
		{"patchesStrategicMerge", smp},
		{"openapi path", []string{k.OpenAPI["path"]}},
	} {
		if err := check(c.key, c.values...); err != nil {
			return err
		}
	}
	for _, p := range k.Patches {
		if err := check("patches path", p.Path); err != nil {
			return err
		}
	}
	for _, p := range k.PatchesJson6902 {
		if err := check("patchesJson6902 path", p.Path); err != nil {
			return err
		}
	}
	for _, r := range k.Replacements {
		if err := check("replacements path", r.Path); err != nil {
			return err
		}
	}
	for _, g := range k.ConfigMapGenerator {
		if err := check("configMapGenerator files", kvSources(g.GeneratorArgs)...); err != nil {
			return err
		}
	}
	for _, g := range k.SecretGenerator {
		if err := check("secretGenerator files", kvSources(g.GeneratorArgs)...); err != nil {
			return err
		}
	}
	for _, c := range []struct {
		key     string
		entries []string
	}{
		{"generators", k.Generators},
		{"transformers", k.Transformers},
		{"validators", k.Validators},
	} {
		for _, entry := range c.entries {
			// As Kustomize tells them apart: an entry that parses as
			// resources is an inline configuration, else a path.
			if _, err := s.resources.SliceFromBytes([]byte(entry)); err == nil {
				if err := s.configs(file, []byte(entry)); err != nil {
					return err
				}
				continue
			}
			if err := check(c.key, entry); err != nil {
				return err
			}
		}
	}
	return nil
}

// kvSources are the files a generator reads.
func kvSources(g types.GeneratorArgs) []string {
	out := append(append([]string{}, g.FileSources...), g.EnvSources...)
	return append(out, g.EnvSource)
}

// configs checks the built-in plugin configurations among the resources
// of data. What does not parse as resources cannot configure a plugin
// either.
func (s *Screen) configs(file string, data []byte) error {
	res, err := s.resources.SliceFromBytes(data)
	if err != nil {
		return nil
	}
	for _, r := range res {
		gvk := r.GetGvk()
		if gvk.Group != "" || gvk.Version != "builtin" {
			continue
		}
		if gvk.Kind == "HelmChartInflationGenerator" {
			return &HelmChartsError{File: file}
		}
		m, err := r.Map()
		if err != nil {
			return &UnscreenedError{File: file, Err: err}
		}
		if err := screenConfig(file, m, ""); err != nil {
			return err
		}
	}
	return nil
}

// configKey reports whether a built-in plugin reads the values of the key
// k as files to load. Plugins decode their configuration with
// encoding/json, which matches keys whatever their case (Unicode folding
// included), hence EqualFold.
func configKey(k string) (string, bool) {
	for _, name := range []string{"path", "paths", "files", "envs", "env", "targetFilePath",
		"valuesFile", "additionalValuesFiles", "chartHome", "argsFromFile"} {
		if strings.EqualFold(k, name) {
			return name, true
		}
	}
	return "", false
}

// screenConfig walks a plugin configuration, checking the string values
// under loaded keys (key is the nearest such key above v, or "").
func screenConfig(file string, v interface{}, key string) error {
	switch v := v.(type) {
	case map[string]interface{}:
		for k, child := range v {
			under := key
			if name, ok := configKey(k); ok {
				under = name
			}
			if err := screenConfig(file, child, under); err != nil {
				return err
			}
		}
	case []interface{}:
		for _, child := range v {
			if err := screenConfig(file, child, key); err != nil {
				return err
			}
		}
	case string:
		if key != "" && IsRemoteReference(v) {
			return &RemoteReferenceError{File: file, Key: key, Value: v}
		}
	}
	return nil
}
