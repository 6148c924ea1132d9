package worker

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	promtestutil "github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/argocd-image-resolver/argocd-image-resolver/render"
	"github.com/argocd-image-resolver/argocd-image-resolver/untar"
)

// treeFromDir holds a folder's files in memory, with extra ones.
func treeFromDir(t *testing.T, dir string, extra map[string][]byte) *untar.Tree {
	t.Helper()
	files := map[string][]byte{}
	for k, v := range extra {
		files[k] = v
	}
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		data, err := os.ReadFile(p)
		files[filepath.ToSlash(rel)] = data
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	tree, err := untar.NewTree(files)
	if err != nil {
		t.Fatal(err)
	}
	return tree
}

// TestRepositoryInMemoryThroughWorkers: a repository held in memory renders
// in a worker as in process (a chart with file:// sub-charts too); a worker
// that rendered a chart is preferred for it and is not sent its files
// again; a worker that lost a chart gets the files again.
func TestRepositoryInMemoryThroughWorkers(t *testing.T) {
	p := newTestPool(t, DefaultMaxOutput, WithSize(2))
	charts, err := filepath.Abs(filepath.Join("..", "render", "testdata", "charts"))
	if err != nil {
		t.Fatal(err)
	}
	repo := treeFromDir(t, charts, map[string][]byte{"shared-values/ingress.yaml": []byte("ingress:\n  enabled: true\n")})
	img := []render.Image{{Alias: "web", Repository: "nginx", Tag: "1.27.3", NamePath: "image.repository"}}
	scaffold := render.Request{Repo: repo, ChartDir: "scaffold", ReleaseName: "web", Images: img,
		ValueFiles: []string{"../shared-values/ingress.yaml"}, IgnoreMissingValueFiles: true}
	umbrella := render.Request{Repo: repo, ChartDir: "umbrella", ReleaseName: "shop", Dependencies: render.DependencyOptions{RepositoryConfig: filepath.Join(t.TempDir(), "r.yaml")},
		Images: []render.Image{{Alias: "frontend", Repository: "registry.example.com/acme/frontend", Tag: "3.2.0", TagPath: "frontend.image.tag"}}}
	for _, req := range []render.Request{scaffold, umbrella} {
		want, err := render.Render(context.Background(), req)
		if err != nil {
			t.Fatal(err)
		}
		got, _, err := prepareAndRender(context.Background(), p, req)
		if err != nil {
			t.Fatalf("%s through a worker: %v", req.ChartDir, err)
		}
		if strings.Join(got.Manifests, "---\n") != strings.Join(want.Manifests, "---\n") {
			t.Fatalf("%s through a worker differs from the render in process", req.ChartDir)
		}
	}

	// The scaffold again: the worker that holds it takes it, without its files.
	out, err := newOutgoing(scaffold)
	if err != nil {
		t.Fatal(err)
	}
	_, first, err := prepareAndRender(context.Background(), p, scaffold)
	if err != nil {
		t.Fatal(err)
	}
	_, again, err := prepareAndRender(context.Background(), p, scaffold)
	if err != nil || again != first {
		t.Fatalf("second render by worker %d (err %v), want %d, which holds the chart", again, err, first)
	}
	for name := range out.request(true).Files {
		if strings.HasPrefix(name, "scaffold/") {
			t.Fatalf("the chart's file %s is sent to a worker that holds the chart", name)
		}
	}
	if _, ok := out.request(true).Files["shared-values/ingress.yaml"]; !ok {
		t.Fatal("a value file outside the chart is not sent")
	}

	// A worker that lost a chart (evicted it) is sent it again.
	lied := scaffold
	lied.ChartDir = "backend"
	lout, err := newOutgoing(lied)
	if err != nil {
		t.Fatal(err)
	}
	for _, ww := range p.idleSnapshot() {
		ww.charts.touch(lout.key) // every worker claims to hold a chart none has
	}
	lied.Images = []render.Image{{Alias: "web", Repository: "nginx", Tag: "1.27.3", CreatePaths: true, SkipRenderedCheck: true}}
	if _, _, err := prepareAndRender(context.Background(), p, lied); err != nil {
		t.Fatalf("a chart the worker did not hold: %v", err)
	}
}

// TestStormOverOneChartLoadsItOncePerWorker: a hard-refresh storm of many
// Applications sharing one chart (each its own value file) loads the chart
// once per worker. STORM_APPS (default 200) sets the number of
// Applications; BENCHMARKS.md has the run with 2000.
func TestStormOverOneChartLoadsItOncePerWorker(t *testing.T) {
	const workers = 2
	apps := 200
	if v := os.Getenv("STORM_APPS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			t.Fatalf("STORM_APPS=%q: want a positive number", v)
		}
		apps = n
	}
	start := time.Now()
	p := newTestPool(t, DefaultMaxOutput, WithSize(workers))
	charts, err := filepath.Abs(filepath.Join("..", "render", "testdata", "charts"))
	if err != nil {
		t.Fatal(err)
	}
	extra := map[string][]byte{}
	for i := range apps {
		extra[fmt.Sprintf("envs/app-%d.yaml", i)] = fmt.Appendf(nil, "replicaCount: %d\n", i%5+1)
	}
	repo := treeFromDir(t, charts, extra)
	var wg sync.WaitGroup
	errs := make(chan error, apps)
	for i := range apps {
		wg.Go(func() {
			req := render.Request{Repo: repo, ChartDir: "scaffold", ReleaseName: fmt.Sprintf("app-%d", i),
				ValueFiles: []string{fmt.Sprintf("../envs/app-%d.yaml", i)},
				Images:     []render.Image{{Alias: "web", Repository: "nginx", Tag: "1.27.3", NamePath: "image.repository"}}}
			if _, _, err := prepareAndRender(context.Background(), p, req); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	loads := promtestutil.ToFloat64(p.metrics.ChartLoads)
	t.Logf("%d renders of one chart by %d workers in %s: %v chart loads", apps, workers, time.Since(start).Round(time.Millisecond), loads)
	if loads < 1 || loads > workers {
		t.Fatalf("%v chart loads for %d renders of one chart by %d workers, want at most one per worker", loads, apps, workers)
	}
}
