package resolve

import (
	"context"
	"fmt"
	"io"
)

// Defaults of the tag list caps.
const (
	DefaultMaxTags         = 50000
	DefaultMaxTagListBytes = 8 << 20
)

// tagListCaps bound one repository's tag list: a registry may answer with
// any number of tags over any number of pages, and the list is cached for
// --stale-ttl.
type tagListCaps struct {
	maxTags  int
	maxBytes int64
}

// TagListError is a tag list longer than the plugin accepts. The registry
// answered; the cap is the plugin's configuration, so the error names the
// flag to raise. It is cached like other registry errors (briefly), not
// as a tag list.
type TagListError struct {
	Repository string
	// Limit is the cap passed, in Unit.
	Limit int64
	Unit  string // "tags" or "bytes"
	Flag  string // "--max-tags" or "--max-tag-list-bytes"
}

func (e *TagListError) Error() string {
	return fmt.Sprintf("the tag list of %s passes the plugin's cap of %d %s (%s); ask the Argo CD admins to raise %s, or prune old tags",
		e.Repository, e.Limit, e.Unit, e.Flag, e.Flag)
}

// listBytes counts the bytes of one tag list's answers, over all of its
// pages. listTags puts one in the context of the list; limitTransport
// counts each list answer's body against it.
type listBytes struct {
	limit int64
	read  int64 // only the goroutine reading the pages touches it
}

// listBytesExceeded is what reading past the cap returns; listTags turns it
// into a *TagListError that names the repository.
type listBytesExceeded struct{ limit int64 }

func (e *listBytesExceeded) Error() string {
	return fmt.Sprintf("tag list answer larger than %d bytes", e.limit)
}

type listBytesKey struct{}

func withListBytes(ctx context.Context, b *listBytes) context.Context {
	return context.WithValue(ctx, listBytesKey{}, b)
}

// countListBody caps the body of a tag list answer: against the budget of
// the list in ctx, or, for a list made without one, against limit alone.
func countListBody(ctx context.Context, body io.ReadCloser, limit int64) io.ReadCloser {
	b, _ := ctx.Value(listBytesKey{}).(*listBytes)
	if b == nil {
		if limit <= 0 {
			return body
		}
		b = &listBytes{limit: limit}
	}
	return &countedBody{ReadCloser: body, budget: b}
}

type countedBody struct {
	io.ReadCloser
	budget *listBytes
}

func (c *countedBody) Read(p []byte) (int, error) {
	b := c.budget
	if b.read >= b.limit {
		// The budget is spent: one more byte passes the cap, the end of
		// the answer does not.
		var probe [1]byte
		n, err := c.ReadCloser.Read(probe[:])
		if n > 0 {
			return 0, &listBytesExceeded{limit: b.limit}
		}
		return 0, err
	}
	if room := b.limit - b.read; int64(len(p)) > room {
		p = p[:room]
	}
	n, err := c.ReadCloser.Read(p)
	b.read += int64(n)
	return n, err
}
