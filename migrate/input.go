package migrate

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"sigs.k8s.io/yaml"
)

// MaxInputBytes bounds one input (a file, or standard input).
const MaxInputBytes = 32 << 20

// StdinName names standard input in errors.
const StdinName = "<stdin>"

// inputPatterns names the files a directory argument contributes.
const inputPatterns = "*.yaml, *.yml and *.json"

// Input is one named stream of YAML (or JSON) documents.
type Input struct {
	// Name is the file name, or StdinName.
	Name string
	Data []byte
}

// ReadInputs reads what the migrate command is given: files, directories
// and "-" for standard input; no argument at all means standard input. A
// directory contributes its *.yaml, *.yml and *.json files in name order,
// not those of its sub-directories.
func ReadInputs(args []string, stdin io.Reader) ([]Input, error) {
	if len(args) == 0 {
		args = []string{"-"}
	}
	var out []Input
	stdinRead := false
	for _, arg := range args {
		if arg == "-" {
			if stdinRead {
				return nil, errors.New(`"-" (standard input) is given twice`)
			}
			stdinRead = true
			in, err := readInput(StdinName, stdin)
			if err != nil {
				return nil, err
			}
			out = append(out, in)
			continue
		}
		files, err := inputFiles(arg)
		if err != nil {
			return nil, err
		}
		for _, name := range files {
			in, err := readFile(name)
			if err != nil {
				return nil, err
			}
			out = append(out, in)
		}
	}
	return out, nil
}

// inputFiles is the file arg names, or the input files of directory arg.
func inputFiles(arg string) ([]string, error) {
	fi, err := os.Stat(arg)
	if err != nil {
		return nil, err
	}
	if !fi.IsDir() {
		return []string{arg}, nil
	}
	entries, err := os.ReadDir(arg)
	if err != nil {
		return nil, err
	}
	var files []string
	for _, e := range entries {
		if e.IsDir() || !hasInputExtension(e.Name()) {
			continue
		}
		files = append(files, filepath.Join(arg, e.Name()))
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("%s: no %s files in this directory (sub-directories are not read)", arg, inputPatterns)
	}
	sort.Strings(files)
	return files, nil
}

func hasInputExtension(name string) bool {
	switch filepath.Ext(name) {
	case ".yaml", ".yml", ".json":
		return true
	}
	return false
}

func readFile(name string) (Input, error) {
	f, err := os.Open(name)
	if err != nil {
		return Input{}, err
	}
	defer f.Close()
	return readInput(name, f)
}

func readInput(name string, r io.Reader) (Input, error) {
	data, err := io.ReadAll(io.LimitReader(r, MaxInputBytes+1))
	if err != nil {
		return Input{}, &InputError{File: name, Err: err}
	}
	if len(data) > MaxInputBytes {
		return Input{}, &InputError{File: name, Err: fmt.Errorf("larger than %d MiB; split it", MaxInputBytes>>20)}
	}
	return Input{Name: name, Data: data}, nil
}

// location is where an object was read.
type location struct {
	file string
	doc  int // 1-based document index
	line int // first line of the document
	item int // 1-based index in a List's items; 0 when not a List item
}

func (l location) errorf(format string, args ...any) error {
	return &InputError{File: l.file, Document: l.doc, Line: l.line, Item: l.item, Err: fmt.Errorf(format, args...)}
}

// document is one YAML document of an input. A List document (kind List,
// or any *List kind with items, as kubectl get prints) holds its items as
// entries; any other document is one entry.
type document struct {
	at      location
	obj     map[string]any
	isList  bool
	entries []*entry
}

// entry is one object: a document, or one item of a List document.
type entry struct {
	at  location
	obj map[string]any
	// out is what the output holds for this entry; nil leaves it out.
	out map[string]any
	// findings are the report lines about this entry, in the order found.
	findings []Finding
}

