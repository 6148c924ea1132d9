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
)

// TestExtractMemoryIsAFileSystem: the tree holds the archive's files and
// directories and behaves as an fs.FS (checked by testing/fstest), a hard
// link is a copy, and WriteTo puts the same files on disk.
func TestExtractMemoryIsAFileSystem(t *testing.T) {
	data := tgz(t,
		dirEntry("./"),
		dirEntry("charts/empty/"),
		file("charts/web/Chart.yaml", "name: web\n"),
		file("charts/web/templates/a.yaml", "kind: A\n"),
		hardlink("charts/copy.yaml", "charts/web/Chart.yaml"),
		file("README.md", "hi\n"),
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
		entries []tarEntry
		lim     Limits
		want    error
	}{
		{"absolute", []tarEntry{file("/abs", "x")}, Limits{}, ErrUnsafeArchive},
		{"dot-dot", []tarEntry{file("a/../../b", "x")}, Limits{}, ErrUnsafeArchive},
		{"symlink out", []tarEntry{symlink("etc", "/etc"), file("etc/passwd", "x")}, Limits{}, ErrUnsafeArchive},
		{"any symlink goes to disk", []tarEntry{file("a", "x"), symlink("b", "a")}, Limits{}, ErrNeedsDisk},
		{"hard link to missing", []tarEntry{hardlink("h", "missing")}, Limits{}, ErrUnsafeArchive},
		{"hard link out", []tarEntry{hardlink("h", "../x")}, Limits{}, ErrUnsafeArchive},
		{"fifo", []tarEntry{fifo("p")}, Limits{}, ErrUnsafeArchive},
		{"file over a directory", []tarEntry{dirEntry("a/"), file("a", "x")}, Limits{}, ErrUnsafeArchive},
		{"too many", []tarEntry{file("a", ""), file("b", ""), file("c", "")}, Limits{MaxFiles: 2}, ErrUnsafeArchive},
		{"too big", []tarEntry{file("a", "12345"), file("b", "12345")}, Limits{MaxBytes: 8}, ErrUnsafeArchive},
		{"over the memory budget", []tarEntry{file("a", strings.Repeat("x", 64)), file("b", strings.Repeat("x", 64))}, Limits{}, ErrNeedsDisk},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ExtractMemory(bytes.NewReader(tgz(t, tc.entries...)), tc.lim, 100)
			if !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
		})
	}
}

// FuzzExtractMemory: the in-memory extraction never panics, and whatever
// it accepts, the disk extraction accepts with the same files.
func FuzzExtractMemory(f *testing.F) {
	for _, s := range [][]tarEntry{
		{file("a/b.txt", "hello"), dirEntry("d/")},
		{file("x", "1"), hardlink("y", "x")},
		{dirEntry("a/"), file("a", "x")},
		{file("/abs", "x"), file("../rel", "x")},
	} {
		f.Add(tarBytes(f, s...))
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
