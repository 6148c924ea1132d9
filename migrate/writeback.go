package migrate

import (
	"fmt"
	"path"
	"strings"

	"github.com/argoproj/argo-cd/v3/pkg/apis/application/v1alpha1"
)

// writeBackFile is the file argocd-image-updater's git write-back method
// writes by default, in the source's path: `.argocd-source-<app>.yaml`.
func writeBackFile(appName string) string {
	return ".argocd-source-" + appName + ".yaml"
}

// writeBack reports argocd-image-updater's write-back settings. None is
// needed: the plugin writes nothing back. With the git method, what it
// committed stays in git, and the report says what to delete or review.
func writeBack(cfg updaterConfig, app *v1alpha1.Application, t target, f *findings) {
	for _, key := range writeBackSettings() {
		s, ok := cfg.writeBack[key]
		if !ok {
			continue
		}
		if key == updPullRequest {
			f.note(s.from, "not needed: the plugin commits nothing; removed")
			continue
		}
		f.note(s.from, "%q: not needed: the plugin writes nothing back, it resolves the version at every render; removed", s.value)
	}
	method := strings.TrimSpace(cfg.writeBack[updWriteBackMethod].value)
	if method != "git" && !strings.HasPrefix(method, "git:") {
		return
	}
	repo := strings.TrimSpace(cfg.writeBack[updGitRepository].value)
	if repo == "" {
		repo = t.src.RepoURL
	}
	branch := strings.TrimSpace(cfg.writeBack[updGitBranch].value)
	if branch == "" {
		branch = t.src.TargetRevision
	}
	if branch == "" {
		branch = "HEAD"
	}
	where := fmt.Sprintf("in %s, branch %q", repo, branch)
	appPath := path.Clean("/" + t.src.Path)[1:]
	if appPath == "" {
		appPath = "."
	}
	wbTarget := cfg.writeBack[updWriteBackTarget]
	kind, targetPath, _ := strings.Cut(strings.TrimSpace(wbTarget.value), ":")
	switch kind {
	case "":
		f.action(path.Join(appPath, writeBackFile(app.Name)),
			"delete it %s: argocd-image-updater's write-back file, which Argo CD merges into the source it renders; its settings would clash with the plugin source", where)
	case "kustomization":
		dir := targetFile(appPath, targetPath, appPath)
		f.action("the kustomization in "+dir,
			"review the images entries argocd-image-updater wrote to it %s: the plugin now sets these images at every render, and the entries are left only as defaults", where)
	case "helmvalues":
		file := targetFile(appPath, targetPath, "")
		if file == "" {
			file = "the values file it wrote to"
		}
		f.action(file,
			"review the image values argocd-image-updater wrote to it %s: the plugin now writes them at every render, over the file's values", where)
	default:
		f.action(wbTarget.from, "%q is not a write-back target argocd-image-updater documents; review what it wrote %s", wbTarget.value, where)
	}
}

// targetFile resolves a write-back target path as argocd-image-updater
// does: from the repository's root when it starts with '/', else from the
// application's path; def when empty.
func targetFile(appPath, p, def string) string {
	switch {
	case p == "":
		return def
	case strings.HasPrefix(p, "/"):
		if c := path.Clean(p)[1:]; c != "" {
			return c
		}
		return "."
	}
	return path.Join(appPath, p)
}
