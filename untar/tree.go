package untar

import (
	"bytes"
	"errors"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// Tree is a repository held in memory: regular files and directories,
// named by slash-separated paths relative to the repository root. It
// implements fs.FS, fs.ReadFileFS, fs.ReadDirFS and fs.StatFS; it holds no
// links (an archive with symbolic links goes to disk, where they are
// checked as they resolve).
type Tree struct {
	files map[string][]byte
	// dirs maps every directory ("." the root) to its entries' names.
	dirs map[string][]string
	size int64
}

// NewTree builds a tree from files (slash paths to contents): the form a
// render worker receives. Directories are implied.
func NewTree(files map[string][]byte) (*Tree, error) {
	t := newTree()
	for name, data := range files {
		if !fs.ValidPath(name) || name == "." {
			return nil, &fs.PathError{Op: "add", Path: name, Err: fs.ErrInvalid}
		}
		if err := t.addFile(name, data); err != nil {
			return nil, err
		}
	}
	return t, nil
}

func newTree() *Tree {
	return &Tree{files: map[string][]byte{}, dirs: map[string][]string{".": nil}}
}

// Size is the total size of the files' contents.
func (t *Tree) Size() int64 { return t.size }

func (t *Tree) addDir(name string) error {
	if _, ok := t.dirs[name]; ok {
		return nil
	}
	if _, ok := t.files[name]; ok {
		return &fs.PathError{Op: "mkdir", Path: name, Err: fs.ErrExist}
	}
	parent := path.Dir(name)
	if err := t.addDir(parent); err != nil {
		return err
	}
	t.dirs[parent] = append(t.dirs[parent], path.Base(name))
	t.dirs[name] = nil
	return nil
}

func (t *Tree) addFile(name string, data []byte) error {
	if _, ok := t.dirs[name]; ok {
		return &fs.PathError{Op: "create", Path: name, Err: fs.ErrExist}
	}
	parent := path.Dir(name)
	if err := t.addDir(parent); err != nil {
		return err
	}
	if old, ok := t.files[name]; ok {
		t.size -= int64(len(old))
	} else {
		t.dirs[parent] = append(t.dirs[parent], path.Base(name))
	}
	t.files[name] = data
	t.size += int64(len(data))
	return nil
}

// Files returns the files under dir ("." for all) with their contents,
// keyed by their path in the tree. The contents are the tree's own, not
// copies: callers must not change them.
func (t *Tree) Files(dir string) map[string][]byte {
	out := map[string][]byte{}
	for name, data := range t.files {
		if dir == "." || name == dir || strings.HasPrefix(name, dir+"/") {
			out[name] = data
		}
	}
	return out
}

// WriteTo writes the tree into dir, which must exist (for the renders
// that need a disk: fetching chart dependencies).
func (t *Tree) WriteTo(dir string) error {
	root, err := os.OpenRoot(dir)
	if err != nil {
		return err
	}
	defer root.Close()
	names := make([]string, 0, len(t.dirs))
	for d := range t.dirs {
		names = append(names, d)
	}
	slices.Sort(names) // parents first
	for _, d := range names {
		if d != "." {
			if err := root.Mkdir(filepath.FromSlash(d), 0o700); err != nil {
				return err
			}
		}
	}
	for name, data := range t.files {
		if err := root.WriteFile(filepath.FromSlash(name), data, 0o600); err != nil {
			return err
		}
	}
	return nil
}

// Open implements fs.FS.
func (t *Tree) Open(name string) (fs.File, error) {
	if !fs.ValidPath(name) {
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrInvalid}
	}
	if data, ok := t.files[name]; ok {
		return &memFile{info: fileInfo{name: path.Base(name), size: int64(len(data))}, r: bytes.NewReader(data)}, nil
	}
	if _, ok := t.dirs[name]; ok {
		entries, _ := t.ReadDir(name)
		return &memDir{info: fileInfo{name: path.Base(name), dir: true}, entries: entries}, nil
	}
	return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
}

// ReadFile implements fs.ReadFileFS: a copy the caller may change.
func (t *Tree) ReadFile(name string) ([]byte, error) {
	if !fs.ValidPath(name) {
		return nil, &fs.PathError{Op: "read", Path: name, Err: fs.ErrInvalid}
	}
	if data, ok := t.files[name]; ok {
		return bytes.Clone(data), nil
	}
	if _, ok := t.dirs[name]; ok {
		return nil, &fs.PathError{Op: "read", Path: name, Err: errors.New("is a directory")}
	}
	return nil, &fs.PathError{Op: "read", Path: name, Err: fs.ErrNotExist}
}

// ReadDir implements fs.ReadDirFS, sorted by name.
func (t *Tree) ReadDir(name string) ([]fs.DirEntry, error) {
	kids, ok := t.dirs[name]
	if !ok || !fs.ValidPath(name) {
		return nil, &fs.PathError{Op: "readdir", Path: name, Err: fs.ErrNotExist}
	}
	out := make([]fs.DirEntry, 0, len(kids))
	for _, k := range kids {
		full := path.Join(name, k)
		info := fileInfo{name: k}
		if data, ok := t.files[full]; ok {
			info.size = int64(len(data))
		} else {
			info.dir = true
		}
		out = append(out, fs.FileInfoToDirEntry(info))
	}
	slices.SortFunc(out, func(a, b fs.DirEntry) int { return strings.Compare(a.Name(), b.Name()) })
	return out, nil
}

// Stat implements fs.StatFS.
func (t *Tree) Stat(name string) (fs.FileInfo, error) {
	if !fs.ValidPath(name) {
		return nil, &fs.PathError{Op: "stat", Path: name, Err: fs.ErrInvalid}
	}
	if data, ok := t.files[name]; ok {
		return fileInfo{name: path.Base(name), size: int64(len(data))}, nil
	}
	if _, ok := t.dirs[name]; ok {
		return fileInfo{name: path.Base(name), dir: true}, nil
	}
	return nil, &fs.PathError{Op: "stat", Path: name, Err: fs.ErrNotExist}
}

type fileInfo struct {
	name string
	size int64
	dir  bool
}

func (i fileInfo) Name() string { return i.name }
func (i fileInfo) Size() int64  { return i.size }
func (i fileInfo) Mode() fs.FileMode {
	if i.dir {
		return fs.ModeDir | 0o755
	}
	return 0o644
}
func (i fileInfo) ModTime() time.Time { return time.Time{} }
func (i fileInfo) IsDir() bool        { return i.dir }
func (i fileInfo) Sys() any           { return nil }

type memFile struct {
	info fileInfo
	r    *bytes.Reader
}

func (f *memFile) Stat() (fs.FileInfo, error) { return f.info, nil }
func (f *memFile) Read(p []byte) (int, error) { return f.r.Read(p) }
func (f *memFile) Close() error               { return nil }

type memDir struct {
	info    fileInfo
	entries []fs.DirEntry
	off     int
}

func (d *memDir) Stat() (fs.FileInfo, error) { return d.info, nil }
func (d *memDir) Read([]byte) (int, error) {
	return 0, &fs.PathError{Op: "read", Path: d.info.name, Err: errors.New("is a directory")}
}
func (d *memDir) Close() error { return nil }

// ReadDir implements fs.ReadDirFile.
func (d *memDir) ReadDir(n int) ([]fs.DirEntry, error) {
	rest := d.entries[d.off:]
	if n <= 0 {
		d.off = len(d.entries)
		return rest, nil
	}
	if len(rest) == 0 {
		return nil, io.EOF
	}
	n = min(n, len(rest))
	d.off += n
	return rest[:n], nil
}
