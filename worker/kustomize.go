package worker

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"

	"github.com/argocd-image-resolver/argocd-image-resolver/cmp"
)

var _ cmp.Kustomizer = (*Pool)(nil)

// Kustomize implements cmp.Kustomizer: it leases a worker for one build
// and sends it the repository: all the files of one held in memory (a
// kustomization may name any folder of it), the folder of one on disk.
// The worker is given back after the build, or killed and replaced when
// ctx ends or its memory passes the limit first, as for a Helm render.
func (p *Pool) Kustomize(ctx context.Context, repo cmp.Repo, b cmp.KustomizeBuild) ([]string, error) {
	req := request{Op: opKustomize, Kustomize: &b}
	if repo.InMemory() {
		req.Memory, req.Files = true, repo.Files()
	} else {
		if repo.Root() == "" {
			return nil, errors.New("worker: a Kustomize build without a repository")
		}
		root, err := filepath.Abs(repo.Root())
		if err != nil {
			return nil, fmt.Errorf("worker: the repository's folder: %w", err)
		}
		req.Root = root
	}
	for attempt := 0; ; attempt++ {
		w, err := p.acquire(ctx, "")
		if err != nil {
			return nil, err
		}
		resp, broken, err := w.call(ctx, req, p.maxAnswer(), p.memLimit)
		p.release(w, broken)
		if err != nil {
			// A worker that ended while idle may look alive until its
			// exit is noticed: a build it could not answer is asked of
			// another.
			var exit *ExitError
			if attempt == 0 && errors.As(err, &exit) && ctx.Err() == nil {
				continue
			}
			return nil, err
		}
		if resp.Err != nil {
			return nil, resp.Err.err()
		}
		return resp.Documents, nil
	}
}
