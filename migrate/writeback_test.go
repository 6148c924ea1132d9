package migrate

import (
	"testing"
)

// TestMigrateWriteBack: write-back settings are notes; what the git method
// left in git is an action naming the file, the repository and the branch.
func TestMigrateWriteBack(t *testing.T) {
	const src = "repoURL: https://github.com/acme/deploy.git\ntargetRevision: release\npath: charts/web\nhelm: {releaseName: web}\n"
	tests := []struct {
		name        string
		annotations map[string]string
		source      string
		findings    []string
	}{
		{name: "none"},
		{name: "argocd", annotations: map[string]string{"write-back-method": "argocd"},
			findings: []string{`write-back-method: "argocd": not needed`}},
		{name: "git writes .argocd-source-<app>.yaml in the path", annotations: map[string]string{"write-back-method": "git"},
			findings: []string{`write-back-method: "git": not needed`,
				`action: app argocd/web: charts/web/.argocd-source-web.yaml: delete it in https://github.com/acme/deploy.git, branch "release"`}},
		{name: "at the root", annotations: map[string]string{"write-back-method": "git:repocreds"}, source: "repoURL: https://github.com/acme/deploy.git\npath: .\n",
			findings: []string{`write-back-method`, `action: app argocd/web: .argocd-source-web.yaml: delete it in https://github.com/acme/deploy.git, branch "HEAD"`}},
		{name: "another repository and branch", annotations: map[string]string{"write-back-method": "git:secret:argocd/creds", "git-repository": "git@github.com:acme/state.git", "git-branch": "main:updates"},
			findings: []string{`write-back-method`, `git-repository`, `git-branch`,
				`charts/web/.argocd-source-web.yaml: delete it in git@github.com:acme/state.git, branch "main:updates"`}},
		{name: "kustomization, relative", annotations: map[string]string{"write-back-method": "git", "write-back-target": "kustomization:../base"},
			findings: []string{`write-back-method`, `write-back-target`, `action: app argocd/web: the kustomization in charts/base: review the images entries`}},
		{name: "kustomization, the path itself", annotations: map[string]string{"write-back-method": "git", "write-back-target": "kustomization"},
			findings: []string{`write-back-method`, `write-back-target`, `the kustomization in charts/web: review`}},
		{name: "helmvalues from the root", annotations: map[string]string{"write-back-method": "git", "write-back-target": "helmvalues:/envs/prod/values.yaml"},
			findings: []string{`write-back-method`, `write-back-target`, `action: app argocd/web: envs/prod/values.yaml: review the image values`}},
		{name: "a target argocd-image-updater does not document", annotations: map[string]string{"write-back-method": "git", "write-back-target": "jsonnet:x"},
			findings: []string{`write-back-method`, `write-back-target`, `write-back-target: "jsonnet:x" is not a write-back target`}},
		{name: "a target without the git method writes nothing", annotations: map[string]string{"write-back-target": "kustomization"},
			findings: []string{`write-back-target`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ann := oneImage()
			for k, v := range tt.annotations {
				ann[k] = v
			}
			source := tt.source
			if source == "" {
				source = src
			}
			r := migrateText(t, appDoc("web", ann, source))
			r.plugin(t, 0)
			r.wantFindings(t, tt.findings...)
			if len(r.report.Findings) != len(tt.findings) {
				t.Errorf("%d report lines, want %d:\n%q", len(r.report.Findings), len(tt.findings), r.lines())
			}
		})
	}
}
