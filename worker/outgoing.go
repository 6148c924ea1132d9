package worker

import (
	"bytes"
	"fmt"
	"io/fs"
	"path"

	"github.com/argocd-image-resolver/argocd-image-resolver/render"
)

// memoryRepository is a repository in memory that can hand out its files
// (untar.Tree).
type memoryRepository interface {
	render.Repository
	Files(dir string) map[string][]byte
}

// outgoing is one prepare request as it goes to a worker: the render
// request and, for a repository in memory, the files the worker needs.
type outgoing struct {
	req render.Request
	// key names the chart's content; empty for a repository on disk.
	key string
	// always are sent with every request (value files, or the whole
	// repository); chart are left out when the worker holds the chart.
	always, chart map[string][]byte
}

func newOutgoing(req render.Request) (*outgoing, error) {
	out := &outgoing{req: req}
	if req.Repo == nil {
		return out, nil
	}
	repo, ok := req.Repo.(memoryRepository)
	if !ok {
		return nil, fmt.Errorf("worker: a repository in memory of type %T cannot be sent to a render worker", req.Repo)
	}
	key, err := render.ChartKey(repo, req.ChartDir)
	if err != nil {
		return nil, fmt.Errorf("reading the chart at %s: %w", req.ChartDir, err)
	}
	out.key = key
	if usesLocalDependencies(repo, req.ChartDir) {
		out.always = repo.Files(".")
		return out, nil
	}
	out.chart = repo.Files(req.ChartDir)
	out.always = map[string][]byte{}
	root := req.RepoRoot
	if root == "" {
		root = "."
	}
	for _, vf := range req.ValueFiles {
		if p, ok := render.ValueFilePath(root, req.ChartDir, vf); ok {
			if data, ok := repo.Files(p)[p]; ok {
				out.always[p] = data
			}
		}
	}
	return out, nil
}

// usesLocalDependencies reports whether the chart names file://
// dependencies, which may lie anywhere in the repository.
func usesLocalDependencies(repo fs.FS, dir string) bool {
	for _, name := range []string{"Chart.yaml", "Chart.lock"} {
		if data, err := fs.ReadFile(repo, path.Join(dir, name)); err == nil && bytes.Contains(data, []byte("file://")) {
			return true
		}
	}
	return false
}

// request is the prepare request, with the chart's files unless the
// worker holds the chart.
func (o *outgoing) request(workerHasChart bool) request {
	r := request{Op: opPrepare, Request: &o.req}
	if o.req.Repo == nil {
		return r
	}
	r.Memory = true
	r.Request.ChartKey = o.key
	files := make(map[string][]byte, len(o.always)+len(o.chart))
	for k, v := range o.always {
		files[k] = v
	}
	if !workerHasChart {
		for k, v := range o.chart {
			files[k] = v
		}
	}
	r.Files = files
	return r
}
