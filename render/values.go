package render

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"helm.sh/helm/v3/pkg/strvals"
	"sigs.k8s.io/yaml"
)

// userValues merges the values an Application gives, in the order Argo CD
// hands them to `helm template`: value files, then the inline values (Argo
// CD writes them to one more value file), then --set, then --set-string.
// The chart's own values.yaml is not included: Helm coalesces it later.
func userValues(req *Request) (map[string]interface{}, error) {
	base := map[string]interface{}{}
	for _, vf := range req.ValueFiles {
		var data []byte
		var err error
		if req.Repo != nil {
			data, err = readValueFileMemory(req.Repo, req.RepoRoot, req.ChartDir, vf)
		} else {
			data, _, err = readValueFile(req.RepoRoot, req.ChartDir, vf)
		}
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) && req.IgnoreMissingValueFiles {
				continue
			}
			return nil, err
		}
		m := map[string]interface{}{}
		if err := yaml.Unmarshal(data, &m); err != nil {
			return nil, fmt.Errorf("value file %q: %w", vf, err)
		}
		base = mergeMaps(base, m)
	}
	if strings.TrimSpace(req.Values) != "" {
		m := map[string]interface{}{}
		if err := yaml.Unmarshal([]byte(req.Values), &m); err != nil {
			return nil, fmt.Errorf("inline values: %w", err)
		}
		base = mergeMaps(base, m)
	}
	for _, k := range sortedKeys(req.Parameters) {
		if err := parseSet(k, req.Parameters[k], base, false); err != nil {
			return nil, err
		}
	}
	for _, k := range sortedKeys(req.StringParameters) {
		if err := parseSet(k, req.StringParameters[k], base, true); err != nil {
			return nil, err
		}
	}
	return base, nil
}

// parseSet applies one helm-parameter the way Argo CD passes it to Helm:
// unescaped commas in the value are escaped (Helm would split on them) unless
// the value is a {list}.
func parseSet(key, val string, dest map[string]interface{}, asString bool) (err error) {
	flag := "--set"
	if asString {
		flag = "--set-string"
	}
	if strings.TrimSpace(key) == "" {
		return fmt.Errorf("%s: empty parameter name (value %q)", flag, val)
	}
	defer func() {
		// strvals recovers most of its own panics; this guards the rest so a
		// hostile parameter can never take the server down.
		if r := recover(); r != nil {
			err = fmt.Errorf("%s %s: %v", flag, key, r)
		}
	}()
	expr := key + "=" + escapeSetValue(val)
	if asString {
		err = strvals.ParseIntoString(expr, dest)
	} else {
		err = strvals.ParseInto(expr, dest)
	}
	if err != nil {
		return fmt.Errorf("%s %s: %w (check the parameter name: dots separate keys, [n] indexes lists, escape a literal dot as \\.)", flag, key, err)
	}
	return nil
}

// escapeSetValue escapes commas not already escaped, as Argo CD does before
// calling helm, except in {a,b} list values.
func escapeSetValue(v string) string {
	if strings.HasPrefix(v, "{") && strings.HasSuffix(v, "}") {
		return v
	}
	var b strings.Builder
	escaped := false
	for _, r := range v {
		switch {
		case escaped:
			escaped = false
		case r == '\\':
			escaped = true
		case r == ',':
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}

// readValueFile reads a value file named relative to the chart directory (an
// absolute name is taken relative to the repository root, as Argo CD does).
// The file, symlinks resolved, must stay inside the repository root.
func readValueFile(repoRoot, chartDir, name string) ([]byte, string, error) {
	if strings.Contains(name, "://") {
		return nil, "", fmt.Errorf("value file %q: remote value files are not supported; commit the file to the repository", name)
	}
	var p string
	if filepath.IsAbs(name) {
		p = filepath.Join(repoRoot, name)
	} else {
		p = filepath.Join(chartDir, name)
	}
	if !within(repoRoot, p) {
		return nil, "", fmt.Errorf("value file %q resolves outside the repository: value files must be inside the repository", name)
	}
	real, err := filepath.EvalSymlinks(p)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, p, fmt.Errorf("value file %q not found (set ignore-missing-value-files to skip missing files): %w", name, fs.ErrNotExist)
		}
		return nil, p, fmt.Errorf("value file %q: %w", name, err)
	}
	realRoot, err := filepath.EvalSymlinks(repoRoot)
	if err != nil {
		return nil, p, fmt.Errorf("repository root: %w", err)
	}
	if !within(realRoot, real) {
		return nil, p, fmt.Errorf("value file %q is a symlink leading outside the repository: value files must be inside the repository", name)
	}
	data, err := os.ReadFile(real)
	if err != nil {
		return nil, p, fmt.Errorf("value file %q: %w", name, err)
	}
	return data, p, nil
}

// within reports whether p is root or below it (both cleaned, lexically).
func within(root, p string) bool {
	rel, err := filepath.Rel(filepath.Clean(root), filepath.Clean(p))
	if err != nil {
		return false
	}
	return rel == "." || (rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator)))
}

func relOrSelf(root, p string) string {
	if rel, err := filepath.Rel(root, p); err == nil {
		return rel
	}
	return p
}

// mergeMaps merges b over a: maps merge key by key, anything else in b
// replaces a's value (Helm's rule for value files).
func mergeMaps(a, b map[string]interface{}) map[string]interface{} {
	out := make(map[string]interface{}, len(a))
	for k, v := range a {
		out[k] = v
	}
	for k, v := range b {
		if vm, ok := v.(map[string]interface{}); ok {
			if om, ok := out[k].(map[string]interface{}); ok {
				out[k] = mergeMaps(om, vm)
				continue
			}
		}
		out[k] = v
	}
	return out
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
