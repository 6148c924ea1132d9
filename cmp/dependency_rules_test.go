package cmp

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/repo"

	"github.com/argocd-image-resolver/argocd-image-resolver/test/tartest"
)

// teamChartRepos serves the chart "lib" (whose template writes libMarker)
// as HTTP chart repositories at /team-a and /team-b of one loopback host,
// counting requests.
func teamChartRepos(t *testing.T) (string, *atomic.Int64) {
	t.Helper()
	src, out := t.TempDir(), t.TempDir()
	if err := os.MkdirAll(filepath.Join(src, "templates"), 0o755); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(src, "Chart.yaml"), []byte("apiVersion: v2\nname: lib\nversion: 0.1.0\n"), 0o644)
	os.WriteFile(filepath.Join(src, "templates", "cm.yaml"), []byte("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: "+libMarker+"\n"), 0o644)
	ch, err := loader.Load(src)
	if err != nil {
		t.Fatal(err)
	}
	var hits atomic.Int64
	files := http.FileServer(http.Dir(out))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		files.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	for _, team := range []string{"team-a", "team-b"} {
		dir := filepath.Join(out, team)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if _, err := chartutil.Save(ch, dir); err != nil {
			t.Fatal(err)
		}
		idx, err := repo.IndexDirectory(dir, srv.URL+"/"+team)
		if err != nil {
			t.Fatal(err)
		}
		if err := idx.WriteFile(filepath.Join(dir, "index.yaml"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return srv.URL, &hits
}

// TestDependencyRulesCoverTheRepositoryPath: rules name repositories, not
// only hosts. With `host/team-a/*` allowed, an Application may not pull a
// chart dependency from host/team-b: the render is refused before any
// request (PermissionDenied, as for images).
func TestDependencyRulesCoverTheRepositoryPath(t *testing.T) {
	base, hits := teamChartRepos(t)
	host := strings.TrimPrefix(base, "http://")
	withDep := func(repository string) []byte {
		return tartest.Tgz(t,
			tartest.File("apps/web/Chart.yaml", "apiVersion: v2\nname: web\nversion: 0.1.0\ndependencies:\n  - name: lib\n    version: 0.1.0\n    repository: "+repository+"\n"),
			tartest.File("apps/web/templates/cm.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: web\n"),
		)
	}
	conf := "allowed:\n  - " + host + "/team-a/*\n"
	cases := []struct {
		name, repository string
		code             codes.Code
		want             string
		fetches          bool
	}{
		{"the allowed team", base + "/team-a", codes.OK, libMarker, true},
		{"another team on the same host", base + "/team-b", codes.PermissionDenied, host + "/team-b/lib is outside the registries.conf `allowed` rules", false},
		{"climbing out of the allowed team", base + "/team-a/../team-b", codes.PermissionDenied, "has . or .. segments", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			resolver, rules := resolverWith(t, conf)
			h := startServerWith(t, nil, resolver, WithRules(rules))
			before := hits.Load()
			resp, err := h.sendRaw(context.Background(), t, rawStream{appRelPath: "apps/web", data: withDep(tc.repository), env: pluginEnv(t, "web", nil)})
			st, _ := status.FromError(err)
			if st.Code() != tc.code {
				t.Fatalf("got %v %q, want %v", st.Code(), st.Message(), tc.code)
			}
			if tc.code == codes.OK {
				mustContain(t, manifestsText(resp), tc.want)
			} else if !strings.Contains(st.Message(), tc.want) {
				t.Errorf("message %q lacks %q", st.Message(), tc.want)
			}
			if n := hits.Load() - before; (n > 0) != tc.fetches {
				t.Errorf("the chart repositories got %d requests", n)
			}
			h.assertNoLeftovers(t)
		})
	}
}
