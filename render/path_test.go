package render

import (
	"reflect"
	"testing"
)

// Value paths are tested in package valuepath, with their fuzz target.

func TestValuePathForwarding(t *testing.T) {
	p, err := parsePath("backend.containers[1].image.tag")
	if err != nil {
		t.Fatal(err)
	}
	vals := map[string]interface{}{}
	if err := p.set(vals, nil, "1.10"); err != nil {
		t.Fatal(err)
	}
	if v, ok := p.sibling("tag").lookup(vals); !ok || v != "1.10" {
		t.Fatalf("lookup = %v, %v in %v", v, ok, vals)
	}
	if got := p.sibling("shasum").String(); got != "backend.containers[1].image.shasum" {
		t.Errorf("sibling = %s", got)
	}
}

func TestSplitDocuments(t *testing.T) {
	in := "---\n# Source: a.yaml\nkind: A\n\n---\n# only a comment\n---   \n\nkind: B\nx: |\n  ---not a separator\n--- # trailing comment\nkind: C\n"
	want := []string{"# Source: a.yaml\nkind: A\n", "kind: B\nx: |\n  ---not a separator\n", "kind: C\n"}
	if got := SplitDocuments(in); !reflect.DeepEqual(got, want) {
		t.Errorf("SplitDocuments = %q, want %q", got, want)
	}
}
