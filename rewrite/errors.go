package rewrite

import "fmt"

// FieldsError is a problem in an image fields file, at a line.
type FieldsError struct {
	Line int
	Err  error
}

func (e *FieldsError) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("image fields: line %d: %v", e.Line, e.Err)
	}
	return fmt.Sprintf("image fields: %v", e.Err)
}

func (e *FieldsError) Unwrap() error { return e.Err }

// LimitError says that a rendered document is over a bound of the rewrite:
// the documents come from chart authors, so the work on them is capped.
type LimitError struct {
	// Document is the index of the document in the input.
	Document int
	// Kind is the document's kind, when known.
	Kind string
	// What names the bound ("bytes", "image fields visited").
	What  string
	Limit int
}

func (e *LimitError) Error() string {
	kind := ""
	if e.Kind != "" {
		kind = " (" + e.Kind + ")"
	}
	return fmt.Sprintf("rewrite: rendered document %d%s is over the limit of %d %s", e.Document+1, kind, e.Limit, e.What)
}

// MarshalError is a changed document that could not be written back.
type MarshalError struct {
	Document int
	Kind     string
	Err      error
}

func (e *MarshalError) Error() string {
	return fmt.Sprintf("rewrite: writing rendered document %d (%s): %v", e.Document+1, e.Kind, e.Err)
}

func (e *MarshalError) Unwrap() error { return e.Err }
