package render

import (
	"context"
	"errors"
	"testing"
)

// TestChartCacheLoadsOnceAndIsolatesRenders: Applications sharing one
// chart load it once; what one render's values do to the chart (disabled
// sub-charts, imported values) never reaches the next render.
func TestChartCacheLoadsOnceAndIsolatesRenders(t *testing.T) {
	repo := treeOf(t, copyCharts(t))
	cache := NewChartCache(4)
	base := Request{Repo: repo, ChartDir: "scaffold", ReleaseName: "web",
		Images: []Image{{Alias: "web", Repository: "nginx", Tag: "1.27.3"}}}
	variants := []map[string]string{
		nil,
		{"replicaCount": "5", "autoscaling.enabled": "true"},
		nil,
		{"serviceAccount.create": "false"},
		nil,
	}
	for i, params := range variants {
		req := base
		req.Parameters = params
		uncached, err := Render(context.Background(), req)
		if err != nil {
			t.Fatal(err)
		}
		req.Charts = cache
		cached, err := Render(context.Background(), req)
		if err != nil {
			t.Fatal(err)
		}
		if normalised(cached.Manifests) != normalised(uncached.Manifests) {
			t.Fatalf("render %d through the cache differs from a fresh load", i)
		}
	}
	if got := cache.Loads(); got != 1 {
		t.Fatalf("%d chart loads for %d renders of one chart, want 1", got, len(variants))
	}
}

// TestMemoryRepositoryKeepsItsBounds: value files and chart paths that
// leave the repository are refused in memory as on disk, and a caller
// counting on the cache without files is told to send them.
func TestMemoryRepositoryKeepsItsBounds(t *testing.T) {
	repo := treeOf(t, copyCharts(t))
	img := []Image{{Alias: "web", Repository: "nginx", Tag: "1.27.3"}}
	for _, tc := range []struct {
		name string
		req  Request
		want string
	}{
		{"value file out", Request{Repo: repo, ChartDir: "scaffold", ValueFiles: []string{"../../etc/passwd"}, Images: img}, "resolves outside the repository"},
		{"chart out", Request{Repo: repo, RepoRoot: "scaffold", ChartDir: "../umbrella", Images: img}, "outside the repository"},
		{"remote value file", Request{Repo: repo, ChartDir: "scaffold", ValueFiles: []string{"https://example.com/v.yaml"}, Images: img}, "remote value files are not supported"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Render(context.Background(), tc.req)
			if err == nil || !containsErr(err, tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
		})
	}
	empty := treeOfFiles(t, map[string][]byte{"other/file": []byte("x")})
	_, err := Render(context.Background(), Request{Repo: empty, ChartDir: "scaffold", ChartKey: "abc", Charts: NewChartCache(1), Images: img})
	if !errors.Is(err, ErrChartNotCached) {
		t.Fatalf("err = %v, want ErrChartNotCached", err)
	}
}
