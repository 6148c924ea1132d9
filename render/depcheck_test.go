package render

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	ggcrregistry "github.com/google/go-containerregistry/pkg/registry"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/registry"
	"helm.sh/helm/v3/pkg/repo"

	"github.com/argocd-image-resolver/argocd-image-resolver/egress"
)

// writeDepApp writes a chart at root/<name> with one dependency.
func writeDepApp(t *testing.T, root, name, dep, version, repository string) string {
	t.Helper()
	dir := filepath.Join(root, name)
	writeFile(t, filepath.Join(dir, "Chart.yaml"), "apiVersion: v2\nname: "+name+"\nversion: 0.1.0\ndependencies:\n  - name: "+dep+"\n    version: \""+version+"\"\n    repository: "+repository+"\n")
	writeFile(t, filepath.Join(dir, "templates", "cm.yaml"), "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: "+name+"\n")
	return dir
}

// teamPolicy is the rules of a project that may use prefix/team-a only.
func teamPolicy(t *testing.T, host string) *egress.Policy {
	t.Helper()
	p, err := egress.ParsePattern(host+"/team-a/*", nil)
	if err != nil {
		t.Fatal(err)
	}
	return egress.Restricted("registries.conf `projects.team-a`", []egress.Pattern{p}, nil)
}

