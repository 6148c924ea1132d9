package cmp

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func errorsAs(err error, target any) bool { return errors.As(err, target) }

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
		{"hard link to symlink", []tarEntry{dirEntry("a/b/"), symlink("a/b/s", "../x"), hardlink("s2", "a/b/s")}, Limits{}, "regular file"},
		{"hard link to missing", []tarEntry{hardlink("h", "missing")}, Limits{}, "regular file"},
		{"fifo", []tarEntry{{hdr: fifoHeader("p")}}, Limits{}, "refused"},
		{"too many", []tarEntry{file("a", ""), file("b", ""), file("c", "")}, Limits{MaxFiles: 2}, "more than 2 entries"},
		{"too big", []tarEntry{file("a", "12345"), file("b", "12345")}, Limits{MaxBytes: 8}, "exceed 8 bytes"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			parent := t.TempDir()
			dir := filepath.Join(parent, "root")
			if err := os.Mkdir(dir, 0o700); err != nil {
				t.Fatal(err)
			}
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

// FuzzExtract feeds arbitrary tar streams (gzipped here so the fuzzer works
// on tar structure): extraction never panics, never writes outside its
// directory, and every symlink it leaves resolves inside.
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
		parent := t.TempDir()
		dir := filepath.Join(parent, "root")
		if err := os.Mkdir(dir, 0o700); err != nil {
			t.Fatal(err)
		}
		err := Extract(bytes.NewReader(gz(t, tarData)), dir, Limits{MaxFiles: 64, MaxBytes: 1 << 20})
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
