package render

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/repo"
)

// chartRepository serves testdata/charts/backend as an HTTP chart
// repository on loopback and counts the requests.
func chartRepository(t *testing.T) (string, *atomic.Int64) {
	t.Helper()
	dir := t.TempDir()
	ch, err := loader.Load(filepath.Join("testdata", "charts", "backend"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := chartutil.Save(ch, dir); err != nil {
		t.Fatal(err)
	}
	var hits atomic.Int64
	files := http.FileServer(http.Dir(dir))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		files.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	idx, err := repo.IndexDirectory(dir, srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	if err := idx.WriteFile(filepath.Join(dir, "index.yaml"), 0o644); err != nil {
		t.Fatal(err)
	}
	return srv.URL, &hits
}

// writeApp writes a chart at root/<name> whose one dependency is backend
// 0.4.0 from repository.
func writeApp(t *testing.T, root, name, repository string) string {
	t.Helper()
	dir := filepath.Join(root, name)
	if err := os.MkdirAll(filepath.Join(dir, "templates"), 0o755); err != nil {
		t.Fatal(err)
	}
	chartYAML := "apiVersion: v2\nname: " + name + "\nversion: 0.1.0\ndependencies:\n  - name: backend\n    version: 0.4.0\n    repository: " + repository + "\n"
	if err := os.WriteFile(filepath.Join(dir, "Chart.yaml"), []byte(chartYAML), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// recordingTransport is a transport whose Proxy hook sees every request
// (as the egress transport's does) and refuses hosts outside allow.
func recordingTransport(allow string) (*http.Transport, func() []string) {
	var mu sync.Mutex
	var hosts []string
	tr := &http.Transport{Proxy: func(req *http.Request) (*url.URL, error) {
		mu.Lock()
		hosts = append(hosts, req.URL.Host)
		mu.Unlock()
		if req.URL.Host != allow {
			return nil, errors.New("refused by the test transport")
		}
		return nil, nil
	}}
	return tr, func() []string { mu.Lock(); defer mu.Unlock(); return append([]string(nil), hosts...) }
}

func TestRemoteDependencyThroughTheCallersTransport(t *testing.T) {
	repoURL, hits := chartRepository(t)
	root := copyCharts(t)
	dir := writeApp(t, root, "remoteapp", repoURL)
	host := strings.TrimPrefix(repoURL, "http://")

	deps := testDeps(t)
	deps.RepositoryCache = "" // a fresh cache for this render
	tr, seen := recordingTransport(host)
	deps.Transport = tr
	out, err := Render(context.Background(), Request{RepoRoot: root, ChartDir: dir, Dependencies: deps})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Manifests) == 0 || hits.Load() < 2 {
		t.Fatalf("%d manifests, %d repository requests", len(out.Manifests), hits.Load())
	}
	for _, h := range seen() {
		if h != host {
			t.Errorf("a download went to %s", h)
		}
	}

	// Refused by the transport: nothing reaches the repository.
	root2 := copyCharts(t)
	dir2 := writeApp(t, root2, "remoteapp", repoURL)
	before := hits.Load()
	deps2 := testDeps(t)
	deps2.Transport, _ = recordingTransport("elsewhere.example")
	_, err = Render(context.Background(), Request{RepoRoot: root2, ChartDir: dir2, Dependencies: deps2})
	if err == nil || !strings.Contains(err.Error(), `dependency "backend" from `+repoURL+": refused by the test transport") {
		t.Fatalf("got %v", err)
	}
	if n := hits.Load() - before; n != 0 {
		t.Errorf("a refused download made %d requests", n)
	}
}

func TestLocalDependencyMustStayInTheRepository(t *testing.T) {
	outside := t.TempDir()
	if err := os.CopyFS(filepath.Join(outside, "backend"), os.DirFS(filepath.Join("testdata", "charts", "backend"))); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name  string
		setup func(root string) string // returns the repository URL
		err   string
	}{
		{"absolute path", func(string) string { return "file://" + filepath.Join(outside, "backend") }, "leads outside the repository"},
		{"climbing out", func(root string) string {
			rel, _ := filepath.Rel(filepath.Join(root, "app"), filepath.Join(outside, "backend"))
			return "file://" + rel
		}, "leads outside the repository"},
		{"through a symlink elsewhere in the repository", func(root string) string {
			if err := os.Symlink(filepath.Join(outside, "backend"), filepath.Join(root, "vendor-link")); err != nil {
				t.Fatal(err)
			}
			return "file://../vendor-link"
		}, "leads outside the repository"},
		{"missing", func(string) string { return "file://../nothing-here" }, "is not a folder of the repository"},
		{"inside", func(string) string { return "file://../backend" }, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			root := copyCharts(t)
			dir := writeApp(t, root, "app", tc.setup(root))
			out, err := Render(context.Background(), Request{RepoRoot: root, ChartDir: dir, Dependencies: testDeps(t)})
			if tc.err == "" {
				if err != nil || len(out.Manifests) == 0 {
					t.Fatalf("got %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Fatalf("got %v, want %q", err, tc.err)
			}
			if _, statErr := os.Stat(filepath.Join(dir, "charts")); statErr == nil {
				t.Error("something was copied into charts/")
			}
		})
	}
}

func TestOnlyHTTPAndOCIDependencies(t *testing.T) {
	root := copyCharts(t)
	dir := writeApp(t, root, "app", "s3://bucket/charts")
	_, err := Render(context.Background(), Request{RepoRoot: root, ChartDir: dir, Dependencies: testDeps(t)})
	if err == nil || !strings.Contains(err.Error(), "s3") {
		t.Fatalf("got %v", err)
	}
}
