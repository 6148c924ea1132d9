package rewrite

import (
	"encoding/json"
	"strings"

	"sigs.k8s.io/yaml"
)

// Bounds of the work on one rendered document, which chart authors
// control.
const (
	// MaxDocumentBytes is the largest document a rewrite reads.
	MaxDocumentBytes = 4 << 20
	// MaxVisits is the most values one document's image fields lead to
	// (lists of containers, and lists in extra field paths, multiply).
	MaxVisits = 100000
)

// Image is one image to write: where a field runs Repository (on its
// registry, or behind a registry proxy's prefix), the field keeps its name
// and gets the tag and digest of Reference (Repository followed by ":tag",
// "@digest" or ":tag@digest"), whatever it had.
type Image struct {
	Repository string
	Reference  string
}

// suffix is the tag and digest part of the image's reference.
func (img Image) suffix() string {
	return strings.TrimPrefix(img.Reference, img.Repository)
}

// Result is the rewritten documents and what was written.
type Result struct {
	// Documents are the input documents, those the rewrite changed in
	// sigs.k8s.io/yaml's canonical form (sorted keys: the same input gives
	// the same bytes), the others as they were.
	Documents []string
	// Written counts, in the order of the images given, the image fields
	// (containers, mostly) each image was written into.
	Written []int
}

// Rewrite writes the images into the image fields of the documents: the
// containers, init containers and ephemeral containers of the workload
// kinds, and the fields of the extra field specs. A field whose repository
// several images name gets the first of them. Documents that are not
// valid YAML objects are passed through unchanged.
func Rewrite(docs []string, images []Image, extra []FieldSpec) (*Result, error) {
	res := &Result{Documents: make([]string, len(docs)), Written: make([]int, len(images))}
	copy(res.Documents, docs)
	if len(images) == 0 {
		return res, nil
	}
	rs, err := rules(extra)
	if err != nil {
		return nil, err
	}
	repos := make([]repository, len(images))
	for i, img := range images {
		repos[i] = parseRepository(img.Repository)
	}
	for i, doc := range docs {
		if !strings.Contains(doc, "image") && len(extra) == 0 {
			continue // no container image can be in it
		}
		if len(doc) > MaxDocumentBytes {
			// Not read (a large CRD, say); a workload missed here fails the
			// rendered check instead.
			continue
		}
		var obj map[string]interface{}
		if err := yaml.Unmarshal([]byte(doc), &obj, useNumber); err != nil || obj == nil {
			continue
		}
		kind, _ := obj["kind"].(string)
		apiVersion, _ := obj["apiVersion"].(string)
		group, version := "", apiVersion
		if g, v, ok := strings.Cut(apiVersion, "/"); ok {
			group, version = g, v
		}
		w := walker{budget: MaxVisits}
		changed := false
		for _, r := range rs {
			if !r.selects(group, version, kind) {
				continue
			}
			w.walk(obj, r.path, nil, func(current string, set func(string)) {
				j := match(repos, current)
				if j < 0 {
					return
				}
				res.Written[j]++
				if next := rewritten(current, images[j].suffix()); current != next {
					set(next)
					changed = true
				}
			})
			if w.budget < 0 {
				return nil, &LimitError{Document: i, Kind: kind, What: "image fields visited", Limit: MaxVisits}
			}
		}
		if !changed {
			continue
		}
		b, err := yaml.Marshal(obj)
		if err != nil {
			return nil, &MarshalError{Document: i, Kind: kind, Err: err}
		}
		res.Documents[i] = string(b)
	}
	return res, nil
}

// useNumber keeps numbers as written (no float64 rounding of large
// integers) when a document is read.
func useNumber(d *json.Decoder) *json.Decoder {
	d.UseNumber()
	return d
}

// match is the index of the first repository that current names, or -1.
func match(repos []repository, current string) int {
	if strings.TrimSpace(current) == "" {
		return -1
	}
	rendered := parseRepository(current)
	for j, r := range repos {
		if runs(rendered, r) {
			return j
		}
	}
	return -1
}

// walker follows field paths within a budget of visited values.
type walker struct{ budget int }

// walk follows path from v and calls visit with every string it leads to
// and a function that replaces that string; set replaces v itself.
func (w *walker) walk(v interface{}, path []step, set func(string), visit func(string, func(string))) {
	w.budget--
	if w.budget < 0 {
		return
	}
	if len(path) == 0 {
		if s, ok := v.(string); ok && set != nil {
			visit(s, set)
		}
		return
	}
	m, ok := v.(map[string]interface{})
	if !ok {
		return
	}
	s := path[0]
	child, ok := m[s.key]
	if !ok {
		return
	}
	if !s.list {
		w.walk(child, path[1:], func(n string) { m[s.key] = n }, visit)
		return
	}
	items, ok := child.([]interface{})
	if !ok {
		return
	}
	for k := range items {
		if w.budget < 0 {
			return
		}
		w.walk(items[k], path[1:], func(n string) { items[k] = n }, visit)
	}
}
