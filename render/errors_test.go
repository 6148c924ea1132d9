package render

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/repo"
)

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestBadInput(t *testing.T) {
	root := copyCharts(t)
	writeFile(t, filepath.Join(root, "overridetag", "values-bad.yaml"), "image:\n  tag: [unclosed\n  other: 1\n")
	writeFile(t, filepath.Join(root, "broken", "Chart.yaml"), "apiVersion: v2\nname: broken\nversion: 0.1.0\n")
	writeFile(t, filepath.Join(root, "broken", "templates", "cm.yaml"),
		"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\ndata:\n  a: {{ required \"image.repository is required\" .Values.image.repository }}\n")
	writeFile(t, filepath.Join(root, "unparsable", "Chart.yaml"), "apiVersion: v2\nname: unparsable\nversion: 0.1.0\n")
	writeFile(t, filepath.Join(root, "unparsable", "templates", "cm.yaml"), "apiVersion: v1\n{{ if }}\n")
	writeFile(t, filepath.Join(root, "badyaml", "Chart.yaml"), "apiVersion: v2\nname: badyaml\nversion: 0.1.0\n")
	writeFile(t, filepath.Join(root, "badyaml", "templates", "cm.yaml"), "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n data: [\n")
	writeFile(t, filepath.Join(root, "missingdep", "Chart.yaml"),
		"apiVersion: v2\nname: missingdep\nversion: 0.1.0\ndependencies:\n  - name: nowhere\n    version: 1.0.0\n    repository: file://../nowhere\n")
	outside := filepath.Join(t.TempDir(), "secret.yaml")
	writeFile(t, outside, "image:\n  tag: stolen\n")
	if err := os.Symlink(outside, filepath.Join(root, "overridetag", "..", "link.yaml")); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(root, "symlinked", "Chart.yaml"), "apiVersion: v2\nname: symlinked\nversion: 0.1.0\n")
	if err := os.Symlink(outside, filepath.Join(root, "symlinked", "secret.yaml")); err != nil {
		t.Fatal(err)
	}
	// The charts made here lack image values: these cases are about other
	// errors, so the image may create its path and is not looked for.
	img := []Image{{Alias: "web", Repository: webRepo, Tag: "1.0.0", CreatePaths: true, SkipRenderedCheck: true}}

	cases := []struct {
		name  string
		chart string
		req   Request
		want  []string
	}{
		{"malformed values file", "overridetag", Request{ValueFiles: []string{"values-bad.yaml"}}, []string{"values-bad.yaml", "line 2"}},
		{"malformed inline values", "overridetag", Request{Values: "image: {tag: 1\n"}, []string{"inline values", "line"}},
		{"value file outside the repository", "overridetag", Request{ValueFiles: []string{"../../etc/passwd"}}, []string{"../../etc/passwd", "outside the repository"}},
		{"absolute value file climbing out", "overridetag", Request{ValueFiles: []string{"/../../etc/passwd"}}, []string{"outside the repository"}},
		{"symlinked value file leaving the repository", "overridetag", Request{ValueFiles: []string{"../link.yaml"}}, []string{"../link.yaml", "symlink", "outside the repository"}},
		{"missing value file", "overridetag", Request{ValueFiles: []string{"nope.yaml"}}, []string{"nope.yaml", "not found", "ignore-missing-value-files"}},
		{"remote value file", "overridetag", Request{ValueFiles: []string{"https://example.com/values.yaml"}}, []string{"remote value files"}},
		{"bad --set syntax", "overridetag", Request{Parameters: map[string]string{"image.tag[x": "1"}}, []string{"--set image.tag[x"}},
		{"bad --set-string syntax", "overridetag", Request{StringParameters: map[string]string{"a..b": "1"}}, []string{"--set-string a..b"}},
		{"--set through a scalar", "overridetag", Request{Values: "replicas: 1\n", Parameters: map[string]string{"replicas.count": "1"}}, []string{"--set replicas.count"}},
		{"chart with a symlink leaving the repository", "symlinked", Request{}, []string{"symlinked", "outside the repository"}},
		{"template execution error", "broken", Request{}, []string{"broken/templates/cm.yaml:6", "image.repository is required"}},
		{"template parse error", "unparsable", Request{}, []string{"unparsable/templates/cm.yaml:2", "missing value for if"}},
		{"rendered YAML invalid", "badyaml", Request{}, []string{"badyaml/templates/cm.yaml", "line"}},
		{"missing dependency", "missingdep", Request{}, []string{`"nowhere"`, "file://../nowhere"}},
		{"bad kube version", "overridetag", Request{KubeVersion: "one.two"}, []string{`"one.two"`, "1.31"}},
		{"chart outside the repository", "../elsewhere", Request{}, []string{"outside the repository"}},
		{"no chart", "absent", Request{}, []string{"absent"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			req := c.req
			req.RepoRoot = root
			req.ChartDir = filepath.Join(root, c.chart)
			req.Dependencies = testDeps(t)
			req.Images = img
			_, err := Render(context.Background(), req)
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

func TestIgnoreMissingValueFiles(t *testing.T) {
	out := renderOverrideChart(t, Request{
		ValueFiles:              []string{"nope.yaml"},
		IgnoreMissingValueFiles: true,
		Images:                  []Image{{Alias: "web", Repository: webRepo, Tag: "1.0.0"}},
	})
	if got := imageLines(out); len(got) != 1 || got[0] != `image: "`+webRepo+`:1.0.0"` {
		t.Errorf("image lines = %v", got)
	}
}

func TestCancelledContext(t *testing.T) {
	root := copyCharts(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := Render(ctx, Request{RepoRoot: root, ChartDir: filepath.Join(root, "overridetag"), Images: []Image{{Alias: "web", Tag: "1"}}})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	p, err := Prepare(context.Background(), Request{RepoRoot: root, ChartDir: filepath.Join(root, "overridetag")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Render(ctx, []Image{{Alias: "web", Tag: "1"}}); !errors.Is(err, context.Canceled) {
		t.Fatalf("Prepared.Render err = %v, want context.Canceled", err)
	}
}

func TestDefaultKubeVersionIsRecent(t *testing.T) {
	kv, err := parseKubeVersion("")
	if err != nil {
		t.Fatal(err)
	}
	if kv.Major != "1" || kv.Minor < "30" || len(kv.Minor) != 2 {
		t.Errorf("default kube version %s is not recent", kv.Version)
	}
	for in, want := range map[string]string{"1.31": "v1.31", "v1.31.2": "v1.31.2", " 1.29.0 ": "v1.29.0"} {
		kv, err := parseKubeVersion(in)
		if err != nil || kv.Version != want {
			t.Errorf("parseKubeVersion(%q) = %v, %v; want %s", in, kv, err, want)
		}
	}
}

// TestHTTPRepositoryDependencyWithCredentials serves a chart repository on
// loopback behind basic auth; the credentials come from a Helm
// repositories.yaml, as a mounted one would give them.
func TestHTTPRepositoryDependencyWithCredentials(t *testing.T) {
	repoDir := t.TempDir()
	ch, err := loader.Load(filepath.Join("testdata", "charts", "ocilib"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := chartutil.Save(ch, repoDir); err != nil {
		t.Fatal(err)
	}
	files := http.FileServer(http.Dir(repoDir))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if u, p, ok := r.BasicAuth(); !ok || u != "reader" || p != "s3cret" {
			w.Header().Set("WWW-Authenticate", `Basic realm="charts"`)
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		files.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	idx, err := repo.IndexDirectory(repoDir, srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	if err := idx.WriteFile(filepath.Join(repoDir, "index.yaml"), 0o644); err != nil {
		t.Fatal(err)
	}

	newApp := func() (string, string) {
		root := t.TempDir()
		dir := filepath.Join(root, "httpapp")
		writeFile(t, filepath.Join(dir, "Chart.yaml"),
			"apiVersion: v2\nname: httpapp\nversion: 0.1.0\ndependencies:\n  - name: ocilib\n    version: \"~0.5.0\"\n    repository: "+srv.URL+"\n")
		return root, dir
	}
	images := []Image{{Alias: "lib", Repository: "registry.example.com/acme/oci-served", Tag: "5.2.0", TagPath: "ocilib.image.tag"}}

	t.Run("with credentials", func(t *testing.T) {
		root, dir := newApp()
		deps := testDeps(t)
		writeFile(t, deps.RepositoryConfig, "apiVersion: v1\nrepositories:\n  - name: private\n    url: "+srv.URL+"\n    username: reader\n    password: s3cret\n")
		out, err := Render(context.Background(), Request{RepoRoot: root, ChartDir: dir, Dependencies: deps, Images: images})
		if err != nil {
			t.Fatal(err)
		}
		if !containsLine(out, `image: "registry.example.com/acme/oci-served:5.2.0"`) {
			t.Errorf("image lines: %v", imageLines(out))
		}
	})
	t.Run("without credentials", func(t *testing.T) {
		root, dir := newApp()
		_, err := Render(context.Background(), Request{RepoRoot: root, ChartDir: dir, Dependencies: testDeps(t), Images: images})
		if err == nil {
			t.Fatal("no error")
		}
		for _, w := range []string{`"ocilib"`, srv.URL, "credentials"} {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("error %q does not mention %q", err, w)
			}
		}
		if strings.Contains(err.Error(), "s3cret") {
			t.Error("error leaks the password")
		}
	})
}
