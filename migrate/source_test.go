package migrate

import (
	"strings"
	"testing"
)

// TestMigrateSource picks the source argocd-image-updater updated, and
// leaves the Application as it is when there is none, or no single one.
func TestMigrateSource(t *testing.T) {
	ann := "  annotations:\n    argocd-image-updater.argoproj.io/image-list: web=ghcr.io/acme/web:~1.6\n"
	doc := func(spec, extra string) string {
		return "apiVersion: argoproj.io/v1alpha1\nkind: Application\nmetadata:\n  name: web\n  namespace: argocd\n" + ann + extra +
			"spec:\n  project: default\n  destination: {namespace: web}\n" + spec
	}
	tests := []struct {
		name     string
		spec     string
		extra    string // more metadata annotations
		want     int    // index of the converted source in spec.sources; -1: spec.source; -2: none
		findings []string
	}{
		{name: "single source", spec: "  source: {repoURL: https://github.com/acme/deploy.git, path: charts/web}\n", want: -1},
		{name: "a chart from a Helm repository", spec: "  source: {repoURL: https://charts.example.com, chart: web, targetRevision: 1.0.0}\n", want: -2,
			findings: []string{`spec.source.chart: "web" comes from a Helm repository, and Argo CD never hands such a source to a plugin`}},
		{name: "a plugin source", spec: "  source: {repoURL: https://github.com/acme/deploy.git, path: web, plugin: {name: other}}\n", want: -2,
			findings: []string{`spec.source.plugin: the source already uses the plugin "other"`}},
		{name: "no source", spec: "  sources: []\n", want: -2, findings: []string{"spec: the Application has no source"}},
		{name: "a ref source and a git source", spec: "  sources:\n  - {repoURL: https://github.com/acme/values.git, ref: values}\n  - {repoURL: https://github.com/acme/deploy.git, path: charts/web}\n", want: 1},
		{name: "a chart beside a source with settings", spec: "  sources:\n  - {repoURL: https://charts.example.com, chart: redis}\n  - {repoURL: https://github.com/acme/deploy.git, path: charts/web, helm: {releaseName: web}}\n", want: 1},
		{name: "the one with settings", spec: "  sources:\n  - {repoURL: https://github.com/acme/deploy.git, path: docs}\n  - {repoURL: https://github.com/acme/deploy.git, path: charts/web, helm: {releaseName: web}}\n", want: 1},
		{name: "only charts", spec: "  sources:\n  - {repoURL: https://charts.example.com, chart: redis}\n  - {repoURL: https://github.com/acme/values.git, ref: values}\n", want: -2,
			findings: []string{`spec.sources[0].chart: "redis" comes from a Helm repository`}},
		{name: "ambiguous", spec: "  sources:\n  - {repoURL: https://github.com/acme/a.git, path: web}\n  - {repoURL: https://github.com/acme/b.git, path: web}\n", want: -2,
			findings: []string{"spec.sources: spec.sources[0], spec.sources[1] could each be the source argocd-image-updater updated"}},
		{name: "the write-back repository decides", spec: "  sources:\n  - {repoURL: https://github.com/acme/a.git, path: web}\n  - {repoURL: https://GitHub.com/acme/b, path: web}\n", want: 1,
			extra:    "    argocd-image-updater.argoproj.io/git-repository: https://github.com/acme/b.git/\n",
			findings: []string{"git-repository"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := doc(tt.spec, tt.extra)
			r := migrateText(t, in)
			app := r.application(t, 0)
			got := -2
			if app.Spec.Source != nil && app.Spec.Source.Plugin != nil && app.Spec.Source.Plugin.Name == testPlugin {
				got = -1
			}
			for i, s := range app.Spec.Sources {
				if s.Plugin != nil {
					got = i
				}
			}
			if got != tt.want {
				t.Errorf("converted source %d, want %d:\n%s", got, tt.want, r.out)
			}
			if got == -2 && !strings.Contains(r.out, "argocd-image-updater.argoproj.io/image-list") {
				t.Errorf("an Application left as it is keeps its annotations:\n%s", r.out)
			}
			r.wantFindings(t, tt.findings...)
		})
	}
}

func TestSameRepository(t *testing.T) {
	tests := []struct {
		a, b string
		want bool
	}{
		{"https://github.com/acme/deploy.git", "https://github.com/acme/deploy", true},
		{"https://GitHub.com/acme/deploy/", "https://github.com/acme/deploy.git", true},
		{"https://github.com/acme/Deploy", "https://github.com/acme/deploy", false},
		{"git@github.com:acme/deploy.git", "git@github.com:acme/deploy", true},
		{"https://github.com/acme/a", "https://github.com/acme/b", false},
	}
	for _, tt := range tests {
		if got := sameRepository(tt.a, tt.b); got != tt.want {
			t.Errorf("sameRepository(%q, %q) = %v, want %v", tt.a, tt.b, got, tt.want)
		}
	}
}
