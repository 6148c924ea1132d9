package untar

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/argocd-image-resolver/argocd-image-resolver/test/tartest"
)

// TestExtractMemoryIsAFileSystem: the tree holds the archive's files and
// directories and behaves as an fs.FS (checked by testing/fstest), a hard
// link is a copy, and WriteTo puts the same files on disk.
func TestExtractMemoryIsAFileSystem(t *testing.T) {
	data := tartest.Tgz(t,
		tartest.Dir("./"),
		tartest.Dir("charts/empty/"),
		tartest.File("charts/web/Chart.yaml", "name: web\n"),
		tartest.File("charts/web/templates/a.yaml", "kind: A\n"),
		tartest.Hardlink("charts/copy.yaml", "charts/web/Chart.yaml"),
		tartest.File("README.md", "hi\n"),
	)
	tree, err := ExtractMemory(bytes.NewReader(data), Limits{MaxFiles: 100, MaxBytes: 1 << 20}, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	if err := fstest.TestFS(tree, "charts/web/Chart.yaml", "charts/web/templates/a.yaml", "charts/copy.yaml", "README.md", "charts/empty"); err != nil {
		t.Fatal(err)
	}
	if got, _ := fs.ReadFile(tree, "charts/copy.yaml"); string(got) != "name: web\n" {
		t.Errorf("hard link holds %q", got)
	}
	if tree.Size() != int64(len("name: web\n")*2+len("kind: A\n")+len("hi\n")) {
		t.Errorf("size %d", tree.Size())
	}
	if got := tree.Files("charts/web"); len(got) != 2 {
		t.Errorf("files under charts/web: %v", got)
	}
	dir := t.TempDir()
	if err := tree.WriteTo(dir); err != nil {
		t.Fatal(err)
	}
	if got, err := os.ReadFile(filepath.Join(dir, "charts", "web", "templates", "a.yaml")); err != nil || string(got) != "kind: A\n" {
		t.Errorf("written: %q %v", got, err)
	}
	if fi, err := os.Stat(filepath.Join(dir, "charts", "empty")); err != nil || !fi.IsDir() {
		t.Errorf("empty directory not written: %v", err)
	}
}

// TestExtractMemoryRefusesWhatExtractRefuses: every hostile archive the
// disk extraction refuses is refused in memory too, or sent to the disk
// (symbolic links), where it is refused.
func TestExtractMemoryRefusesWhatExtractRefuses(t *testing.T) {
	cases := []struct {
		name    string
		entries []tartest.Entry
		lim     Limits
		want    error
	}{
		{"absolute", []tartest.Entry{tartest.File("/abs", "x")}, Limits{}, ErrUnsafeArchive},
		{"dot-dot", []tartest.Entry{tartest.File("a/../../b", "x")}, Limits{}, ErrUnsafeArchive},
		{"symlink out", []tartest.Entry{tartest.Symlink("etc", "/etc"), tartest.File("etc/passwd", "x")}, Limits{}, ErrUnsafeArchive},
		{"any symlink goes to disk", []tartest.Entry{tartest.File("a", "x"), tartest.Symlink("b", "a")}, Limits{}, ErrNeedsDisk},
		{"hard link to missing", []tartest.Entry{tartest.Hardlink("h", "missing")}, Limits{}, ErrUnsafeArchive},
		{"hard link out", []tartest.Entry{tartest.Hardlink("h", "../x")}, Limits{}, ErrUnsafeArchive},
		{"fifo", []tartest.Entry{tartest.Fifo("p")}, Limits{}, ErrUnsafeArchive},
		{"file over a directory", []tartest.Entry{tartest.Dir("a/"), tartest.File("a", "x")}, Limits{}, ErrUnsafeArchive},
		{"too many", []tartest.Entry{tartest.File("a", ""), tartest.File("b", ""), tartest.File("c", "")}, Limits{MaxFiles: 2}, ErrUnsafeArchive},
		{"too big", []tartest.Entry{tartest.File("a", "12345"), tartest.File("b", "12345")}, Limits{MaxBytes: 8}, ErrUnsafeArchive},
		{"over the memory budget", []tartest.Entry{tartest.File("a", strings.Repeat("x", 64)), tartest.File("b", strings.Repeat("x", 64))}, Limits{}, ErrNeedsDisk},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ExtractMemory(bytes.NewReader(tartest.Tgz(t, tc.entries...)), tc.lim, 100)
			if !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
		})
	}
}

// FuzzExtractMemory: the in-memory extraction never panics, and whatever
// it accepts, the disk extraction accepts with the same files.
func FuzzExtractMemory(f *testing.F) {
	for _, s := range [][]tartest.Entry{
		{tartest.File("a/b.txt", "hello"), tartest.Dir("d/")},
		{tartest.File("x", "1"), tartest.Hardlink("y", "x")},
		{tartest.Dir("a/"), tartest.File("a", "x")},
		{tartest.File("/abs", "x"), tartest.File("../rel", "x")},
	} {
		f.Add(tartest.Tar(f, s...))
	}
	f.Fuzz(func(t *testing.T, tarData []byte) {
		lim := Limits{MaxFiles: 64, MaxBytes: 1 << 20}
		tree, err := extractTarMemory(bytes.NewReader(tarData), lim, 1<<20)
		if err != nil {
			return
		}
		_, dir := newRoot(t)
		if err := extractTar(bytes.NewReader(tarData), dir, lim); err != nil {
			t.Fatalf("accepted in memory, refused on disk: %v", err)
		}
		for name, data := range tree.Files(".") {
			got, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(name)))
			if err != nil || !bytes.Equal(got, data) {
				t.Fatalf("%s: in memory %q, on disk %q (%v)", name, data, got, err)
			}
		}
	})
}
