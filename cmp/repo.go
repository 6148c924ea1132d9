package cmp

import (
	"io/fs"
	"os"
	"path"
	"path/filepath"

	securejoin "github.com/cyphar/filepath-securejoin"

	"github.com/argocd-image-resolver/argocd-image-resolver/render"
	"github.com/argocd-image-resolver/argocd-image-resolver/untar"
)

// Repo is the repository of one render: held in memory (the usual case:
// nothing touches the disk), or extracted to a folder (a repository over
// the in-memory budget, one with symbolic links, or a local checkout for
// generate). Paths in it are slash-separated and relative to its root.
type Repo struct {
	tree *untar.Tree
	root string
}

// MemoryRepo is a repository held in memory.
func MemoryRepo(t *untar.Tree) Repo { return Repo{tree: t} }

// DiskRepo is a repository in the folder root.
func DiskRepo(root string) Repo { return Repo{root: root} }

// InMemory reports whether the repository is held in memory.
func (r Repo) InMemory() bool { return r.tree != nil }

// Files are the files of a repository held in memory, keyed by their
// paths (the repository's own contents: not to be changed); nil for one
// on disk.
func (r Repo) Files() map[string][]byte {
	if r.tree == nil {
		return nil
	}
	return r.tree.Files(".")
}

// Root is the folder of a repository on disk; empty for one in memory.
func (r Repo) Root() string { return r.root }

// fsys is the repository as a file system, for walking and globbing (on
// disk, links are not followed by a walk).
func (r Repo) fsys() fs.FS {
	if r.tree != nil {
		return r.tree
	}
	return os.DirFS(r.root)
}

// diskPath is rel on disk, links resolved within the repository.
func (r Repo) diskPath(rel string) (string, error) {
	return securejoin.SecureJoin(r.root, filepath.FromSlash(rel))
}

// readFile reads the file at rel.
func (r Repo) readFile(rel string) ([]byte, error) {
	if r.tree != nil {
		return r.tree.ReadFile(path.Clean(rel))
	}
	p, err := r.diskPath(rel)
	if err != nil {
		return nil, err
	}
	return os.ReadFile(p)
}

// stat describes the file or folder at rel.
func (r Repo) stat(rel string) (fs.FileInfo, error) {
	if r.tree != nil {
		return r.tree.Stat(path.Clean(rel))
	}
	p, err := r.diskPath(rel)
	if err != nil {
		return nil, err
	}
	return os.Stat(p)
}

// readDir lists the folder at rel, sorted by name; on disk, the folder's
// path has its links resolved within the repository, and links among the
// entries are listed as links (stat resolves them).
func (r Repo) readDir(rel string) ([]fs.DirEntry, error) {
	if r.tree != nil {
		return r.tree.ReadDir(path.Clean(rel))
	}
	p, err := r.diskPath(rel)
	if err != nil {
		return nil, err
	}
	return os.ReadDir(p)
}

// renderRequest fills in where the chart of app lies, for render.
func (r Repo) renderRequest(req *render.Request, app string) {
	if r.tree != nil {
		req.Repo, req.RepoRoot, req.ChartDir = r.tree, ".", path.Clean(app)
		return
	}
	req.RepoRoot, req.ChartDir = r.root, filepath.Join(r.root, filepath.FromSlash(app))
}
