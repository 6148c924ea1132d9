package untar

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/argocd-image-resolver/argocd-image-resolver/test/tartest"
)

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
	data := tartest.Tgz(t,
		tartest.Dir("./"),
		tartest.Dir("charts/"),
		tartest.File("charts/web/Chart.yaml", "name: web\n"),
		tartest.Symlink("charts/web/values.yaml", "../common/values.yaml"),
		tartest.File("charts/common/values.yaml", "a: 1\n"),
		tartest.Hardlink("charts/copy.yaml", "charts/web/Chart.yaml"),
		tartest.Symlink("current", "charts/web"),
		tartest.Symlink("charts/web/later.yaml", "../common/created-at-render.yaml"),
		tartest.Symlink("through-link", "current/../common/also-later"),
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
		entries []tartest.Entry
		lim     Limits
		want    string
	}{
		{"absolute", []tartest.Entry{tartest.File("/abs", "x")}, Limits{}, "absolute path"},
		{"dot-dot", []tartest.Entry{tartest.File("a/../../b", "x")}, Limits{}, "contains '..'"},
		{"write through symlink", []tartest.Entry{tartest.Symlink("link", "."), tartest.File("link/../escape", "x")}, Limits{}, "contains '..'"},
		{"symlink dir then file", []tartest.Entry{tartest.Symlink("etc", "/etc"), tartest.File("etc/passwd", "x")}, Limits{}, "points outside"},
		{"dangling link climbing out through a link", []tartest.Entry{tartest.Dir("a/"), tartest.Symlink("a/up", ".."), tartest.Symlink("a/x", "up/../not-yet")}, Limits{}, `symlink "a/x" resolves outside`},
		{"dangling link from a deep folder", []tartest.Entry{tartest.Dir("a/"), tartest.Symlink("a/up", ".."), tartest.Symlink("m/n/x", "../../a/up/../later/secret")}, Limits{}, `symlink "m/n/x" resolves outside`},
		{"symlink loop", []tartest.Entry{tartest.Symlink("a", "b"), tartest.Symlink("b", "a")}, Limits{}, "too many levels"},
		{"hard link to symlink", []tartest.Entry{tartest.Dir("a/b/"), tartest.Symlink("a/b/s", "../x"), tartest.Hardlink("s2", "a/b/s")}, Limits{}, "regular file"},
		{"hard link to missing", []tartest.Entry{tartest.Hardlink("h", "missing")}, Limits{}, "regular file"},
		{"fifo", []tartest.Entry{tartest.Fifo("p")}, Limits{}, "refused"},
		{"too many", []tartest.Entry{tartest.File("a", ""), tartest.File("b", ""), tartest.File("c", "")}, Limits{MaxFiles: 2}, "more than 2 entries"},
		{"too big", []tartest.Entry{tartest.File("a", "12345"), tartest.File("b", "12345")}, Limits{MaxBytes: 8}, "exceed 8 bytes"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			parent, dir := newRoot(t)
			err := Extract(bytes.NewReader(tartest.Tgz(t, tc.entries...)), dir, tc.lim)
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
	seeds := [][]tartest.Entry{
		{tartest.File("a/b.txt", "hello"), tartest.Dir("d/")},
		{tartest.Symlink("l", "../../etc/passwd")},
		{tartest.Symlink("top", "."), tartest.Symlink("up", "top/..")},
		{tartest.Symlink("a", ".."), tartest.File("a/x", "y")},
		{tartest.Hardlink("h", "/etc/passwd")},
		{tartest.File("/abs", "x"), tartest.File("../rel", "x")},
		{tartest.File("x", "1"), tartest.Hardlink("y", "x"), tartest.Symlink("z", "y")},
	}
	for _, s := range seeds {
		f.Add(tartest.Tar(f, s...))
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
