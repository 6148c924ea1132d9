package cmp

import (
	"errors"
	"fmt"
	"io/fs"
	"path"
	"strings"

	"github.com/gobwas/glob"
)

// DirectoryOptions are the options of an application path that holds
// plain manifests (Argo CD's directory source: spec.source.directory).
type DirectoryOptions struct {
	// Recurse reads the manifests of sub-folders too (directory-recurse).
	Recurse bool
	// Include, when set, keeps only the files whose path relative to the
	// application path matches this glob (directory-include), e.g.
	// `{deploy.yaml,cron.yml}` or `*.yaml`; `*` also crosses `/`.
	Include string
	// Exclude leaves out the files whose path matches this glob
	// (directory-exclude); it wins over Include.
	Exclude string
}

// MaxDirectoryFiles is the most manifest files the plugin reads for one
// directory Application.
const MaxDirectoryFiles = 5000

// Bounds of the directory-include and directory-exclude globs.
const (
	MaxGlobBytes        = 512
	MaxGlobAlternations = 16
)

// DirectoryError is a problem with the manifest files of a directory
// Application: the files or the directory options need fixing.
type DirectoryError struct {
	// Path is the application path.
	Path string
	// File is the file at fault, relative to Path; empty when the problem
	// is with the directory options or the directory as a whole.
	File string
	Err  error
}

func (e *DirectoryError) Error() string {
	if e.File == "" {
		return fmt.Sprintf("manifests at path %q: %v", e.Path, e.Err)
	}
	return fmt.Sprintf("manifests at path %q: %s: %v", e.Path, e.File, e.Err)
}

func (e *DirectoryError) Unwrap() error { return e.Err }

// manifestFile is a candidate manifest file of a directory Application.
type manifestFile struct {
	// rel is the file's path relative to the application path (what the
	// globs match); full is relative to the repository's root.
	rel, full string
}

// isManifestName reports whether a file name has a manifest extension.
// Argo CD also reads .jsonnet files; the plugin does not evaluate Jsonnet,
// so they are left out.
func isManifestName(name string) bool {
	return strings.HasSuffix(name, ".yaml") || strings.HasSuffix(name, ".yml") || strings.HasSuffix(name, ".json")
}

// fileFilter is the compiled include and exclude globs.
type fileFilter struct {
	include, exclude *glob.Pattern
}

func newFileFilter(app string, opts DirectoryOptions) (fileFilter, error) {
	var f fileFilter
	for _, g := range []struct {
		param   string
		pattern string
		dst     **glob.Pattern
	}{
		{ParamDirectoryInclude, opts.Include, &f.include},
		{ParamDirectoryExclude, opts.Exclude, &f.exclude},
	} {
		if g.pattern == "" {
			continue
		}
		// Author input: a long or deeply alternated glob costs
		// milliseconds per file matched, for every file of the repository.
		if len(g.pattern) > MaxGlobBytes || strings.Count(g.pattern, "{") > MaxGlobAlternations {
			return f, &DirectoryError{Path: app, Err: fmt.Errorf("parameter %s: the glob is longer than %d bytes or has more than %d {...} groups; use a shorter one", g.param, MaxGlobBytes, MaxGlobAlternations)}
		}
		p, err := glob.Compile(g.pattern)
		if err != nil {
			return f, &DirectoryError{Path: app, Err: fmt.Errorf("parameter %s: %q is not a glob: %w", g.param, g.pattern, err)}
		}
		*g.dst = p
	}
	return f, nil
}

// keeps reports whether the file at rel (relative to the application
// path) passes the globs: excluded files never do, and with an include
// glob only matching files do.
func (f fileFilter) keeps(rel string) bool {
	if f.exclude != nil && f.exclude.Match(rel) {
		return false
	}
	return f.include == nil || f.include.Match(rel)
}

// findManifestFiles lists the candidate manifest files of the folder app
// in lexical order, as Argo CD walks it: regular files (links resolved
// within the repository) with a manifest extension, passing the globs, in
// app and, with Recurse, its sub-folders. Links to folders are not
// followed.
func findManifestFiles(repo Repo, app string, opts DirectoryOptions) ([]manifestFile, error) {
	filter, err := newFileFilter(app, opts)
	if err != nil {
		return nil, err
	}
	var out []manifestFile
	var walk func(dir string) error
	walk = func(dir string) error {
		entries, err := repo.readDir(path.Join(app, dir))
		if err != nil {
			return &DirectoryError{Path: app, File: dir, Err: fmt.Errorf("listing the folder: %w", err)}
		}
		for _, e := range entries {
			rel := path.Join(dir, e.Name())
			full := path.Join(app, rel)
			if e.IsDir() {
				if opts.Recurse {
					if err := walk(rel); err != nil {
						return err
					}
				}
				continue
			}
			if !isManifestName(e.Name()) || (dir == "." && e.Name() == RepoConfigFile) {
				continue
			}
			regular, err := isRegular(repo, full, e)
			if err != nil {
				return &DirectoryError{Path: app, File: rel, Err: err}
			}
			if !regular || !filter.keeps(rel) {
				continue
			}
			if len(out) == MaxDirectoryFiles {
				return &DirectoryError{Path: app, Err: fmt.Errorf("more than %d manifest files; narrow the files read with %s or %s, or split the Application", MaxDirectoryFiles, ParamDirectoryInclude, ParamDirectoryExclude)}
			}
			out = append(out, manifestFile{rel: rel, full: full})
		}
		return nil
	}
	if err := walk("."); err != nil {
		return nil, err
	}
	return out, nil
}

// isRegular reports whether the entry e at full is a regular file, a link
// resolved within the repository; a link whose target is missing is no
// file.
func isRegular(repo Repo, full string, e fs.DirEntry) (bool, error) {
	if e.Type()&fs.ModeSymlink == 0 {
		return e.Type().IsRegular(), nil
	}
	info, err := repo.stat(full)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return info.Mode().IsRegular(), nil
}