// teamRegistry is an OCI registry on loopback holding ocilib 0.5.0 under
// team-a/ and team-b/, counting requests.
func teamRegistry(t *testing.T) (string, *atomic.Int64) {
	t.Helper()
	var hits atomic.Int64
	inner := ggcrregistry.New(ggcrregistry.Logger(log.New(io.Discard, "", 0)))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		inner.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	host := strings.TrimPrefix(srv.URL, "http://")
	ch, err := loader.Load(filepath.Join("testdata", "charts", "ocilib"))
	if err != nil {
		t.Fatal(err)
	}
	tgz, err := chartutil.Save(ch, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(tgz)
	if err != nil {
		t.Fatal(err)
	}
	rc, err := registry.NewClient(registry.ClientOptPlainHTTP(), registry.ClientOptCredentialsFile(filepath.Join(t.TempDir(), "config.json")))
	if err != nil {
		t.Fatal(err)
	}
	for _, team := range []string{"team-a", "team-b"} {
		if _, err := rc.Push(data, host+"/"+team+"/ocilib:0.5.0"); err != nil {
			t.Fatal(err)
		}
	}
	hits.Store(0)
	return host, &hits
}

// teamChartRepository serves backend 0.4.0 as HTTP chart repositories at
// /team-a and /team-b on loopback, counting requests.
func teamChartRepository(t *testing.T) (string, *atomic.Int64) {
	t.Helper()
	dir := t.TempDir()
	var hits atomic.Int64
	files := http.FileServer(http.Dir(dir))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		files.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	ch, err := loader.Load(filepath.Join("testdata", "charts", "backend"))
	if err != nil {
		t.Fatal(err)
	}
	for _, team := range []string{"team-a", "team-b"} {
		teamDir := filepath.Join(dir, team)
		if err := os.MkdirAll(teamDir, 0o755); err != nil {
			t.Fatal(err)
		}
		if _, err := chartutil.Save(ch, teamDir); err != nil {
			t.Fatal(err)
		}
		idx, err := repo.IndexDirectory(teamDir, srv.URL+"/"+team)
		if err != nil {
			t.Fatal(err)
		}
		if err := idx.WriteFile(filepath.Join(teamDir, "index.yaml"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return srv.URL, &hits
}

// TestDependencyRepositoriesFollowTheRules: with rules naming
// host/team-a/*, a dependency from host/team-b is refused before any
// request, for OCI registries and HTTP chart repositories alike.
func TestDependencyRepositoriesFollowTheRules(t *testing.T) {
	ociHost, ociHits := teamRegistry(t)
	httpURL, httpHits := teamChartRepository(t)
	httpHost := strings.TrimPrefix(httpURL, "http://")
	cases := []struct {
		name       string
		host       string
		dep        string
		version    string
		repository string
		hits       *atomic.Int64
		refused    string // the repository named in the refusal; "" renders
	}{
		{"oci: the allowed team", ociHost, "ocilib", "0.5.0", "oci://" + ociHost + "/team-a", ociHits, ""},
		{"oci: another team on the same registry", ociHost, "ocilib", "0.5.0", "oci://" + ociHost + "/team-b", ociHits, ociHost + "/team-b/ocilib"},
		{"oci: climbing out of the allowed team", ociHost, "ocilib", "0.5.0", "oci://" + ociHost + "/team-a/../team-b", ociHits, ociHost + "/team-a/../team-b/ocilib"},
		{"oci: a version constraint (tag listing) for another team", ociHost, "ocilib", "~0.5.0", "oci://" + ociHost + "/team-b", ociHits, ociHost + "/team-b/ocilib"},
		{"http: the allowed team", httpHost, "backend", "0.4.0", httpURL + "/team-a", httpHits, ""},
		{"http: the allowed team, trailing slash", httpHost, "backend", "0.4.0", httpURL + "/team-a/", httpHits, ""},
		{"http: another team on the same host", httpHost, "backend", "0.4.0", httpURL + "/team-b", httpHits, httpHost + "/team-b/backend"},
		{"http: the host's root", httpHost, "backend", "0.4.0", httpURL, httpHits, httpHost + "/backend"},
		{"http: climbing out of the allowed team", httpHost, "backend", "0.4.0", httpURL + "/team-a/../team-b", httpHits, httpHost + "/team-a/../team-b/backend"},
		{"http: climbing out, percent-encoded", httpHost, "backend", "0.4.0", httpURL + "/team-a/%2e%2e/team-b", httpHits, httpHost + "/team-a/%2e%2e/team-b/backend"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			dir := writeDepApp(t, root, "app", tc.dep, tc.version, tc.repository)
			deps := testDeps(t)
			deps.PlainHTTP = true
			deps.Policy = teamPolicy(t, tc.host)
			deps.Transport = egress.NewTransport(deps.Policy)
			before := tc.hits.Load()
			_, err := Render(context.Background(), Request{RepoRoot: root, ChartDir: dir, Dependencies: deps})
			if tc.refused == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			t.Log(err)
			if n := tc.hits.Load() - before; n != 0 {
				t.Errorf("a refused dependency made %d requests", n)
			}
			var de *DependencyRefusedError
			if !errors.As(err, &de) || de.Dependency != tc.dep || de.Repository != tc.repository {
				t.Fatalf("got %v, want dependency %q from %s refused", err, tc.dep, tc.repository)
			}
			var re *egress.RefusedError
			if !errors.As(err, &re) || re.Reason != egress.ReasonNotAllowed {
				t.Errorf("the refusal does not unwrap to the egress refusal (Argo CD's PermissionDenied): %#v", err)
			}
			for _, w := range []string{tc.refused, "registries.conf `projects.team-a`", tc.host + "/team-a/*"} {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("message %q lacks %q", err, w)
				}
			}
		})
	}
}

// TestUndefinedRepositoryName: a dependency naming a chart repository
// (@name, alias:name) the plugin's repositories.yaml does not define fails
// with the fix, not with Helm's "helm repo add" advice; a defined name
// works.
func TestUndefinedRepositoryName(t *testing.T) {
	repoURL, hits := chartRepository(t)
	cases := []struct {
		name, repository, reposYAML string
		undefined                   string // the name reported undefined; "" renders
	}{
		{"@name, no repositories.yaml", "\"@stable\"", "", "stable"},
		{"alias:name, no repositories.yaml", "alias:stable", "", "stable"},
		{"@name missing from repositories.yaml", "\"@stable\"", "apiVersion: v1\nrepositories:\n  - name: internal\n    url: " + repoURL + "\n", "stable"},
		{"@name defined", "\"@internal\"", "apiVersion: v1\nrepositories:\n  - name: internal\n    url: " + repoURL + "\n", ""},
		{"alias:name defined", "alias:internal", "apiVersion: v1\nrepositories:\n  - name: internal\n    url: " + repoURL + "\n", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			root := copyCharts(t)
			dir := writeApp(t, root, "app", tc.repository)
			deps := testDeps(t)
			if tc.reposYAML != "" {
				writeFile(t, deps.RepositoryConfig, tc.reposYAML)
			}
			before := hits.Load()
			_, err := Render(context.Background(), Request{RepoRoot: root, ChartDir: dir, Dependencies: deps})
			if tc.undefined == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			t.Log(err)
			var ue *UnknownRepositoryError
			if !errors.As(err, &ue) || ue.Name != tc.undefined || ue.Dependency != "backend" {
				t.Fatalf("got %v, want repository %q of dependency backend undefined", err, tc.undefined)
			}
			for _, w := range []string{`"backend"`, `"` + tc.undefined + `"`, "repositories.yaml", "URL"} {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("message %q lacks %q", err, w)
				}
			}
			if strings.Contains(err.Error(), "helm repo add") {
				t.Errorf("message %q gives Helm CLI advice", err)
			}
			if n := hits.Load() - before; n != 0 {
				t.Errorf("%d requests", n)
			}
		})
	}
}

