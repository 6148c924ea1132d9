package worker

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/argocd-image-resolver/argocd-image-resolver/cmp"
	"github.com/argocd-image-resolver/argocd-image-resolver/render"
)

// BenchmarkWarmRender renders the `helm create` scaffold with one image,
// as the pipeline does (Prepare, Pins, Render, Close), in this process
// and through a pool of one warm worker, in the same run: the pool's
// cost is the ratio of the two.
func BenchmarkWarmRender(b *testing.B) {
	dir, err := filepath.Abs(filepath.Join("..", "render", "testdata", "charts", "scaffold"))
	if err != nil {
		b.Fatal(err)
	}
	req := render.Request{
		ChartDir:    dir,
		ReleaseName: "web",
		KubeVersion: "1.31.0",
		Images:      []render.Image{{Alias: "web", Repository: "ghcr.io/acme/web", Tag: "1.6.3", NamePath: "image.repository"}},
	}
	pool, err := New(testCommand(DefaultMaxOutput), WithSize(1))
	if err != nil {
		b.Fatal(err)
	}
	defer pool.Close()
	for _, rr := range []struct {
		name string
		r    cmp.Renderer
	}{{"in-process", cmp.HelmRenderer{}}, {"worker", pool}} {
		b.Run(rr.name, func(b *testing.B) {
			ctx := context.Background()
			for b.Loop() {
				p, err := rr.r.Prepare(ctx, req)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := p.Pins(); err != nil {
					b.Fatal(err)
				}
				if _, err := p.Render(ctx, req.Images); err != nil {
					b.Fatal(err)
				}
				p.Close()
			}
		})
	}
}
