package cmp

import (
	"io"

	"github.com/argocd-image-resolver/argocd-image-resolver/untar"
)

// Limits bound what one repository tarball may expand to (see untar).
type Limits = untar.Limits

// ErrUnsafeArchive marks a tarball rejected for its content (hostile or
// over a limit).
var ErrUnsafeArchive = untar.ErrUnsafeArchive

// Extract expands the gzip-compressed tar r into dir, which must exist,
// refusing anything that would land outside dir or exceed lim (see
// untar.Extract). On error dir may hold a partial tree: the caller removes
// it.
func Extract(r io.Reader, dir string, lim Limits) error { return untar.Extract(r, dir, lim) }
