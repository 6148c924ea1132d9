package cmp

import (
	"bytes"
	"fmt"
	"path"
	"slices"
	"strings"

	"sigs.k8s.io/yaml"
)

// RemoteReferenceError says that a kustomization names a remote base or
// file (a git repository or an http URL). Kustomize would clone or fetch
// it itself, with the git program and its own HTTP client, outside the
// plugin's connection rules, so the plugin refuses it.
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

// isRemoteReference reports whether Kustomize would take s as a remote
// git repository or http URL rather than a path in the repository. It is
// wider than Kustomize's own parsing on purpose: anything with a scheme,
// the go-getter `git::` prefix, an SCP-style `user@host:` or the github.com
// host counts.
func isRemoteReference(s string) bool {
	s = strings.TrimSpace(s)
	if _, file, ok := strings.Cut(s, "="); ok && !strings.Contains(s, "://") {
		// key=path of generator files.
		s = file
	}
	if strings.Contains(s, "://") {
		return true
	}
	lower := strings.ToLower(s)
	if strings.HasPrefix(lower, "git::") || strings.HasPrefix(lower, "github.com/") || strings.HasPrefix(lower, "github.com:") {
		return true
	}
	user, _, ok := strings.Cut(s, "@")
	if !ok || user == "" || !isLetter(user[0]) {
		return false
	}
	for _, c := range []byte(user) {
		if !isLetter(c) && (c < '0' || c > '9') && c != '-' {
			return false
		}
	}
	return true
}

func isLetter(c byte) bool { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') }

// guardKustomizeFile screens a file a Kustomize build reads (abs is its
// path from the repository's root): a kustomization, or a document that
// configures a built-in generator or transformer (apiVersion builtin),
// must not name remote references nor Helm charts. Other files are
// resources and pass as they are.
func guardKustomizeFile(abs string, data []byte) error {
	file := strings.TrimPrefix(abs, "/")
	isKustomization := slices.Contains(kustomizationFiles(), path.Base(abs))
	if !isKustomization && !bytes.Contains(data, []byte("builtin")) {
		return nil
	}
	docs, err := manifestDocuments(file, data)
	if err != nil {
		// Kustomize reports what is wrong with it.
		return nil
	}
	for _, doc := range docs {
		var obj map[string]interface{}
		if err := yaml.Unmarshal([]byte(doc), &obj); err != nil || obj == nil {
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
		if err := screenLoaded(file, obj, ""); err != nil {
			return err
		}
	}
	return nil
}

// screenLoaded walks v, checking the string values under loaded keys
// (key is the nearest such key above v, or "").
func screenLoaded(file string, v interface{}, key string) error {
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
			if err := screenLoaded(file, child, under); err != nil {
				return err
			}
		}
	case []interface{}:
		for _, child := range v {
			if err := screenLoaded(file, child, key); err != nil {
				return err
			}
		}
	case string:
		if key != "" && isRemoteReference(v) {
			return &RemoteReferenceError{File: file, Key: key, Value: v}
		}
	}
	return nil
}
