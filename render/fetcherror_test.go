package render

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/provenance"
	"helm.sh/helm/v3/pkg/repo"
	"sigs.k8s.io/yaml"

	"github.com/argocd-image-resolver/argocd-image-resolver/egress"
	testharness "github.com/argocd-image-resolver/argocd-image-resolver/test/harness"
)

// answerMarker stands for text a remote server chose: it must never reach
// a message shown to Application authors.
const answerMarker = "REMOTE-ANSWER-TEXT"

// rawAnswer writes a whole HTTP/1.1 answer by hand, so that the reason
// phrase of the status line is the server's own.
func rawAnswer(w http.ResponseWriter, code int, reason string, header http.Header, body string) {
	conn, buf, err := http.NewResponseController(w).Hijack()
	if err != nil {
		panic(err)
	}
	defer conn.Close()
	fmt.Fprintf(buf, "HTTP/1.1 %d %s\r\n", code, reason)
	header = header.Clone()
	if header == nil {
		header = http.Header{}
	}
	header.Set("Content-Length", fmt.Sprint(len(body)))
	header.Set("Connection", "close")
	_ = header.Write(buf)
	buf.WriteString("\r\n" + body)
	_ = buf.Flush()
}

// hostileChartRepository answers index.yaml and the chart tarball with
// what answer says for the path; other paths get the real files.
func hostileChartRepository(t *testing.T, answer func(w http.ResponseWriter, r *http.Request) bool) string {
	t.Helper()
	dir := t.TempDir()
	ch, err := loader.Load(filepath.Join("testdata", "charts", "backend"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := chartutil.Save(ch, dir); err != nil {
		t.Fatal(err)
	}
	files := http.FileServer(http.Dir(dir))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if answer(w, r) {
			return
		}
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
	return srv.URL
}

// TestDependencyErrorsKeepAnswersOut: a chart repository or registry an
// author names may answer anything; the error carries its status code and
// registry error codes, never its reason phrase, body or redirect target.
// The debug log keeps the detail for the operators.
func TestDependencyErrorsKeepAnswersOut(t *testing.T) {
	markerHeader := http.Header{"X-Detail": {answerMarker}, "Content-Type": {"text/plain"}}
	onPath := func(suffix string, f func(w http.ResponseWriter)) func(w http.ResponseWriter, r *http.Request) bool {
		return func(w http.ResponseWriter, r *http.Request) bool {
			if !strings.HasSuffix(r.URL.Path, suffix) {
				return false
			}
			f(w)
			return true
		}
	}
	registryError := func(code int, errCode string) func(w http.ResponseWriter, r *http.Request) bool {
		return func(w http.ResponseWriter, r *http.Request) bool {
			body := `{"errors": [{"code": "` + errCode + `", "message": "` + answerMarker + `", "detail": {"why": "` + answerMarker + `"}}]}`
			rawAnswer(w, code, answerMarker, http.Header{"Content-Type": {"application/json"}, "X-Detail": {answerMarker}}, body)
			return true
		}
	}
	cases := []struct {
		name    string
		oci     bool
		version string
		answer  func(w http.ResponseWriter, r *http.Request) bool
		lock    bool // a Chart.lock, and the repository in repositories.yaml
		want    []string
		// quiet: no error holds the answer's text, so the debug log
		// cannot either.
		quiet bool
	}{
		{name: "index: 404 with a reason phrase and body of its own",
			answer: onPath("/index.yaml", func(w http.ResponseWriter) { rawAnswer(w, 404, answerMarker, markerHeader, answerMarker) }),
			want:   []string{"HTTP 404"}},
		{name: "index: 500",
			answer: onPath("/index.yaml", func(w http.ResponseWriter) { rawAnswer(w, 500, answerMarker, markerHeader, answerMarker) }),
			want:   []string{"HTTP 500"}},
		{name: "index: Chart.lock build, 404",
			lock:   true,
			answer: onPath("/index.yaml", func(w http.ResponseWriter) { rawAnswer(w, 404, answerMarker, markerHeader, answerMarker) }),
			want:   []string{"HTTP 404"}},
		{name: "index: redirect to a closed port",
			answer: onPath("/index.yaml", func(w http.ResponseWriter) {
				rawAnswer(w, 302, answerMarker, http.Header{"Location": {"http://127.0.0.1:1/" + answerMarker + "/index.yaml"}}, "")
			}),
			want: []string{"connection refused"}},
		{name: "index: redirect to instance metadata",
			answer: onPath("/index.yaml", func(w http.ResponseWriter) {
				rawAnswer(w, 302, answerMarker, http.Header{"Location": {"http://169.254.169.254/" + answerMarker}}, "")
			}),
			want: []string{"link-local", "a host named by the answer"}},
		{name: "index: not an index",
			answer: onPath("/index.yaml", func(w http.ResponseWriter) {
				rawAnswer(w, 200, "OK", nil, "apiVersion: v1\nentries:\n  "+answerMarker+": [unclosed\n")
			}),
			want: []string{"index"}, quiet: true},
		{name: "index: no such chart",
			answer: onPath("/index.yaml", func(w http.ResponseWriter) {
				rawAnswer(w, 200, "OK", nil, "apiVersion: v1\nentries:\n  "+answerMarker+":\n    - {name: "+answerMarker+", version: 1.0.0, urls: [x.tgz]}\n")
			}),
			want: []string{`no chart "backend"`}, quiet: true},
		{name: "tarball: 403",
			answer: onPath(".tgz", func(w http.ResponseWriter) { rawAnswer(w, 403, answerMarker, markerHeader, answerMarker) }),
			want:   []string{"HTTP 403", "credentials"}},
		{name: "registry: 403 DENIED listing tags", oci: true, version: "~0.5.0",
			answer: registryError(403, "DENIED"),
			want:   []string{"HTTP 403", "DENIED", "credentials"}},
		{name: "registry: 404 NAME_UNKNOWN fetching the manifest", oci: true, version: "0.5.0",
			answer: registryError(404, "NAME_UNKNOWN"),
			want:   []string{"not found"}, quiet: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			base := hostileChartRepository(t, tc.answer)
			root := t.TempDir()
			deps := testDeps(t)
			deps.PlainHTTP = true
			deps.Transport = egress.NewTransport(egress.Unrestricted())
			logs := &testharness.SyncBuffer{}
			deps.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
			var dir string
			if tc.oci {
				dir = writeDepApp(t, root, "app", "backend", tc.version, "oci://"+strings.TrimPrefix(base, "http://")+"/charts")
			} else {
				dir = writeDepApp(t, root, "app", "backend", "0.4.0", base)
			}
			if tc.lock {
				writeFile(t, deps.RepositoryConfig, "apiVersion: v1\nrepositories:\n  - name: team\n    url: "+base+"\n    username: reader\n    password: hunter2-password\n")
				c, err := loader.Load(dir)
				if err != nil {
					t.Fatal(err)
				}
				writeFile(t, filepath.Join(dir, "Chart.lock"), lockFor(t, c))
			}
			_, err := Render(context.Background(), Request{RepoRoot: root, ChartDir: dir, Dependencies: deps})
			var de *DependencyError
			if !errors.As(err, &de) {
				t.Fatalf("got %v, want a dependency error", err)
			}
			msg := err.Error()
			t.Log(msg)
			if strings.Contains(msg, answerMarker) {
				t.Errorf("the message repeats the answer: %s", msg)
			}
			for _, w := range tc.want {
				if !strings.Contains(msg, w) {
					t.Errorf("message %q lacks %q", msg, w)
				}
			}
			if !strings.Contains(msg, "vendor the chart in charts/") {
				t.Errorf("message %q lacks the hint", msg)
			}
			if !tc.quiet && !strings.Contains(logs.String(), answerMarker) {
				t.Errorf("the debug log lacks the detail:\n%s", logs)
			}
			if strings.Contains(logs.String(), "hunter2-password") {
				t.Errorf("the debug log holds a password:\n%s", logs)
			}
		})
	}
}

// lockFor is the Chart.lock `helm dependency update` writes for c's
// dependencies at the versions Chart.yaml names.
func lockFor(t *testing.T, c *chart.Chart) string {
	t.Helper()
	req := c.Metadata.Dependencies
	locked := make([]*chart.Dependency, len(req))
	for i, d := range req {
		locked[i] = &chart.Dependency{Name: d.Name, Repository: d.Repository, Version: d.Version}
	}
	data, err := json.Marshal([2][]*chart.Dependency{req, locked})
	if err != nil {
		t.Fatal(err)
	}
	sum, err := provenance.Digest(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	out, err := yaml.Marshal(&chart.Lock{Dependencies: locked, Digest: "sha256:" + sum, Generated: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	return string(out)
}