// TestChartLockRepositoryMustBeDefined: with a Chart.lock Helm fetches
// only from repositories of repositories.yaml; an undefined one fails
// before any request, with the fix rather than Helm's "helm repo add".
func TestChartLockRepositoryMustBeDefined(t *testing.T) {
	repoURL, hits := chartRepository(t)
	for _, defined := range []bool{false, true} {
		t.Run(fmt.Sprintf("defined=%v", defined), func(t *testing.T) {
			root := copyCharts(t)
			dir := writeApp(t, root, "app", repoURL)
			c, err := loader.Load(dir)
			if err != nil {
				t.Fatal(err)
			}
			writeFile(t, filepath.Join(dir, "Chart.lock"), lockFor(t, c))
			deps := testDeps(t)
			if defined {
				writeFile(t, deps.RepositoryConfig, "apiVersion: v1\nrepositories:\n  - name: internal\n    url: "+repoURL+"/\n")
			}
			before := hits.Load()
			_, err = Render(context.Background(), Request{RepoRoot: root, ChartDir: dir, Dependencies: deps})
			if defined {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			t.Log(err)
			var ue *UnknownRepositoryError
			if !errors.As(err, &ue) || ue.Name != "" || ue.Repository != repoURL {
				t.Fatalf("got %v, want the Chart.lock repository undefined", err)
			}
			if !strings.Contains(err.Error(), "Chart.lock") || strings.Contains(err.Error(), "helm repo add") {
				t.Errorf("message %q", err)
			}
			if n := hits.Load() - before; n != 0 {
				t.Errorf("%d requests", n)
			}
		})
	}
}

// TestChartLockOutOfSync: a Chart.lock that no longer matches Chart.yaml
// is named as such, before any request.
func TestChartLockOutOfSync(t *testing.T) {
	repoURL, hits := chartRepository(t)
	root := copyCharts(t)
	dir := writeApp(t, root, "app", repoURL)
	c, err := loader.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(dir, "Chart.lock"), lockFor(t, c))
	writeApp(t, root, "app", repoURL+"/") // Chart.yaml changes after the lock
	deps := testDeps(t)
	writeFile(t, deps.RepositoryConfig, "apiVersion: v1\nrepositories:\n  - name: internal\n    url: "+repoURL+"\n")
	before := hits.Load()
	_, err = Render(context.Background(), Request{RepoRoot: root, ChartDir: dir, Dependencies: deps})
	var le *LockOutOfSyncError
	if !errors.As(err, &le) || !strings.Contains(err.Error(), "Chart.lock is out of sync") {
		t.Fatalf("got %v", err)
	}
	if n := hits.Load() - before; n != 0 {
		t.Errorf("%d requests", n)
	}
}
