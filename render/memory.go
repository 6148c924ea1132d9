package render

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"

	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/ignore"
)

// Repository is a repository held in memory (untar.Tree implements it):
// slash-separated paths, no links. With Request.Repo set, RepoRoot and
// ChartDir are paths in it ("." the root) and nothing touches the disk
// unless a chart dependency must be fetched: then the repository is
// written to a temporary folder for Helm's downloader.
type Repository interface {
	fs.FS
	WriteTo(dir string) error
}

// memoryPaths checks and cleans the request's paths in its repository.
func memoryPaths(req *Request) error {
	root := path.Clean(filepath.ToSlash(req.RepoRoot))
	if req.RepoRoot == "" {
		root = "."
	}
	dir := path.Clean(filepath.ToSlash(req.ChartDir))
	if !path.IsAbs(dir) && root != "." && !strings.HasPrefix(dir, root+"/") && dir != root {
		dir = path.Join(root, dir)
	}
	if !fs.ValidPath(root) || !fs.ValidPath(dir) || !withinSlash(root, dir) {
		return fmt.Errorf("render: chart directory %s is outside the repository %s", req.ChartDir, req.RepoRoot)
	}
	req.RepoRoot, req.ChartDir = root, dir
	return nil
}

// withinSlash reports whether p is root or below it (slash paths, clean).
func withinSlash(root, p string) bool {
	return root == "." || p == root || strings.HasPrefix(p, root+"/")
}

// ValueFilePath is where a value file named in a request lies in its
// repository: relative to the chart directory, or, when absolute, to the
// repository root, as Argo CD reads it. ok is false for a name that leaves
// the repository (render reports it).
func ValueFilePath(repoRoot, chartDir, name string) (p string, ok bool) {
	name = filepath.ToSlash(name)
	if path.IsAbs(name) {
		p = path.Join(repoRoot, name)
	} else {
		p = path.Join(chartDir, name)
	}
	return p, fs.ValidPath(p) && withinSlash(repoRoot, p)
}

// readValueFileMemory reads a value file from the repository in memory.
func readValueFileMemory(repo fs.FS, repoRoot, chartDir, name string) ([]byte, error) {
	if strings.Contains(name, "://") {
		return nil, fmt.Errorf("value file %q: remote value files are not supported; commit the file to the repository", name)
	}
	p, ok := ValueFilePath(repoRoot, chartDir, name)
	if !ok {
		return nil, fmt.Errorf("value file %q resolves outside the repository: value files must be inside the repository", name)
	}
	data, err := fs.ReadFile(repo, p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("value file %q not found (set ignore-missing-value-files to skip missing files): %w", name, fs.ErrNotExist)
	}
	if err != nil {
		return nil, fmt.Errorf("value file %q: %w", name, err)
	}
	return data, nil
}

// ChartKey names the content of the chart at dir in repo: its files'
// paths and contents. Charts with one key load alike.
func ChartKey(repo fs.FS, dir string) (string, error) {
	h := sha256.New()
	var names []string
	err := fs.WalkDir(repo, dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() {
			names = append(names, p)
		}
		return nil
	})
	if err != nil {
		return "", err
	}
	slices.Sort(names)
	for _, n := range names {
		data, err := fs.ReadFile(repo, n)
		if err != nil {
			return "", err
		}
		fmt.Fprintf(h, "%s\x00%d\x00", strings.TrimPrefix(n, dir+"/"), len(data))
		h.Write(data)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// chartFiles are the chart's files as Helm's directory loader would read
// them: .helmignore applied, names relative to the chart.
func chartFiles(repo fs.FS, dir string) ([]*loader.BufferedFile, error) {
	rules := ignore.Empty()
	if data, err := fs.ReadFile(repo, path.Join(dir, ignore.HelmIgnore)); err == nil {
		if rules, err = ignore.Parse(strings.NewReader(string(data))); err != nil {
			return nil, fmt.Errorf("%s: %w", ignore.HelmIgnore, err)
		}
	}
	rules.AddDefaults()
	var files []*loader.BufferedFile
	err := fs.WalkDir(repo, dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel := strings.TrimPrefix(strings.TrimPrefix(p, dir), "/")
		if rel == "" {
			return nil
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		if rules.Ignore(rel, fi) {
			if d.IsDir() {
				return fs.SkipDir
			}
			return nil
		}
		if d.IsDir() {
			return nil
		}
		data, err := fs.ReadFile(repo, p)
		if err != nil {
			return err
		}
		files = append(files, &loader.BufferedFile{Name: rel, Data: data})
		return nil
	})
	return files, err
}

// loadChartMemory loads the chart from the repository in memory, through
// the cache when the request has one. A chart whose dependencies must be
// fetched is loaded from a temporary copy on disk (and not cached: what is
// fetched depends on the project's rules).
func loadChartMemory(req Request) (*chart.Chart, error) {
	key := ""
	if req.Charts != nil {
		key = req.ChartKey
		if key == "" {
			var err error
			if key, err = ChartKey(req.Repo, req.ChartDir); err != nil {
				return nil, fmt.Errorf("loading chart %s: %w", req.ChartDir, err)
			}
		}
		if req.Dependencies.Offline {
			key += "/offline"
		}
		if ch := req.Charts.get(key); ch != nil {
			return ch, nil
		}
	}
	if _, err := fs.Stat(req.Repo, path.Join(req.ChartDir, "Chart.yaml")); errors.Is(err, fs.ErrNotExist) && req.ChartKey != "" {
		// The caller sent no files, counting on the cache.
		return nil, ErrChartNotCached
	}
	files, err := chartFiles(req.Repo, req.ChartDir)
	if err != nil {
		return nil, fmt.Errorf("loading chart %s: %w", req.ChartDir, err)
	}
	ch, err := loader.LoadFiles(files)
	if err != nil {
		return nil, fmt.Errorf("loading chart %s: %w", req.ChartDir, err)
	}
	switch ch.Metadata.Type {
	case "", "application":
	default:
		return nil, fmt.Errorf("chart %s: %s charts are not installable", ch.Name(), ch.Metadata.Type)
	}
	if reqs := ch.Metadata.Dependencies; len(reqs) > 0 && len(missingDeps(ch, reqs)) > 0 && !req.Dependencies.Offline {
		return loadChartFetching(req)
	}
	if req.Charts != nil {
		req.Charts.put(key, ch)
	}
	return ch, nil
}

// loadChartFetching writes the repository to a temporary folder and loads
// the chart there, fetching its dependencies; the folder is removed once
// the chart is in memory.
func loadChartFetching(req Request) (*chart.Chart, error) {
	tmp, err := os.MkdirTemp("", "render-deps-")
	if err != nil {
		return nil, fmt.Errorf("a folder for the chart's dependencies: %w", err)
	}
	defer os.RemoveAll(tmp)
	if err := req.Repo.WriteTo(tmp); err != nil {
		return nil, fmt.Errorf("writing the repository for the chart's dependencies: %w", err)
	}
	return loadChart(tmp, filepath.Join(tmp, filepath.FromSlash(req.ChartDir)), req.Dependencies)
}

// ErrChartNotCached is a render asked to use a cached chart it does not
// hold: the caller sends the chart's files again.
var ErrChartNotCached = errors.New("the chart is not in the render's chart cache")
