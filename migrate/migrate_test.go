package migrate

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/argocd-image-resolver/argocd-image-resolver/cmp"
)

// updateGolden rewrites the golden files instead of comparing:
// MIGRATE_UPDATE_GOLDEN=1 go test ./migrate/ -run Golden
const updateGolden = "MIGRATE_UPDATE_GOLDEN"

// TestMigrateGolden converts each testdata/<case>.in.yaml (or .in.json),
// Applications and ImageUpdaters written from the fields argocd-image-
// updater documents, and compares the output with <case>.out.yaml and the
// report with <case>.report.
func TestMigrateGolden(t *testing.T) {
	inputs, err := filepath.Glob("testdata/*.in.*")
	if err != nil || len(inputs) < 5 {
		t.Fatalf("testdata inputs: %v %v", inputs, err)
	}
	for _, in := range inputs {
		name := strings.SplitN(filepath.Base(in), ".in.", 2)[0]
		t.Run(name, func(t *testing.T) {
			data, err := os.ReadFile(in)
			if err != nil {
				t.Fatal(err)
			}
			res, err := Migrate([]Input{{Name: in, Data: data}}, Options{PluginName: testPlugin})
			if err != nil {
				t.Fatal(err)
			}
			var out, report bytes.Buffer
			if err := res.WriteYAML(&out); err != nil {
				t.Fatal(err)
			}
			if err := res.Report.Write(&report); err != nil {
				t.Fatal(err)
			}
			golden(t, filepath.Join("testdata", name+".out.yaml"), out.String())
			golden(t, filepath.Join("testdata", name+".report"), report.String())
			checkPluginAccepts(t, res)
		})
	}
}

func golden(t *testing.T, file, got string) {
	t.Helper()
	if os.Getenv(updateGolden) != "" {
		if err := os.WriteFile(file, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(file)
	if err != nil {
		t.Fatalf("%v (run with %s=1 to write it)", err, updateGolden)
	}
	if got != string(want) {
		t.Errorf("%s differs (run with %s=1 to rewrite it, then review the diff)\ngot:\n%s", file, updateGolden, got)
	}
}

// checkPluginAccepts hands the parameters of every converted Application
// that the report has no error about to the plugin's own configuration
// loader, encoded as Argo CD sends them.
func checkPluginAccepts(t *testing.T, res *Result) {
	t.Helper()
	withErrors := map[string]bool{}
	for _, f := range res.Report.Findings {
		if f.Severity == Error && f.Kind == "app" {
			withErrors[f.Object] = true
		}
	}
	checked := 0
	for _, d := range res.docs {
		for _, e := range d.entries {
			if e.out == nil || !isArgoKind(e.out, "Application") {
				continue
			}
			a, err := decodeApplication(e)
			if err != nil {
				t.Fatal(err)
			}
			sources := a.app.Spec.Sources
			if a.app.Spec.Source != nil {
				sources = append(sources, *a.app.Spec.Source)
			}
			for _, s := range sources {
				if s.Plugin == nil || withErrors[a.f.object] {
					continue
				}
				env, err := s.Plugin.Parameters.Environ()
				if err != nil {
					t.Fatal(err)
				}
				if _, err := cmp.LoadConfig(cmp.EnvFromList(env), cmp.DiskRepo(t.TempDir()), "."); err != nil {
					t.Errorf("%s: the plugin refuses the converted parameters: %v", a.f.object, err)
				}
				checked++
			}
		}
	}
	t.Logf("the plugin accepts the parameters of %d converted Applications", checked)
}
