package kustomization

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"path"
	"unicode/utf8"

	"gopkg.in/yaml.v3"
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
	return fmt.Sprintf("%s: not valid YAML (%v): the plugin checks what each kustomization names before Kustomize reads it; fix the file (duplicate keys are refused)", e.File, e.Err)
}

func (e *UnscreenedError) Unwrap() error { return e.Err }

// loadedKey reports whether Kustomize reads the values of the key k (in a
// kustomization, or in the configuration of a built-in generator or
// transformer) as paths of files or folders to load, or as inline
// configurations that may name such paths.
func loadedKey(k string) bool {
	switch k {
	case "resources", "bases", "components", "crds", "configurations",
		"generators", "transformers", "validators",
		"patchesStrategicMerge", "path", "paths", "files", "envs", "env":
		return true
	}
	return false
}

// helmKey reports whether k inflates Helm charts.
func helmKey(k string) bool {
	return k == "helmCharts" || k == "helmChartInflationGenerator" || k == "helmGlobals"
}

// Guard screens a file a Kustomize build reads (file is its path in the
// repository): a kustomization, or a document that configures a built-in
// generator or transformer (apiVersion builtin), must name no remote
// reference and no Helm chart. Other files are resources and pass, as do
// documents that are not YAML objects (Kustomize reports those).
func Guard(file string, data []byte) error {
	isKustomization := IsFileName(path.Base(file))
	if !isKustomization && !bytes.Contains(data, []byte("builtin")) {
		return nil
	}
	if !utf8.Valid(data) {
		// Other encodings (UTF-16 with its byte order mark) may read
		// differently here and in Kustomize.
		return &UnscreenedError{File: file, Err: errors.New("not UTF-8")}
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	for {
		var doc interface{}
		err := dec.Decode(&doc)
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			// What cannot be screened is refused: Kustomize's own
			// parsers accept some YAML (duplicate keys) this one does not.
			return &UnscreenedError{File: file, Err: err}
		}
		obj, ok := doc.(map[string]interface{})
		if !ok {
			continue
		}
		if !isKustomization {
			if obj["apiVersion"] != "builtin" {
				continue
			}
			if obj["kind"] == "HelmChartInflationGenerator" {
				return &HelmChartsError{File: file}
			}
		}
		if err := screen(file, obj, ""); err != nil {
			return err
		}
	}
}

// screen walks v, checking the string values under loaded keys (key is
// the nearest such key above v, or "").
func screen(file string, v interface{}, key string) error {
	switch v := v.(type) {
	case map[string]interface{}:
		for k, child := range v {
			if helmKey(k) && child != nil {
				return &HelmChartsError{File: file}
			}
			under := key
			if loadedKey(k) {
				under = k
			}
			if err := screen(file, child, under); err != nil {
				return err
			}
		}
	case []interface{}:
		for _, child := range v {
			if err := screen(file, child, key); err != nil {
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
