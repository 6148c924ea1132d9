package plugin

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/argocd-image-resolver/argocd-image-resolver/migrate"
)

const migrateApp = `apiVersion: argoproj.io/v1alpha1
kind: Application
metadata:
  name: web
  namespace: argocd
  annotations:
    argocd-image-updater.argoproj.io/image-list: web=ghcr.io/acme/web:~1.6
    argocd-image-updater.argoproj.io/web.helm.image-tag: image.tag
spec:
  project: default
  source:
    repoURL: https://github.com/acme/deploy.git
    path: charts/web
    helm:
      valueFiles: [values-prod.yaml]
  destination:
    namespace: web
`

// chartApp cannot be converted: its chart comes from a Helm repository.
const chartApp = `apiVersion: argoproj.io/v1alpha1
kind: Application
metadata:
  name: redis
  namespace: argocd
  annotations:
    argocd-image-updater.argoproj.io/image-list: redis=ghcr.io/acme/redis:^7
spec:
  project: default
  source:
    repoURL: https://charts.example.com
    chart: redis
    targetRevision: 20.0.0
  destination:
    namespace: redis
`

func runMigrate(t *testing.T, stdin string, args ...string) (string, string, error) {
	t.Helper()
	root := NewRootCommand()
	var out, errOut bytes.Buffer
	root.SetArgs(append([]string{"migrate"}, args...))
	root.SetIn(strings.NewReader(stdin))
	root.SetOut(&out)
	root.SetErr(&errOut)
	err := root.Execute()
	return out.String(), errOut.String(), err
}

func TestMigrateCommand(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "web.yaml"), []byte(migrateApp), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "redis.yml"), []byte(chartApp), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name      string
		stdin     string
		args      []string
		wantOut   []string
		noOut     []string
		wantErr   string // fragment of the command's error; "" for success
		wantStder []string
	}{
		{
			name:    "standard input",
			stdin:   migrateApp,
			wantOut: []string{"name: image-resolver", "- web=ghcr.io/acme/web:~1.6", "web.helm.image-tag: image.tag", "name: value-files"},
			noOut:   []string{"argocd-image-updater.argoproj.io", "helm:"},
		},
		{
			name:    "dash is standard input",
			stdin:   migrateApp,
			args:    []string{"-"},
			wantOut: []string{"name: image-resolver"},
		},
		{
			name:      "a directory, in name order",
			args:      []string{dir},
			wantOut:   []string{"name: redis", "---\n", "name: image-resolver"},
			wantStder: []string{"error: app argocd/redis: spec.source.chart"},
		},
		{
			name:      "check fails on what cannot be converted",
			args:      []string{"--check", filepath.Join(dir, "redis.yml")},
			wantOut:   []string{"chart: redis"},
			wantErr:   "1 setting could not be converted",
			wantStder: []string{"error: app argocd/redis"},
		},
		{
			name:    "check passes when everything converts",
			args:    []string{"--check", filepath.Join(dir, "web.yaml")},
			wantOut: []string{"name: image-resolver"},
		},
		{
			name:    "bad YAML names the file and document",
			stdin:   migrateApp + "---\nkind: [\n",
			wantErr: "<stdin>: document 2 (line 19): not valid YAML",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, errOut, err := runMigrate(t, tt.stdin, tt.args...)
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("migrate %v: %v\nstderr:\n%s", tt.args, err, errOut)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Fatalf("migrate %v: %v, want an error containing %q", tt.args, err, tt.wantErr)
			}
			for _, w := range tt.wantOut {
				if !strings.Contains(out, w) {
					t.Errorf("stdout lacks %q:\n%s", w, out)
				}
			}
			for _, w := range tt.noOut {
				if strings.Contains(out, w) {
					t.Errorf("stdout has %q:\n%s", w, out)
				}
			}
			for _, w := range tt.wantStder {
				if !strings.Contains(errOut, w) {
					t.Errorf("stderr lacks %q:\n%s", w, errOut)
				}
			}
		})
	}
	_, _, err := runMigrate(t, "", "--check", filepath.Join(dir, "redis.yml"))
	var ue *migrate.UnconvertedError
	if !errors.As(err, &ue) || ue.Count != 1 {
		t.Errorf("--check error %v, want an *migrate.UnconvertedError counting 1", err)
	}
}
