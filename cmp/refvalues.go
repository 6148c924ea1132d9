package cmp

import (
	"errors"
	"io/fs"
	"path"
	"strings"

	"github.com/argocd-image-resolver/argocd-image-resolver/render"
)

// checkRefValueFiles rejects value files named through a `ref` source of a
// multi-source Application ("$values/envs/prod.yaml"). Argo CD replaces
// `$<ref>` with the ref source's checkout for Helm sources only; a plugin
// gets its own source's files and the name as written, so such a file can
// never be found. A folder that really is called `$values` in the
// application directory still works.
func checkRefValueFiles(repo Repo, app string, files []string) error {
	for _, f := range files {
		ref, ok := refName(f)
		if !ok {
			continue
		}
		if p, ok := render.ValueFilePath(".", path.Clean(app), f); ok {
			if _, err := repo.stat(p); err == nil || !errors.Is(err, fs.ErrNotExist) {
				continue
			}
		}
		return inputError("value file %q names the ref source $%s of a multi-source Application: "+
			"Argo CD resolves $ref value files for Helm sources only and sends a plugin the files of its own source; "+
			"commit the values file beside the chart and name it relative to the chart, or render that chart with a Helm source",
			f, ref)
	}
	return nil
}

// refName returns <ref> of "$<ref>/...", where <ref> is what Argo CD
// accepts as a source's `ref` (letters, digits, '_' and '-').
func refName(file string) (string, bool) {
	rest, ok := strings.CutPrefix(file, "$")
	if !ok {
		return "", false
	}
	ref, _, ok := strings.Cut(rest, "/")
	if !ok || ref == "" {
		return "", false
	}
	for _, r := range ref {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '-') {
			return "", false
		}
	}
	return ref, true
}
