package migrate

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestSplitDocuments(t *testing.T) {
	type doc struct {
		index, line int
		text        string
	}
	tests := []struct {
		name string
		in   string
		want []doc
	}{
		{name: "one", in: "a: 1\n", want: []doc{{1, 1, "a: 1\n"}}},
		{name: "leading marker", in: "---\na: 1\n", want: []doc{{1, 2, "a: 1\n"}}},
		{name: "two", in: "a: 1\n---\nb: 2\n", want: []doc{{1, 1, "a: 1\n"}, {2, 3, "b: 2\n"}}},
		{name: "content on the marker line", in: "--- {a: 1}\n--- \nb: 2", want: []doc{{1, 1, " {a: 1}\n"}, {2, 3, "b: 2"}}},
		{name: "empty and comment-only documents are not counted", in: "# head\n---\n\n---\n# only\n---\na: 1\n", want: []doc{{1, 7, "a: 1\n"}}},
		{name: "comments before content stay with it", in: "---\n# web\na: 1\n", want: []doc{{1, 2, "# web\na: 1\n"}}},
		{name: "end marker", in: "a: 1\n...\nb: 2\n", want: []doc{{1, 1, "a: 1\n"}, {2, 3, "b: 2\n"}}},
		{name: "CRLF and BOM", in: "\xef\xbb\xbfa: 1\r\n---\r\nb: 2\r\n", want: []doc{{1, 1, "a: 1\r\n"}, {2, 3, "b: 2\r\n"}}},
		{name: "a marker in a block scalar is indented", in: "a: |\n  ---\n  x\n", want: []doc{{1, 1, "a: |\n  ---\n  x\n"}}},
		{name: "not a marker", in: "----\n---x\n", want: []doc{{1, 1, "----\n---x\n"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []doc
			for _, c := range splitDocuments([]byte(tt.in)) {
				got = append(got, doc{c.index, c.line, string(c.text)})
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

// TestMigrateInputErrors: input that cannot be read is an error naming
// the file, the document and the line where it starts.
func TestMigrateInputErrors(t *testing.T) {
	app := "apiVersion: argoproj.io/v1alpha1\nkind: Application\nmetadata: {name: a}\nspec: {project: default}\n"
	tests := []struct {
		name string
		in   string
		want string
	}{
		{name: "bad YAML", in: app + "---\n# two\nkind: [\n", want: "apps.yaml: document 2 (line 6): not valid YAML"},
		{name: "not an object", in: "- a\n- b\n", want: "apps.yaml: document 1 (line 1): a document must be an object (a mapping of keys), not a list"},
		{name: "a List item that is not an object", in: "kind: List\nitems: [a]\n", want: "apps.yaml: document 1 (line 1): items[0]: a List item must be an object, not a string"},
		{name: "an Application of the wrong shape", in: app + "---\napiVersion: argoproj.io/v1alpha1\nkind: Application\nmetadata: {name: b}\nspec: {source: web}\n",
			want: "apps.yaml: document 2 (line 6): not an Argo CD Application"},
		{name: "an ImageUpdater of the wrong shape", in: "apiVersion: argocd-image-updater.argoproj.io/v1alpha1\nkind: ImageUpdater\nmetadata: {name: u}\nspec: {applicationRefs: web}\n",
			want: "apps.yaml: document 1 (line 1): ImageUpdater u: spec:"},
		{name: "an ImageUpdater without spec", in: "apiVersion: argocd-image-updater.argoproj.io/v1alpha1\nkind: ImageUpdater\nmetadata: {name: u}\n",
			want: "ImageUpdater u has no spec"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Migrate([]Input{{Name: "apps.yaml", Data: []byte(tt.in)}}, Options{PluginName: testPlugin})
			var ie *InputError
			if !errors.As(err, &ie) {
				t.Fatalf("err = %v, want an *InputError", err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v\nwant it to contain %q", err, tt.want)
			}
		})
	}
}

// TestMigrateList: a List stays a List, without the ImageUpdaters among
// its items; documents around it keep their order.
func TestMigrateList(t *testing.T) {
	in := `apiVersion: v1
kind: ConfigMap
metadata: {name: before}
---
apiVersion: v1
kind: List
items:
- apiVersion: argocd-image-updater.argoproj.io/v1alpha1
  kind: ImageUpdater
  metadata: {name: u, namespace: argocd}
  spec:
    applicationRefs:
    - namePattern: web
      images: [{alias: web, imageName: ghcr.io/acme/web}]
- apiVersion: argoproj.io/v1alpha1
  kind: Application
  metadata: {name: web, namespace: argocd}
  spec: {project: default, source: {repoURL: https://github.com/acme/deploy.git, path: web}, destination: {namespace: web}}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: after}
`
	r := migrateText(t, in)
	if len(r.docs) != 3 {
		t.Fatalf("%d documents, want 3:\n%s", len(r.docs), r.out)
	}
	if r.docs[0]["kind"] != "ConfigMap" || r.docs[1]["kind"] != "List" || r.docs[2]["kind"] != "ConfigMap" {
		t.Fatalf("order or kinds changed:\n%s", r.out)
	}
	items, _ := r.docs[1]["items"].([]any)
	if len(items) != 1 {
		t.Fatalf("List items %d, want the Application alone:\n%s", len(items), r.out)
	}
	app, _ := items[0].(map[string]any)
	spec, _ := app["spec"].(map[string]any)
	src, _ := spec["source"].(map[string]any)
	if _, ok := src["plugin"]; !ok {
		t.Errorf("the Application in the List is not converted:\n%s", r.out)
	}
}

func TestReadInputs(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	write("b.yaml", "b: 1\n")
	write("a.yml", "a: 1\n")
	write("c.json", "{}")
	write("notes.txt", "x")
	write("sub/d.yaml", "d: 1\n")
	empty := filepath.Join(dir, "empty")
	if err := os.Mkdir(empty, 0o755); err != nil {
		t.Fatal(err)
	}
	names := func(in []Input) []string {
		var out []string
		for _, i := range in {
			out = append(out, filepath.Base(i.Name))
		}
		return out
	}

	got, err := ReadInputs([]string{dir}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"a.yml", "b.yaml", "c.json"}; !reflect.DeepEqual(names(got), want) {
		t.Errorf("directory: %v, want %v (sorted, no sub-directory, no other extension)", names(got), want)
	}

	got, err = ReadInputs(nil, strings.NewReader("x: 1\n"))
	if err != nil || len(got) != 1 || got[0].Name != StdinName || string(got[0].Data) != "x: 1\n" {
		t.Errorf("no argument: %v %v, want standard input", got, err)
	}
	got, err = ReadInputs([]string{filepath.Join(dir, "notes.txt"), "-"}, strings.NewReader("y: 1\n"))
	if err != nil || !reflect.DeepEqual(names(got), []string{"notes.txt", StdinName}) {
		t.Errorf("a named file and -: %v %v", names(got), err)
	}

	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"-", "-"}, "given twice"},
		{[]string{filepath.Join(dir, "missing.yaml")}, "missing.yaml"},
		{[]string{empty}, "no *.yaml, *.yml and *.json files"},
	} {
		if _, err := ReadInputs(tt.args, strings.NewReader("")); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("ReadInputs(%v) = %v, want an error containing %q", tt.args, err, tt.want)
		}
	}

	big := io.LimitReader(zeroReader{}, MaxInputBytes+1)
	if _, err := ReadInputs(nil, big); err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Errorf("an input over MaxInputBytes: %v", err)
	}
}

type zeroReader struct{}

func (zeroReader) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = ' '
	}
	return len(p), nil
}
