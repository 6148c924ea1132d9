package plugin

import (
	"context"
	"log/slog"
	"sync"

	"github.com/argocd-image-resolver/argocd-image-resolver/cmp"
	"github.com/argocd-image-resolver/argocd-image-resolver/worker"
)

// workerKustomizer runs the Kustomize builds of generate in one render
// worker, started at the first build: a kustomization is author input,
// and argocd-cmp-server runs generate in a container that usually has git.
// The worker has no PATH, a default transport that refuses, and a memory
// limit; a build that passes the render's deadline is killed with it.
type workerKustomizer struct {
	memoryLimit int64
	logFormat   string
	logLevel    string
	logger      *slog.Logger

	mu   sync.Mutex
	pool *worker.Pool
}

// Kustomize implements cmp.Kustomizer.
func (k *workerKustomizer) Kustomize(ctx context.Context, repo cmp.Repo, b cmp.KustomizeBuild) ([]string, error) {
	pool, err := k.start()
	if err != nil {
		return nil, err
	}
	return pool.Kustomize(ctx, repo, b)
}

func (k *workerKustomizer) start() (*worker.Pool, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.pool != nil {
		return k.pool, nil
	}
	newCmd, err := workerCommand(k.logFormat, k.logLevel, worker.DefaultMaxOutput)
	if err != nil {
		return nil, err
	}
	pool, err := worker.New(newCmd, worker.WithSize(1), worker.WithMemoryLimit(k.memoryLimit), worker.WithLogger(k.logger))
	if err != nil {
		return nil, err
	}
	k.pool = pool
	return pool, nil
}

// Close stops the worker, if one was started.
func (k *workerKustomizer) Close() {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.pool != nil {
		k.pool.Close()
	}
}
