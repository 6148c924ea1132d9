package cmp

import (
	"bytes"
	"context"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"

	"sigs.k8s.io/kustomize/kyaml/filesys"
)

// Bounds of what one Kustomize build may read. A kustomization may name
// the same base many times (each time with another name prefix), and each
// reference loads the base again: without a bound a small repository
// builds into millions of resources.
const (
	MaxKustomizeReads     = 4000
	MaxKustomizeReadBytes = 256 << 20
)

// KustomizeLimitError says that a Kustomize build read more than its
// bounds allow (a KustomizeError names the application path).
type KustomizeLimitError struct {
	Reads int
	Bytes int64
}

func (e *KustomizeLimitError) Error() string {
	return fmt.Sprintf("the build read more than %d files or %d MiB (%d files, %d bytes so far): a base is probably named many times over; simplify the overlays or split the Application",
		MaxKustomizeReads, MaxKustomizeReadBytes>>20, e.Reads, e.Bytes)
}

// ReadOnlyError says that Kustomize asked to change the repository, which
// the plugin never allows.
type ReadOnlyError struct {
	Op, Path string
}

func (e *ReadOnlyError) Error() string {
	return fmt.Sprintf("%s %s: the repository is read-only for Kustomize builds", e.Op, e.Path)
}

// kustomizeFS is the repository as Kustomize's file system: read-only and
// rooted at "/", the repository's root. Whatever a kustomization names,
// and whatever load restrictor the Application chose, a build reads only
// files of the repository (on disk, links resolve within it). Each read
// checks the render's context, counts against the build's bounds and is
// screened (and kustomizations re-encoded as screened); edited files are served instead of the repository's
// (the application's kustomization with the Application's options).
type kustomizeFS struct {
	ctx    context.Context
	repo   Repo
	edited map[string][]byte
	// screen checks each file read (by its path in the repository) and
	// returns what Kustomize is to read of it.
	screen func(file string, data []byte) ([]byte, error)
	reads  int
	bytes  int64
	// refused is the first read refused by the bounds or the screen:
	// Kustomize does not always pass the error on as it is.
	refused error
}

var _ filesys.FileSystem = (*kustomizeFS)(nil)

// abs is p as an absolute, clean path of the file system (relative paths
// are taken from the root).
func (k *kustomizeFS) abs(p string) string {
	return path.Clean("/" + filepath.ToSlash(p))
}

// rel is p relative to the repository's root, as Repo takes it.
func (k *kustomizeFS) rel(p string) string {
	r := strings.TrimPrefix(k.abs(p), "/")
	if r == "" {
		return "."
	}
	return r
}

func (k *kustomizeFS) Create(p string) (filesys.File, error) {
	return nil, &ReadOnlyError{Op: "create", Path: p}
}

func (k *kustomizeFS) Mkdir(p string) error { return &ReadOnlyError{Op: "mkdir", Path: p} }

func (k *kustomizeFS) MkdirAll(p string) error { return &ReadOnlyError{Op: "mkdir", Path: p} }

func (k *kustomizeFS) RemoveAll(p string) error { return &ReadOnlyError{Op: "remove", Path: p} }

func (k *kustomizeFS) WriteFile(p string, _ []byte) error {
	return &ReadOnlyError{Op: "write", Path: p}
}

func (k *kustomizeFS) Open(p string) (filesys.File, error) {
	data, err := k.ReadFile(p)
	if err != nil {
		return nil, err
	}
	info, err := k.repo.stat(k.rel(p))
	if err != nil {
		return nil, err
	}
	return &kustomizeFile{Reader: bytes.NewReader(data), info: info}, nil
}

func (k *kustomizeFS) IsDir(p string) bool {
	info, err := k.repo.stat(k.rel(p))
	return err == nil && info.IsDir()
}

func (k *kustomizeFS) ReadDir(p string) ([]string, error) {
	entries, err := k.repo.readDir(k.rel(p))
	if err != nil {
		return nil, err
	}
	names := make([]string, len(entries))
	for i, e := range entries {
		names[i] = e.Name()
	}
	return names, nil
}

// CleanedAbs splits p into its folder and file name, as Kustomize's own
// file systems do: a folder gives itself and no file name.
func (k *kustomizeFS) CleanedAbs(p string) (filesys.ConfirmedDir, string, error) {
	a := k.abs(p)
	info, err := k.repo.stat(k.rel(a))
	if err != nil {
		return "", "", err
	}
	if info.IsDir() {
		return filesys.ConfirmedDir(a), "", nil
	}
	return filesys.ConfirmedDir(path.Dir(a)), path.Base(a), nil
}

func (k *kustomizeFS) Exists(p string) bool {
	if _, ok := k.edited[k.abs(p)]; ok {
		return true
	}
	_, err := k.repo.stat(k.rel(p))
	return err == nil
}

func (k *kustomizeFS) Glob(pattern string) ([]string, error) {
	matches, err := fs.Glob(k.repo.fsys(), k.rel(pattern))
	if err != nil {
		return nil, err
	}
	for i, m := range matches {
		matches[i] = k.abs(m)
	}
	return matches, nil
}

func (k *kustomizeFS) ReadFile(p string) ([]byte, error) {
	if err := k.ctx.Err(); err != nil {
		return nil, err
	}
	a := k.abs(p)
	data, ok := k.edited[a]
	if !ok {
		var err error
		if data, err = k.repo.readFile(k.rel(a)); err != nil {
			return nil, err
		}
	}
	k.reads++
	k.bytes += int64(len(data))
	if k.refused != nil {
		return nil, k.refused
	}
	if k.reads > MaxKustomizeReads || k.bytes > MaxKustomizeReadBytes {
		k.refused = &KustomizeLimitError{Reads: k.reads, Bytes: k.bytes}
		return nil, k.refused
	}
	screened, err := k.screen(k.rel(a), data)
	if err != nil {
		k.refused = err
		return nil, err
	}
	return screened, nil
}

func (k *kustomizeFS) Walk(p string, walkFn filepath.WalkFunc) error {
	return fs.WalkDir(k.repo.fsys(), k.rel(p), func(rel string, d fs.DirEntry, err error) error {
		var info fs.FileInfo
		if d != nil {
			info, _ = d.Info()
		}
		return walkFn(k.abs(rel), info, err)
	})
}

// kustomizeFile is a file of kustomizeFS opened for reading.
type kustomizeFile struct {
	*bytes.Reader
	info fs.FileInfo
}

func (f *kustomizeFile) Write([]byte) (int, error) {
	return 0, &ReadOnlyError{Op: "write", Path: f.info.Name()}
}

func (f *kustomizeFile) Close() error { return nil }

func (f *kustomizeFile) Stat() (os.FileInfo, error) { return f.info, nil }
