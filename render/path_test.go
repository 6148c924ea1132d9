package render

import (
	"reflect"
	"strings"
	"testing"
)

func TestParsePath(t *testing.T) {
	cases := []struct {
		in   string
		want valuePath
		err  string
	}{
		{in: "image.tag", want: valuePath{{Key: "image"}, {Key: "tag"}}},
		{in: "frontend.image.tag", want: valuePath{{Key: "frontend"}, {Key: "image"}, {Key: "tag"}}},
		{in: "backend.containers[1].image.tag", want: valuePath{{Key: "backend"}, {Key: "containers", Indexes: []int{1}}, {Key: "image"}, {Key: "tag"}}},
		{in: "matrix[0][2]", want: valuePath{{Key: "matrix", Indexes: []int{0, 2}}}},
		{in: `annotations.example\.com/tag`, want: valuePath{{Key: "annotations"}, {Key: "example.com/tag"}}},
		{in: `weird\[key\]`, want: valuePath{{Key: "weird[key]"}}},
		{in: "", err: "empty"},
		{in: ".tag", err: "empty key"},
		{in: "image.", err: "ends with"},
		{in: "image..tag", err: "empty key"},
		{in: "[0].tag", err: "index without a key"},
		{in: "list[", err: "unclosed"},
		{in: "list[]", err: "not a non-negative integer"},
		{in: "list[-1]", err: "not a non-negative integer"},
		{in: "list[a]", err: "not a non-negative integer"},
		{in: "list[99999999999999999999]", err: "larger than"},
		{in: "list[0]x", err: "after index"},
		{in: "a]b", err: "unexpected ']'"},
		{in: `trailing\`, err: "trailing backslash"},
		{in: strings.Repeat("a.", 600) + "a", err: "longer than"},
	}
	for _, c := range cases {
		got, err := parsePath(c.in)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("parsePath(%q) error = %v, want %q", c.in, err, c.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("parsePath(%q): %v", c.in, err)
			continue
		}
		if !reflect.DeepEqual(got, c.want) {
			t.Errorf("parsePath(%q) = %#v, want %#v", c.in, got, c.want)
		}
	}
}

func TestSiblingDefaults(t *testing.T) {
	for in, want := range map[string]string{
		"image.tag":                       "image.shasum",
		"frontend.image.tag":              "frontend.image.shasum",
		"backend.containers[1].image.tag": "backend.containers[1].image.shasum",
		"tag":                             "shasum",
	} {
		p, err := parsePath(in)
		if err != nil {
			t.Fatal(err)
		}
		if got := p.sibling("shasum").String(); got != want {
			t.Errorf("sibling(%s) = %s, want %s", in, got, want)
		}
	}
	p, _ := parsePath("tags[0]")
	if p.sibling("shasum") != nil {
		t.Error("a list element has no sibling")
	}
}

func TestSetKeepsListElementsAndTypes(t *testing.T) {
	defaults := map[string]interface{}{
		"backend": map[string]interface{}{
			"containers": []interface{}{
				map[string]interface{}{"name": "api", "image": map[string]interface{}{"tag": "1"}},
				map[string]interface{}{"name": "proxy", "image": map[string]interface{}{"tag": "2"}},
			},
		},
	}
	vals := map[string]interface{}{}
	p, _ := parsePath("backend.containers[1].image.tag")
	if err := p.set(vals, defaults, "1.10"); err != nil {
		t.Fatal(err)
	}
	got, ok := p.lookup(vals)
	if s, isString := got.(string); !ok || !isString || s != "1.10" {
		t.Fatalf("lookup = %#v (%T)", got, got)
	}
	first, _ := mustPath(t, "backend.containers[0].name").lookup(vals)
	if first != "api" {
		t.Errorf("containers[0] lost: %#v", vals)
	}
	if tag, _ := p.lookup(defaults); tag != "2" {
		t.Errorf("defaults were changed: %v", tag)
	}
	// Writing through a scalar is an error, not a panic.
	if err := mustPath(t, "backend.containers[0].name.first").set(vals, defaults, "x"); err == nil || !strings.Contains(err.Error(), "not a map") {
		t.Errorf("err = %v", err)
	}
	if err := mustPath(t, "backend[0]").set(vals, defaults, "x"); err == nil || !strings.Contains(err.Error(), "not a list") {
		t.Errorf("err = %v", err)
	}
}

func mustPath(t *testing.T, s string) valuePath {
	t.Helper()
	p, err := parsePath(s)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestSplitDocuments(t *testing.T) {
	in := "---\n# Source: a.yaml\nkind: A\n\n---\n# only a comment\n---   \n\nkind: B\nx: |\n  ---not a separator\n--- # trailing comment\nkind: C\n"
	want := []string{"# Source: a.yaml\nkind: A\n", "kind: B\nx: |\n  ---not a separator\n", "kind: C\n"}
	if got := SplitDocuments(in); !reflect.DeepEqual(got, want) {
		t.Errorf("SplitDocuments = %q, want %q", got, want)
	}
}

// FuzzParsePath checks that any input either fails cleanly or parses into a
// path whose canonical form parses back to the same path, and that setting
// and reading a value at it round-trips.
func FuzzParsePath(f *testing.F) {
	for _, s := range []string{
		"image.tag", "backend.containers[1].image.tag", "a[0][1].b", `x\.y.z`, "frontend.image.overrideTag",
		"[0]", "a..b", "a[", "a[-1]", "a[1]b", `a\`, "a]", "a[4096]", "a[4097]",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := parsePath(s)
		if err != nil {
			return
		}
		again, err := parsePath(p.String())
		if err != nil {
			t.Fatalf("canonical form %q of %q does not parse: %v", p.String(), s, err)
		}
		if !reflect.DeepEqual(p, again) {
			t.Fatalf("round trip of %q: %#v != %#v", s, p, again)
		}
		vals := map[string]interface{}{}
		if err := p.set(vals, map[string]interface{}{}, "v"); err != nil {
			t.Fatalf("set %q on empty values: %v", s, err)
		}
		if v, ok := p.lookup(vals); !ok || v != "v" {
			t.Fatalf("lookup %q after set = %v, %v", s, v, ok)
		}
	})
}
