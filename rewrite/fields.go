package rewrite

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"

	"gopkg.in/yaml.v3"
)

// FieldSpec is one image field of a kind, in Kustomize's image field spec
// format (sigs.k8s.io/kustomize/api/types.FieldSpec): the string at Path
// of objects of the group, version and kind is an image reference. An
// empty Group, Version or Kind matches any, as in Kustomize. Path steps are
// separated by '/'; a step ending in "[]" is a list whose every item is
// followed ("spec/template/spec/containers[]/image").
type FieldSpec struct {
	Group   string `json:"group,omitempty"`
	Version string `json:"version,omitempty"`
	Kind    string `json:"kind,omitempty"`
	Path    string `json:"path"`
}

func (f FieldSpec) String() string {
	gvk := f.Kind
	if gvk == "" {
		gvk = "any kind"
	}
	if f.Group != "" || f.Version != "" {
		gvk += " (" + strings.Trim(f.Group+"/"+f.Version, "/") + ")"
	}
	return gvk + " " + f.Path
}

// fieldKeys are the keys of one field spec; create is Kustomize's and is
// accepted but has no effect (a rewrite never creates an image field).
var fieldKeys = []string{"group", "version", "kind", "path", "create"}

// ParseFields reads an image fields file:
//
//	images:
//	- path: spec/template/spec/containers[]/image
//	  kind: Foo
//	  group: example.com
//
// Errors name the line.
func ParseFields(data []byte) ([]FieldSpec, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, nil
		}
		return nil, &FieldsError{Err: err}
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err == nil {
		return nil, &FieldsError{Line: extra.Line, Err: errors.New("a second YAML document; the file holds one mapping with an `images:` list")}
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) == 0 {
		return nil, nil
	}
	root := doc.Content[0]
	if root.Kind != yaml.MappingNode {
		return nil, &FieldsError{Line: root.Line, Err: errors.New("expected a mapping with a top-level `images:` list")}
	}
	var out []FieldSpec
	for i := 0; i+1 < len(root.Content); i += 2 {
		k, v := root.Content[i], root.Content[i+1]
		if k.Value != "images" {
			return nil, &FieldsError{Line: k.Line, Err: fmt.Errorf("unknown key %q; the only top-level key is images", k.Value)}
		}
		if v.Kind != yaml.SequenceNode {
			if v.Tag == "!!null" {
				continue
			}
			return nil, &FieldsError{Line: v.Line, Err: errors.New("`images` must be a list of field specs (path, kind, group, version)")}
		}
		for _, item := range v.Content {
			f, err := parseFieldSpec(item)
			if err != nil {
				return nil, err
			}
			out = append(out, f)
		}
	}
	return out, nil
}

func parseFieldSpec(n *yaml.Node) (FieldSpec, error) {
	var f FieldSpec
	pathLine := n.Line
	if n.Kind != yaml.MappingNode {
		return f, &FieldsError{Line: n.Line, Err: fmt.Errorf("each image field is a mapping with keys %s", strings.Join(fieldKeys, ", "))}
	}
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if seen[k.Value] {
			return f, &FieldsError{Line: k.Line, Err: fmt.Errorf("key %q is given twice", k.Value)}
		}
		seen[k.Value] = true
		if v.Kind != yaml.ScalarNode {
			return f, &FieldsError{Line: v.Line, Err: fmt.Errorf("%s must be a string", k.Value)}
		}
		switch k.Value {
		case "group":
			f.Group = v.Value
		case "version":
			f.Version = v.Value
		case "kind":
			f.Kind = v.Value
		case "path":
			f.Path, pathLine = v.Value, v.Line
		case "create":
			if v.Tag != "!!bool" {
				return f, &FieldsError{Line: v.Line, Err: errors.New("create must be true or false")}
			}
		default:
			return f, &FieldsError{Line: k.Line, Err: fmt.Errorf("unknown key %q; keys: %s", k.Value, strings.Join(fieldKeys, ", "))}
		}
	}
	if f.Path == "" {
		return f, &FieldsError{Line: n.Line, Err: errors.New("the field spec has no path (e.g. path: spec/template/spec/containers[]/image)")}
	}
	if _, err := parsePath(f.Path); err != nil {
		return f, &FieldsError{Line: pathLine, Err: err}
	}
	return f, nil
}

// step is one element of a field path: a mapping key, followed into every
// item when list is set.
type step struct {
	key  string
	list bool
}

// maxPathSteps bounds a field path.
const maxPathSteps = 32

// PathError is a field path that is not of the form a/b[]/c.
type PathError struct {
	Path   string
	Reason string
}

func (e *PathError) Error() string {
	return fmt.Sprintf("path %q: %s (write it as a/b[]/c: keys separated by '/', \"[]\" after a list)", e.Path, e.Reason)
}

func parsePath(p string) ([]step, error) {
	parts := strings.Split(p, "/")
	if len(parts) > maxPathSteps {
		return nil, &PathError{Path: p, Reason: fmt.Sprintf("more than %d steps", maxPathSteps)}
	}
	steps := make([]step, 0, len(parts))
	for _, part := range parts {
		s := step{key: part}
		if k, ok := strings.CutSuffix(part, "[]"); ok {
			s = step{key: k, list: true}
		}
		switch {
		case s.key == "":
			return nil, &PathError{Path: p, Reason: "an empty step"}
		case strings.ContainsAny(s.key, "[]"):
			return nil, &PathError{Path: p, Reason: fmt.Sprintf("step %q: only \"[]\" (every item) is supported in a step", part)}
		}
		steps = append(steps, s)
	}
	return steps, nil
}