// readDocuments splits and decodes every input.
func readDocuments(inputs []Input) ([]*document, error) {
	var docs []*document
	for _, in := range inputs {
		for _, c := range splitDocuments(in.Data) {
			at := location{file: in.Name, doc: c.index, line: c.line}
			d, err := decodeDocument(at, c.text)
			if err != nil {
				return nil, err
			}
			if d != nil {
				docs = append(docs, d)
			}
		}
	}
	return docs, nil
}

func decodeDocument(at location, text []byte) (*document, error) {
	v, err := decodeYAML(text)
	if err != nil {
		return nil, at.errorf("not valid YAML: %w", err)
	}
	if v == nil {
		return nil, nil
	}
	obj, ok := v.(map[string]any)
	if !ok {
		return nil, at.errorf("a document must be an object (a mapping of keys), not %s", describe(v))
	}
	d := &document{at: at, obj: obj}
	if items, ok := listItems(obj); ok {
		d.isList = true
		for i, it := range items {
			itemAt := at
			itemAt.item = i + 1
			m, ok := it.(map[string]any)
			if !ok {
				return nil, itemAt.errorf("a List item must be an object, not %s", describe(it))
			}
			d.entries = append(d.entries, &entry{at: itemAt, obj: m, out: m})
		}
		return d, nil
	}
	d.entries = []*entry{{at: at, obj: obj, out: obj}}
	return d, nil
}

// listItems returns the items of a List document.
func listItems(obj map[string]any) ([]any, bool) {
	kind, _ := obj["kind"].(string)
	if kind != "List" && !strings.HasSuffix(kind, "List") {
		return nil, false
	}
	raw, present := obj["items"]
	if !present {
		return nil, false
	}
	if raw == nil {
		return nil, true
	}
	items, ok := raw.([]any)
	return items, ok
}

// decodeYAML decodes one document into JSON-shaped values, keeping numbers
// as written (json.Number) so that they come out as they went in.
func decodeYAML(text []byte) (any, error) {
	data, err := yaml.YAMLToJSON(text)
	if err != nil {
		return nil, err
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	return v, nil
}

func describe(v any) string {
	switch v.(type) {
	case []any:
		return "a list"
	case string:
		return "a string"
	case json.Number:
		return "a number"
	case bool:
		return "a boolean"
	}
	return fmt.Sprintf("%T", v)
}

// chunk is the text of one document of a stream.
type chunk struct {
	index int // 1-based, among documents that hold something
	line  int // 1-based line of the document's first line
	text  []byte
}

// splitDocuments splits a YAML stream at its document markers: a line
// "---" (which may carry content after a space) or "...". Documents with
// nothing but blank lines and comments are left out and not counted.
func splitDocuments(data []byte) []chunk {
	data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf"))
	var out []chunk
	var cur []byte
	start, lineNo := 1, 0
	content := false
	flush := func() {
		if content {
			out = append(out, chunk{index: len(out) + 1, line: start, text: cur})
		}
		cur, content = nil, false
	}
	for len(data) > 0 {
		var line []byte
		if i := bytes.IndexByte(data, '\n'); i >= 0 {
			line, data = data[:i+1], data[i+1:]
		} else {
			line, data = data, nil
		}
		lineNo++
		bare := bytes.TrimRight(line, "\r\n")
		switch {
		case bytes.Equal(bare, []byte("---")) || bytes.HasPrefix(bare, []byte("--- ")) || bytes.HasPrefix(bare, []byte("---\t")):
			flush()
			start = lineNo
			if rest := bytes.TrimSpace(bare[3:]); len(rest) > 0 {
				cur = append(cur, bare[3:]...)
				cur = append(cur, '\n')
				content = content || hasContent(rest)
			}
			continue
		case bytes.Equal(bare, []byte("...")):
			flush()
			start = lineNo + 1
			continue
		}
		if !content && len(cur) == 0 {
			start = lineNo
		}
		cur = append(cur, line...)
		content = content || hasContent(bare)
	}
	flush()
	return out
}

// hasContent reports whether a line holds more than space or a comment.
func hasContent(line []byte) bool {
	t := bytes.TrimSpace(line)
	return len(t) > 0 && t[0] != '#'
}
