// Package tartest builds repository tarballs by hand for tests, hostile
// ones included (symbolic and hard links, special files, any name), as
// Argo CD's CMP client would stream them.
package tartest

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"testing"
)

// Entry is one entry of a hand-made tarball.
type Entry struct {
	Hdr  tar.Header
	Body []byte
}

// File is a regular file.
func File(name, body string) Entry {
	return Entry{Hdr: tar.Header{Name: name, Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(len(body))}, Body: []byte(body)}
}

// Dir is a directory.
func Dir(name string) Entry {
	return Entry{Hdr: tar.Header{Name: name, Typeflag: tar.TypeDir, Mode: 0o755}}
}

// Symlink is a symbolic link to target.
func Symlink(name, target string) Entry {
	return Entry{Hdr: tar.Header{Name: name, Typeflag: tar.TypeSymlink, Linkname: target}}
}

// Hardlink is a hard link to target.
func Hardlink(name, target string) Entry {
	return Entry{Hdr: tar.Header{Name: name, Typeflag: tar.TypeLink, Linkname: target}}
}

// Fifo is a named pipe.
func Fifo(name string) Entry {
	return Entry{Hdr: tar.Header{Name: name, Typeflag: tar.TypeFifo, Mode: 0o644}}
}

// Tar writes entries as an uncompressed tarball.
func Tar(tb testing.TB, entries ...Entry) []byte {
	tb.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		hdr := e.Hdr
		if err := tw.WriteHeader(&hdr); err != nil {
			tb.Fatal(err)
		}
		if _, err := tw.Write(e.Body); err != nil {
			tb.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		tb.Fatal(err)
	}
	return buf.Bytes()
}

// Gzip compresses data.
func Gzip(tb testing.TB, data []byte) []byte {
	tb.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if _, err := zw.Write(data); err != nil {
		tb.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		tb.Fatal(err)
	}
	return buf.Bytes()
}

// Tgz writes entries as a gzip-compressed tarball, as Argo CD streams a
// repository.
func Tgz(tb testing.TB, entries ...Entry) []byte { return Gzip(tb, Tar(tb, entries...)) }
