package migrate

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// FuzzMigrate feeds arbitrary input to the parser and the conversion.
// Input is author input (a file, or what kubectl printed): it must never
// panic, and what it prints must read back as input that the command
// leaves as it is, since every converted Application loses the
// annotations and ImageUpdaters that made it convert.
func FuzzMigrate(f *testing.F) {
	seeds, _ := filepath.Glob("testdata/*.in.*")
	for _, s := range seeds {
		data, err := os.ReadFile(s)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	for _, s := range []string{
		"",
		"---\n---\n",
		"kind: List\nitems: null\n",
		"kind: List\nitems: [{kind: List, items: []}]\n",
		"a: &a [*a]\n",
		"a: &a {b: 1}\nc: *a\n",
		"apiVersion: argoproj.io/v1alpha1\nkind: Application\nmetadata: {annotations: {argocd-image-updater.argoproj.io/image-list: 'a=b,=,,c=d:e:f'}}\nspec: {sources: [{}, {path: x}]}\n",
		"apiVersion: argoproj.io/v1alpha1\nkind: Application\nmetadata: {annotations: {argocd-image-updater.argoproj.io/image-list: x}}\nspec: {source: {path: p, helm: {valuesObject: 1}}}\n",
		"apiVersion: argocd-image-updater.argoproj.io/v1alpha1\nkind: ImageUpdater\nmetadata: {}\nspec: {applicationRefs: [{namePattern: '[', labelSelectors: {matchLabels: {'a b': c}}}]}\n",
		"--- {kind: List, items: [1]}\n",
		"\xef\xbb\xbf--- |\n  x\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		res, err := Migrate([]Input{{Name: "fuzz.yaml", Data: data}}, Options{PluginName: testPlugin})
		if err != nil {
			return
		}
		var out bytes.Buffer
		if err := res.WriteYAML(&out); err != nil {
			return
		}
		var report bytes.Buffer
		if err := res.Report.Write(&report); err != nil {
			t.Fatal(err)
		}
		again, err := Migrate([]Input{{Name: "out.yaml", Data: out.Bytes()}}, Options{PluginName: testPlugin})
		if err != nil {
			t.Fatalf("the output does not read back: %v\ninput:\n%q\noutput:\n%s", err, data, out.String())
		}
		var out2 bytes.Buffer
		if err := again.WriteYAML(&out2); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(out.Bytes(), out2.Bytes()) {
			t.Fatalf("migrating the output changes it\ninput:\n%q\nfirst:\n%s\nsecond:\n%s", data, out.String(), out2.String())
		}
	})
}
