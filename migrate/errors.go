package migrate

import (
	"fmt"
	"strings"
)

// InputError is input that cannot be read: a file, a document that is not
// YAML, or an object that does not fit its kind. It names the place.
type InputError struct {
	// File is the file name, or StdinName.
	File string
	// Document is the 1-based index of the document in the file, counting
	// documents that hold something; 0 for the file as a whole.
	Document int
	// Line is the line where the document starts; 0 when unknown.
	Line int
	// Item is the 1-based index of the object in a List document's items;
	// 0 when the document is not a List.
	Item int
	Err  error
}

func (e *InputError) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Document > 0 {
		fmt.Fprintf(&b, ": document %d", e.Document)
		if e.Line > 0 {
			fmt.Fprintf(&b, " (line %d)", e.Line)
		}
	}
	if e.Item > 0 {
		fmt.Fprintf(&b, ": items[%d]", e.Item-1)
	}
	b.WriteString(": ")
	b.WriteString(e.Err.Error())
	return b.String()
}

func (e *InputError) Unwrap() error { return e.Err }

// UnconvertedError is what Report.Check returns when something could not
// be converted.
type UnconvertedError struct {
	// Count is the number of error findings.
	Count int
}

func (e *UnconvertedError) Error() string {
	if e.Count == 1 {
		return "1 setting could not be converted (see the report line starting with error:)"
	}
	return fmt.Sprintf("%d settings could not be converted (see the report lines starting with error:)", e.Count)
}
