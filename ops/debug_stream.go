package ops

import (
	"bytes"
	"encoding/json"
	"io"
	"strings"
)

// field is one member of a streamed JSON object, outside its list.
type field struct {
	name  string
	value any
}

// jsonList writes one JSON object whose main member is a list, item by
// item, each through the same json.Encoder into a buffer that holds one
// item: a listing of any length costs what its largest item costs. The
// object is indented as writeJSON indents.
type jsonList struct {
	w   io.Writer
	buf bytes.Buffer
	enc *json.Encoder
	n   int
	err error
}

// startList writes the head fields and opens the list called name.
func startList(w io.Writer, name string, head ...field) *jsonList {
	l := &jsonList{w: w}
	l.enc = json.NewEncoder(&l.buf)
	l.enc.SetIndent("    ", "  ")
	l.write("{\n")
	for _, f := range head {
		l.member(f)
		l.write(",\n")
	}
	l.write("  " + quote(name) + ": [")
	return l
}

// item writes one element of the list.
func (l *jsonList) item(v any) error {
	if l.err != nil {
		return l.err
	}
	l.buf.Reset()
	if l.err = l.enc.Encode(v); l.err != nil {
		return l.err
	}
	sep := "\n    "
	if l.n > 0 {
		sep = ",\n    "
	}
	l.n++
	l.write(sep)
	if l.err == nil {
		_, l.err = l.w.Write(bytes.TrimRight(l.buf.Bytes(), "\n"))
	}
	return l.err
}

// end closes the list and the object after the tail fields.
func (l *jsonList) end(tail ...field) error {
	if l.n > 0 {
		l.write("\n  ")
	}
	l.write("]")
	for _, f := range tail {
		l.write(",\n")
		l.member(f)
	}
	l.write("\n}\n")
	return l.err
}

func (l *jsonList) member(f field) {
	if l.err != nil {
		return
	}
	l.buf.Reset()
	if l.err = l.enc.Encode(f.value); l.err != nil {
		return
	}
	// The value is encoded with the items' indent; a member sits one level
	// higher.
	v := strings.ReplaceAll(strings.TrimRight(l.buf.String(), "\n"), "\n    ", "\n  ")
	l.write("  " + quote(f.name) + ": " + v)
}

func (l *jsonList) write(s string) {
	if l.err == nil {
		_, l.err = io.WriteString(l.w, s)
	}
}

func quote(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}
