package rewrite

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestParseFields(t *testing.T) {
	got, err := ParseFields([]byte(`
# Extra image fields for custom resources.
images:
- path: spec/template/spec/containers[]/image
  kind: Foo
  group: example.com
  create: true
- path: spec/image
  kind: Bar
  version: v1
`))
	if err != nil {
		t.Fatal(err)
	}
	want := []FieldSpec{
		{Group: "example.com", Kind: "Foo", Path: "spec/template/spec/containers[]/image"},
		{Version: "v1", Kind: "Bar", Path: "spec/image"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %+v\nwant %+v", got, want)
	}
	for _, empty := range []string{"", "# nothing\n", "images:\n", "images: []\n"} {
		got, err := ParseFields([]byte(empty))
		if err != nil || len(got) != 0 {
			t.Errorf("ParseFields(%q) = %v, %v; want nothing", empty, got, err)
		}
	}
}

func TestParseFieldsErrors(t *testing.T) {
	for _, c := range []struct {
		name, in string
		line     int
		want     string
	}{
		{"unknown top-level key", "images: []\nnamePrefix: x\n", 2, `unknown key "namePrefix"`},
		{"not a mapping", "- path: a\n", 1, "top-level `images:` list"},
		{"images not a list", "images:\n  path: a\n", 2, "must be a list"},
		{"item not a mapping", "images:\n- spec/image\n", 2, "each image field is a mapping"},
		{"unknown key", "images:\n- path: spec/image\n  kinds: Foo\n", 3, `unknown key "kinds"`},
		{"no path", "images:\n- kind: Foo\n", 2, "no path"},
		{"empty step", "images:\n- path: a\n- kind: Bar\n  path: spec//image\n", 4, "an empty step"},
		{"selector", "images:\n- kind: Foo\n  path: spec/containers[name=app]/image\n", 3, "only \"[]\""},
		{"key twice", "images:\n- path: a\n  path: b\n", 3, "given twice"},
		{"path not a string", "images:\n- path: [a]\n", 2, "path must be a string"},
		{"create not a bool", "images:\n- path: a\n  create: yes please\n", 3, "create must be true or false"},
		{"two documents", "images: []\n---\nimages: []\n", 2, "second YAML document"},
		{"bad YAML", "images: [\n", 0, "image fields:"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := ParseFields([]byte(c.in))
			var fe *FieldsError
			if !errors.As(err, &fe) {
				t.Fatalf("err = %v, want a FieldsError", err)
			}
			if c.line > 0 && fe.Line != c.line {
				t.Errorf("line = %d, want %d (%v)", fe.Line, c.line, err)
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Errorf("err = %v, want it to mention %q", err, c.want)
			}
		})
	}
}
