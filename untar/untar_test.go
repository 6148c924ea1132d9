package untar

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

type tarEntry struct {
	hdr  tar.Header
	body []byte
}

func file(name, body string) tarEntry {
	return tarEntry{hdr: tar.Header{Name: name, Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(len(body))}, body: []byte(body)}
}

func dirEntry(name string) tarEntry {
	return tarEntry{hdr: tar.Header{Name: name, Typeflag: tar.TypeDir, Mode: 0o755}}
}

func symlink(name, target string) tarEntry {
	return tarEntry{hdr: tar.Header{Name: name, Typeflag: tar.TypeSymlink, Linkname: target}}
}

func hardlink(name, target string) tarEntry {
	return tarEntry{hdr: tar.Header{Name: name, Typeflag: tar.TypeLink, Linkname: target}}
}

func fifo(name string) tarEntry {
	return tarEntry{hdr: tar.Header{Name: name, Typeflag: tar.TypeFifo, Mode: 0o644}}
}

func tarBytes(t testing.TB, entries ...tarEntry) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		hdr := e.hdr
		if err := tw.WriteHeader(&hdr); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write(e.body); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func gz(t testing.TB, data []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if _, err := zw.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func tgz(t testing.TB, entries ...tarEntry) []byte { return gz(t, tarBytes(t, entries...)) }

// newRoot makes parent/root and returns both.
func newRoot(t testing.TB) (parent, dir string) {
	t.Helper()
	parent = t.TempDir()
	dir = filepath.Join(parent, "root")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	return parent, dir
}

func TestExtractAcceptsInTreeLinks(t *testing.T) {
	dir := t.TempDir()
	data := tgz(t,
		dirEntry("./"),
		dirEntry("charts/"),
		file("charts/web/Chart.yaml", "name: web\n"),
		symlink("charts/web/values.yaml", "../common/values.yaml"),
		file("charts/common/values.yaml", "a: 1\n"),
		hardlink("charts/copy.yaml", "charts/web/Chart.yaml"),
		symlink("current", "charts/web"),
		symlink("charts/web/later.yaml", "../common/created-at-render.yaml"),
		symlink("through-link", "current/../common/also-later"),
	)
	if err := Extract(bytes.NewReader(data), dir, Limits{MaxFiles: 100, MaxBytes: 1 << 20}); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(filepath.Join(dir, "current", "values.yaml"))
	if err != nil || string(got) != "a: 1\n" {
		t.Errorf("in-tree symlinks: %q %v", got, err)
	}
	got, err = os.ReadFile(filepath.Join(dir, "charts", "copy.yaml"))
	if err != nil || string(got) != "name: web\n" {
		t.Errorf("hard link: %q %v", got, err)
	}
}

func TestExtractRejects(t *testing.T) {
	cases := []struct {
		name    string
		entries []tarEntry
		lim     Limits
		want    string
	}{
		{"absolute", []tarEntry{file("/abs", "x")}, Limits{}, "absolute path"},
		{"dot-dot", []tarEntry{file("a/../../b", "x")}, Limits{}, "contains '..'"},
		{"write through symlink", []tarEntry{symlink("link", "."), file("link/../escape", "x")}, Limits{}, "contains '..'"},
		{"symlink dir then file", []tarEntry{symlink("etc", "/etc"), file("etc/passwd", "x")}, Limits{}, "points outside"},
		{"dangling link climbing out through a link", []tarEntry{dirEntry("a/"), symlink("a/up", ".."), symlink("a/x", "up/../not-yet")}, Limits{}, `symlink "a/x" resolves outside`},
		{"dangling link from a deep folder", []tarEntry{dirEntry("a/"), symlink("a/up", ".."), symlink("m/n/x", "../../a/up/../later/secret")}, Limits{}, `symlink "m/n/x" resolves outside`},
		{"symlink loop", []tarEntry{symlink("a", "b"), symlink("b", "a")}, Limits{}, "too many levels"},
		{"hard link to symlink", []tarEntry{dirEntry("a/b/"), symlink("a/b/s", "../x"), hardlink("s2", "a/b/s")}, Limits{}, "regular file"},
		{"hard link to missing", []tarEntry{hardlink("h", "missing")}, Limits{}, "regular file"},
		{"fifo", []tarEntry{fifo("p")}, Limits{}, "refused"},
		{"too many", []tarEntry{file("a", ""), file("b", ""), file("c", "")}, Limits{MaxFiles: 2}, "more than 2 entries"},
		{"too big", []tarEntry{file("a", "12345"), file("b", "12345")}, Limits{MaxBytes: 8}, "exceed 8 bytes"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			parent, dir := newRoot(t)
			err := Extract(bytes.NewReader(tgz(t, tc.entries...)), dir, tc.lim)
			if !errors.Is(err, ErrUnsafeArchive) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want ErrUnsafeArchive containing %q", err, tc.want)
			}
			assertOnlyRoot(t, parent)
		})
	}
}

// assertOnlyRoot checks nothing but parent/root exists in parent.
func assertOnlyRoot(t testing.TB, parent string) {
	t.Helper()
	entries, err := os.ReadDir(parent)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.Name() != "root" {
			t.Errorf("extraction wrote outside its directory: %s", e.Name())
		}
	}
}

// FuzzExtract feeds arbitrary tar streams to the extraction behind the
// gzip layer (compressing every input would cost more than extracting
// it): extraction never panics, never writes outside its directory, and
// every symlink it leaves resolves inside.
func FuzzExtract(f *testing.F) {
	seeds := [][]tarEntry{
		{file("a/b.txt", "hello"), dirEntry("d/")},
		{symlink("l", "../../etc/passwd")},
		{symlink("top", "."), symlink("up", "top/..")},
		{symlink("a", ".."), file("a/x", "y")},
		{hardlink("h", "/etc/passwd")},
		{file("/abs", "x"), file("../rel", "x")},
		{file("x", "1"), hardlink("y", "x"), symlink("z", "y")},
	}
	for _, s := range seeds {
		f.Add(tarBytes(f, s...))
	}
	f.Fuzz(func(t *testing.T, tarData []byte) {
		parent, dir := newRoot(t)
		err := extractTar(bytes.NewReader(tarData), dir, Limits{MaxFiles: 64, MaxBytes: 1 << 20})
		assertOnlyRoot(t, parent)
		if err != nil {
			return
		}
		real, _ := filepath.EvalSymlinks(dir)
		_ = filepath.WalkDir(dir, func(p string, d fs.DirEntry, werr error) error {
			if werr != nil || d.Type()&fs.ModeSymlink == 0 {
				return nil
			}
			target, err := filepath.EvalSymlinks(p)
			if err != nil {
				return nil // dangling: points at nothing
			}
			if rel, err := filepath.Rel(real, target); err != nil || !(rel == "." || filepath.IsLocal(rel)) {
				t.Errorf("symlink %s resolves outside: %s", p, target)
			}
			return nil
		})
	})
}
