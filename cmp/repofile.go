package cmp

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"strings"

	"sigs.k8s.io/yaml"

	"github.com/argocd-image-resolver/argocd-image-resolver/resolve"
)

// RepoConfigFile is the optional per-application configuration file, read
// from the application path. It takes the same keys as the parameters.
const RepoConfigFile = ".argocd-image-resolver.yaml"

// readRepoConfig reads RepoConfigFile from the application's folder app;
// a missing file is no configuration. Links in a repository on disk are
// resolved within it.
func readRepoConfig(repo Repo, app string) (settings, error) {
	var out settings
	data, err := repo.readFile(path.Join(app, RepoConfigFile))
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
		bare := strings.TrimPrefix(k, resolve.UpdaterPrefix)
		if _, known := parameterKinds[bare]; !known && bare != ParamImageList && resolve.IsOptionKey(bare) {
			value, err := scalarString(v)
			if err != nil {
				return settings{}, inputError("%s: %s: %v", RepoConfigFile, k, err)
			}
			out.addAliasOption(k, value)
			continue
		}
		normalized[bare] = v
	}
	jsonData, err = json.Marshal(normalized)
	if err != nil {
		return out, err
	}
	dec := json.NewDecoder(bytes.NewReader(jsonData))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&out); err != nil {
		return settings{}, inputError("%s: %v (known keys: %s, %s, and <alias>.<option> keys)", RepoConfigFile, err, knownParameters(), ParamImageList)
	}
	return out, nil
}

// scalarString reads a YAML scalar (string, number or boolean) as the
// string an option value is.
func scalarString(raw json.RawMessage) (string, error) {
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		return "", err
	}
	switch t := v.(type) {
	case string:
		return t, nil
	case bool, float64:
		return strings.TrimSpace(string(raw)), nil
	}
	return "", errors.New("want a single value, as in image-options")
}

// splitList splits a comma- or whitespace-separated list.
func splitList(s string) []string {
	return strings.FieldsFunc(s, func(r rune) bool {
		return r == ',' || r == ' ' || r == '\n' || r == '\t' || r == '\r'
	})
}
