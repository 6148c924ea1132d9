package untar

import (
	"archive/tar"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"path/filepath"
)

// ErrNeedsDisk is an archive that ExtractMemory does not hold: larger than
// its memory budget, or with symbolic links. The caller extracts it to
// disk instead.
var ErrNeedsDisk = errors.New("the repository does not fit the in-memory extraction")

// ExtractMemory expands the gzip-compressed tar r into a Tree, under the
// rules of Extract (names, hard links, entry types, lim), as long as the
// contents stay within memBudget bytes and the archive holds no symbolic
// link; otherwise it returns an error wrapping ErrNeedsDisk and the caller
// extracts to disk.
func ExtractMemory(r io.Reader, lim Limits, memBudget int64) (*Tree, error) {
	gz, err := gzip.NewReader(r)
	if err != nil {
		return nil, unsafeArchive("not a gzip stream: %v", err)
	}
	defer gz.Close()
	return extractTarMemory(gz, lim, memBudget)
}

func extractTarMemory(r io.Reader, lim Limits, memBudget int64) (*Tree, error) {
	t := newTree()
	tr := tar.NewReader(r)
	entries := 0
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return t, nil
		}
		if err != nil {
			return nil, unsafeArchive("reading tar: %v", err)
		}
		if hdr.Typeflag == tar.TypeXGlobalHeader {
			continue
		}
		entries++
		if lim.MaxFiles > 0 && entries > lim.MaxFiles {
			return nil, unsafeArchive("more than %d entries (raise --max-files if the repository is that large)", lim.MaxFiles)
		}
		name, err := entryName(hdr.Name)
		if err != nil {
			return nil, err
		}
		if name == "." {
			continue
		}
		name = filepath.ToSlash(name)
		switch hdr.Typeflag {
		case tar.TypeDir:
			if err := t.addDir(name); err != nil {
				return nil, unsafeArchive("directory %q: %v", hdr.Name, err)
			}
		case tar.TypeReg, tar.TypeRegA: //nolint:staticcheck // TypeRegA appears in old archives
			if lim.MaxBytes > 0 && hdr.Size > lim.MaxBytes-t.size {
				return nil, unsafeArchive("contents exceed %d bytes at %q (raise --max-extracted-bytes if the repository is that large)", lim.MaxBytes, hdr.Name)
			}
			if hdr.Size > memBudget-t.size {
				return nil, fmt.Errorf("%w: contents pass %d bytes", ErrNeedsDisk, memBudget)
			}
			data := make([]byte, hdr.Size)
			if _, err := io.ReadFull(tr, data); err != nil {
				return nil, unsafeArchive("file %q: %v", hdr.Name, err)
			}
			if err := t.addFile(name, data); err != nil {
				return nil, unsafeArchive("file %q: %v", hdr.Name, err)
			}
		case tar.TypeSymlink:
			if err := checkLinkTarget(name, hdr.Linkname); err != nil {
				return nil, err
			}
			return nil, fmt.Errorf("%w: symbolic link %q", ErrNeedsDisk, hdr.Name)
		case tar.TypeLink:
			target, err := entryName(hdr.Linkname)
			if err != nil || target == "." {
				return nil, unsafeArchive("hard link %q points outside the repository (%q)", hdr.Name, hdr.Linkname)
			}
			data, ok := t.files[filepath.ToSlash(target)]
			if !ok {
				return nil, unsafeArchive("hard link %q must point at a regular file earlier in the archive, not %q", hdr.Name, hdr.Linkname)
			}
			if int64(len(data)) > memBudget-t.size {
				return nil, fmt.Errorf("%w: contents pass %d bytes", ErrNeedsDisk, memBudget)
			}
			if err := t.addFile(name, data); err != nil {
				return nil, unsafeArchive("hard link %q: %v", hdr.Name, err)
			}
		default:
			return nil, unsafeArchive("entry %q has unsupported type %q (devices, fifos and sockets are refused)", hdr.Name, string(hdr.Typeflag))
		}
	}
}
