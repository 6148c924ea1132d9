package cmp

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	kubeyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"
)

// skipRenderingMarker in a file leaves the file out, as in Argo CD.
const skipRenderingMarker = "+argocd:skip-file-rendering"

// errNotObject marks a document that is not a Kubernetes object (no kind).
var errNotObject = errors.New("not a Kubernetes object: it has no kind")

// manifestDocuments reads the Kubernetes objects of one manifest file as
// Argo CD does, each as a YAML document in canonical form (sorted keys):
//   - a .json file holds one JSON value; an object without a kind is not a
//     manifest and is left out;
//   - a .yaml/.yml file holds YAML documents (or JSON); empty documents are
//     skipped; when the first document is not a Kubernetes object, the file
//     is left out unless it looks like one (it has apiVersion:, kind: and
//     metadata:), in which case, as for a bad document after good ones,
//     the file is an error;
//   - a List (an object with an items list) gives its items.
func manifestDocuments(name string, data []byte) ([]string, error) {
	if bytes.Contains(data, []byte(skipRenderingMarker)) {
		return nil, nil
	}
	if strings.HasSuffix(name, ".json") {
		return jsonDocuments(data)
	}
	return yamlDocuments(data)
}

func jsonDocuments(data []byte) ([]string, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	var raw json.RawMessage
	if err := dec.Decode(&raw); err != nil {
		return nil, fmt.Errorf("reading JSON: %w", err)
	}
	if dec.More() {
		return nil, errors.New("a JSON file holds one object; this one holds several (use a List, or a .yaml file with several documents)")
	}
	docs, err := objectDocuments(raw)
	if errors.Is(err, errNotObject) {
		return nil, nil
	}
	return docs, err
}

func yamlDocuments(data []byte) ([]string, error) {
	dec := kubeyaml.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096)
	var out []string
	for n := 1; ; n++ {
		var raw json.RawMessage
		err := dec.Decode(&raw)
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		var docs []string
		if err == nil {
			if isNull(raw) {
				continue
			}
			docs, err = objectDocuments(raw)
		}
		if err != nil {
			if n == 1 && !looksLikeManifest(data) {
				return nil, nil // some other YAML file
			}
			return nil, fmt.Errorf("document %d: %w", n, err)
		}
		out = append(out, docs...)
	}
}

// looksLikeManifest is Argo CD's test for a file that fails to read but
// is meant to be a manifest.
func looksLikeManifest(data []byte) bool {
	return bytes.Contains(data, []byte("apiVersion:")) && bytes.Contains(data, []byte("kind:")) && bytes.Contains(data, []byte("metadata:"))
}

func isNull(raw json.RawMessage) bool {
	t := bytes.TrimSpace(raw)
	return len(t) == 0 || string(t) == "null"
}

// objectDocuments checks that raw is a Kubernetes object and gives it, or
// the items of a List, as canonical YAML documents. Numbers keep the
// digits they were written with.
func objectDocuments(raw json.RawMessage) ([]string, error) {
	obj, err := decodeObject(raw)
	if err != nil {
		return nil, err
	}
	items, isList := obj["items"]
	_, hasSpec := obj["spec"]
	_, hasStatus := obj["status"]
	var objs []map[string]any
	switch list, ok := items.([]any); {
	case isList && ok:
		for i, it := range list {
			m, ok := it.(map[string]any)
			if !ok {
				return nil, fmt.Errorf("item %d of the list is not an object", i)
			}
			if k, _ := m["kind"].(string); k == "" {
				return nil, fmt.Errorf("item %d of the list: %w", i, errNotObject)
			}
			objs = append(objs, m)
		}
	case isList && items == nil && !hasSpec && !hasStatus:
		// A list with no items: nothing to apply.
	default:
		objs = []map[string]any{obj}
	}
	out := make([]string, 0, len(objs))
	for _, o := range objs {
		b, err := yaml.Marshal(o)
		if err != nil {
			return nil, err
		}
		out = append(out, string(b))
	}
	return out, nil
}

func decodeObject(raw json.RawMessage) (map[string]any, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	obj, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("%w (it is not a mapping)", errNotObject)
	}
	if k, _ := obj["kind"].(string); k == "" {
		return nil, errNotObject
	}
	return obj, nil
}
