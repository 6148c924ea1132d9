package valuepath

import (
	"reflect"
	"strings"
	"testing"
)

func TestParsePath(t *testing.T) {
	cases := []struct {
		in   string
		want Path
		err  string
	}{
		{in: "image.tag", want: Path{{Key: "image"}, {Key: "tag"}}},
		{in: "frontend.image.tag", want: Path{{Key: "frontend"}, {Key: "image"}, {Key: "tag"}}},
		{in: "backend.containers[1].image.tag", want: Path{{Key: "backend"}, {Key: "containers", Indexes: []int{1}}, {Key: "image"}, {Key: "tag"}}},
		{in: "matrix[0][2]", want: Path{{Key: "matrix", Indexes: []int{0, 2}}}},
		{in: `annotations.example\.com/tag`, want: Path{{Key: "annotations"}, {Key: "example.com/tag"}}},
		{in: `weird\[key\]`, want: Path{{Key: "weird[key]"}}},
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
		{in: strings.Repeat("a", 1000) + "=" + strings.Repeat("b", 22), want: Path{{Key: strings.Repeat("a", 1000) + "=" + strings.Repeat("b", 22)}}},
		{in: strings.Repeat("a", 1000) + "=" + strings.Repeat("b", 22) + ",", err: "once escaped (1026)"}, // fuzz: the escaped form would not parse again
	}
	for _, c := range cases {
		got, err := Parse(c.in)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("Parse(%q) error = %v, want %q", c.in, err, c.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("Parse(%q): %v", c.in, err)
			continue
		}
		if !reflect.DeepEqual(got, c.want) {
			t.Errorf("Parse(%q) = %#v, want %#v", c.in, got, c.want)
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
		p, err := Parse(in)
		if err != nil {
			t.Fatal(err)
		}
		if got := p.Sibling("shasum").String(); got != want {
			t.Errorf("sibling(%s) = %s, want %s", in, got, want)
		}
	}
	p, _ := Parse("tags[0]")
	if p.Sibling("shasum") != nil {
		t.Error("a list element has no sibling")
	}
}

func TestSetKeepsListElementsAndTypes(t *testing.T) {
	defaults := map[string]any{
		"backend": map[string]any{
			"containers": []any{
				map[string]any{"name": "api", "image": map[string]any{"tag": "1"}},
				map[string]any{"name": "proxy", "image": map[string]any{"tag": "2"}},
			},
		},
	}
	vals := map[string]any{}
	p, _ := Parse("backend.containers[1].image.tag")
	if err := p.Set(vals, defaults, "1.10"); err != nil {
		t.Fatal(err)
	}
	got, ok := p.Lookup(vals)
	if s, isString := got.(string); !ok || !isString || s != "1.10" {
		t.Fatalf("lookup = %#v (%T)", got, got)
	}
	first, _ := mustPath(t, "backend.containers[0].name").Lookup(vals)
	if first != "api" {
		t.Errorf("containers[0] lost: %#v", vals)
	}
	if tag, _ := p.Lookup(defaults); tag != "2" {
		t.Errorf("defaults were changed: %v", tag)
	}
	// Writing through a scalar is an error, not a panic.
	if err := mustPath(t, "backend.containers[0].name.first").Set(vals, defaults, "x"); err == nil || !strings.Contains(err.Error(), "not a map") {
		t.Errorf("err = %v", err)
	}
	if err := mustPath(t, "backend[0]").Set(vals, defaults, "x"); err == nil || !strings.Contains(err.Error(), "not a list") {
		t.Errorf("err = %v", err)
	}
}

func mustPath(t *testing.T, s string) Path {
	t.Helper()
	p, err := Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return p
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
		p, err := Parse(s)
		if err != nil {
			return
		}
		again, err := Parse(p.String())
		if err != nil {
			t.Fatalf("canonical form %q of %q does not parse: %v", p.String(), s, err)
		}
		if !reflect.DeepEqual(p, again) {
			t.Fatalf("round trip of %q: %#v != %#v", s, p, again)
		}
		vals := map[string]any{}
		if err := p.Set(vals, map[string]any{}, "v"); err != nil {
			t.Fatalf("set %q on empty values: %v", s, err)
		}
		if v, ok := p.Lookup(vals); !ok || v != "v" {
			t.Fatalf("lookup %q after set = %v, %v", s, v, ok)
		}
	})
}

// namedValues stands for Helm's chartutil.Values: a named map type.
type namedValues map[string]any

func TestNamedMapTypes(t *testing.T) {
	vals := map[string]any{"image": namedValues{"tag": "1"}}
	p := mustPath(t, "image.tag")
	if v, ok := p.Lookup(vals); !ok || v != "1" {
		t.Fatalf("Lookup through a named map = %v, %v", v, ok)
	}
	if err := p.Set(vals, nil, "2"); err != nil {
		t.Fatal(err)
	}
	inner := vals["image"]
	if m, ok := AsMap(inner); !ok || m["tag"] != "2" {
		t.Errorf("Set did not write through the named map: %v", vals)
	}
	cp := DeepCopyMap(vals)
	if _, ok := cp["image"].(map[string]any); !ok {
		t.Errorf("DeepCopyMap keeps %T", cp["image"])
	}
	if _, ok := AsMap(map[string]string{}); ok {
		t.Error("a map of strings is not a values map")
	}
}
