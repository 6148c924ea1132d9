package render

import (
	"context"
	"encoding/pem"
	"errors"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/repo"

	"github.com/argocd-image-resolver/argocd-image-resolver/egress"
)

// TestHTTPSChartRepository: downloads over HTTPS go through the caller's
// transport with the CA of the repositories.yaml entry, and an error
// status is reported by its code.
func TestHTTPSChartRepository(t *testing.T) {
	dir := t.TempDir()
	ch, err := loader.Load(filepath.Join("testdata", "charts", "backend"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := chartutil.Save(ch, dir); err != nil {
		t.Fatal(err)
	}
	files := http.FileServer(http.Dir(dir))
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/missing/") {
			http.Error(w, answerMarker, http.StatusNotFound)
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
	ca := filepath.Join(t.TempDir(), "ca.pem")
	writeFile(t, ca, string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})))

	for _, tc := range []struct{ name, repository, want string }{
		{"the repository", srv.URL, ""},
		{"a missing repository", srv.URL + "/missing", "HTTP 404"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			app := writeDepApp(t, root, "app", "backend", "0.4.0", tc.repository)
			deps := testDeps(t)
			deps.Transport = egress.NewTransport(egress.Unrestricted())
			writeFile(t, deps.RepositoryConfig, "apiVersion: v1\nrepositories:\n  - name: tls\n    url: "+srv.URL+"\n    caFile: "+ca+"\n")
			_, err := Render(context.Background(), Request{RepoRoot: root, ChartDir: app, Dependencies: deps})
			if tc.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			var fe *FetchError
			if !errors.As(err, &fe) || fe.Status != http.StatusNotFound || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), answerMarker) {
				t.Fatalf("got %v", err)
			}
		})
	}
}
