package render

import "strings"

// SplitDocuments splits a multi-document YAML stream into its documents.
// A document starts after a line that begins with "---" (followed by
// nothing, a space or a comment). Documents holding only comments and blank
// lines are dropped; each kept document has no leading blank lines and ends
// with exactly one newline.
func SplitDocuments(stream string) []string {
	var (
		docs []string
		cur  strings.Builder
	)
	flush := func() {
		doc := strings.TrimLeft(cur.String(), "\n")
		doc = strings.TrimRight(doc, " \t\r\n")
		cur.Reset()
		if !hasContent(doc) {
			return
		}
		docs = append(docs, doc+"\n")
	}
	for _, line := range strings.SplitAfter(stream, "\n") {
		if isSeparator(line) {
			flush()
			continue
		}
		cur.WriteString(line)
	}
	flush()
	return docs
}

func isSeparator(line string) bool {
	if !strings.HasPrefix(line, "---") {
		return false
	}
	rest := strings.TrimRight(line[3:], "\r\n")
	return rest == "" || rest[0] == ' ' || rest[0] == '\t'
}

// hasContent reports whether doc has a line that is not blank or a comment.
func hasContent(doc string) bool {
	for _, line := range strings.Split(doc, "\n") {
		t := strings.TrimSpace(line)
		if t != "" && !strings.HasPrefix(t, "#") {
			return true
		}
	}
	return false
}
