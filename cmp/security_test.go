package cmp

import (
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/argoproj/argo-cd/v3/pkg/apis/application/v1alpha1"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/repo"

	"github.com/argocd-image-resolver/argocd-image-resolver/resolve"
	"github.com/argocd-image-resolver/argocd-image-resolver/test/registrytest"
	"github.com/argocd-image-resolver/argocd-image-resolver/test/tartest"
)

// The tests of this file are the attacks of issue 10, made as an
// Application author would make them: through the CMP socket, with what an
// Application controls (parameters, env, the repository).

// recorder is a loopback HTTP server that records every request.
type recorder struct {
	host string
	mu   sync.Mutex
	reqs []string // "path Authorization"
}

func (r *recorder) record(req *http.Request) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.reqs = append(r.reqs, req.URL.Path+" "+req.Header.Get("Authorization"))
}

func (r *recorder) requests() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.reqs...)
}

func startRecorder(t *testing.T, h http.HandlerFunc) *recorder {
	t.Helper()
	rec := &recorder{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec.record(r)
		h(w, r)
	}))
	t.Cleanup(srv.Close)
	rec.host = strings.TrimPrefix(srv.URL, "http://")
	return rec
}

func resolverWith(t *testing.T, conf string) (*resolve.Resolver, *resolve.RegistriesConfig) {
	t.Helper()
	rc, err := resolve.ParseRegistriesConfig([]byte(conf))
	if err != nil {
		t.Fatal(err)
	}
	r, err := resolve.New(resolve.WithInsecure(), resolve.WithRegistriesConfig(rc), resolve.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		t.Fatal(err)
	}
	return r, rc
}

// TestPullSecretCannotMakeTheSidecarReadItsSecrets: file:, env: and ext:
// in an Application would send the sidecar's files, environment or a
// program's output as Basic credentials to a host the author names.
func TestPullSecretCannotMakeTheSidecarReadItsSecrets(t *testing.T) {
	const marker = "root:x:0:0:root:/root:/bin/bash"
	dir := t.TempDir()
	secretFile := filepath.Join(dir, "passwd")
	if err := os.WriteFile(secretFile, []byte(marker+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	script := filepath.Join(dir, "creds.sh")
	if err := os.WriteFile(script, []byte("#!/bin/sh\necho '"+marker+"'\n"), 0o700); err != nil {
		t.Fatal(err)
	}
	t.Setenv("SIDECAR_ONLY_SECRET", marker)
	hostile := startRecorder(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("WWW-Authenticate", `Basic realm="give me your credentials"`)
		w.WriteHeader(http.StatusUnauthorized)
	})
	h := startServer(t, nil)
	for _, ref := range []string{"file:" + secretFile, "file:/proc/self/environ", "env:SIDECAR_ONLY_SECRET", "ext:" + script, "ext:/any/program"} {
		t.Run(ref, func(t *testing.T) {
			params := v1alpha1.ApplicationSourcePluginParameters{
				arrayParam("images", "web="+hostile.host+"/acme/web:^1"),
				mapParam("image-options", map[string]string{"web.pull-secret": ref}),
			}
			_, err := h.generate(context.Background(), t, "apps/web", pluginEnv(t, "web", params))
			st, _ := status.FromError(err)
			if st.Code() != codes.InvalidArgument || !strings.Contains(st.Message(), "the name of a registries.conf entry") || !strings.Contains(st.Message(), "credentials: env:VAR, file:/path or ext:/path") {
				t.Errorf("got %v %q, want InvalidArgument with the registries.conf form", st.Code(), st.Message())
			}
			for _, req := range hostile.requests() {
				if _, auth, _ := strings.Cut(req, " "); auth != "" {
					t.Errorf("the hostile server received Authorization %q", auth)
				}
			}
		})
	}
	if n := len(hostile.requests()); n != 0 {
		t.Errorf("the hostile server received %d requests", n)
	}
}

// TestRegistryAnswerTextNeverReachesArgoCD: whatever the image names (an
// internal service, or a token realm pointing at one), its answer is not
// copied into the error Argo CD shows.
func TestRegistryAnswerTextNeverReachesArgoCD(t *testing.T) {
	const marker = "INTERNAL-ANSWER-b41d"
	denied := func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusForbidden)
		io.WriteString(w, `{"errors":[{"code":"DENIED","message":"`+marker+`","detail":{"internal":"`+marker+`"}}]}`)
	}
	var realmHost string
	realm := func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/token" {
			w.WriteHeader(http.StatusForbidden)
			io.WriteString(w, `{"error":"`+marker+`"}`)
			return
		}
		w.Header().Set("WWW-Authenticate", `Bearer realm="http://`+realmHost+`/token",service="`+marker+`"`)
		w.WriteHeader(http.StatusUnauthorized)
	}
	h := startServer(t, nil)
	for _, tc := range []struct {
		name    string
		handler http.HandlerFunc
		want    string
	}{
		{"registry answer", denied, "HTTP 403 DENIED"},
		{"token realm answer", realm, "HTTP 403 (from its token service or a redirect target)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			hostile := startRecorder(t, tc.handler)
			realmHost = "localhost:" + hostile.host[strings.LastIndex(hostile.host, ":")+1:]
			params := v1alpha1.ApplicationSourcePluginParameters{arrayParam("images", "web="+hostile.host+"/acme/web:^1")}
			_, err := h.generate(context.Background(), t, "apps/web", pluginEnv(t, "web", params))
			st, _ := status.FromError(err)
			if strings.Contains(st.Message(), marker) {
				t.Errorf("the answer reached the gRPC status: %s", st.Message())
			}
			if st.Code() != codes.Unavailable || !strings.Contains(st.Message(), tc.want) {
				t.Errorf("got %v %q, want Unavailable with %q", st.Code(), st.Message(), tc.want)
			}
		})
	}
}

// TestPathScopedCredentialsStayOnTheirPath: credentials for
// registry/team-a are not sent for registry/team-b/app.
func TestPathScopedCredentialsStayOnTheirPath(t *testing.T) {
	var reg *recorder
	host := registrytest.New(t, registrytest.WithHandler(func(inner http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if reg != nil {
				reg.record(r)
			}
			if r.URL.Path == "/v2/" && r.Header.Get("Authorization") == "" {
				w.Header().Set("WWW-Authenticate", `Basic realm="registry"`)
				w.WriteHeader(http.StatusUnauthorized)
				return
			}
			inner.ServeHTTP(w, r)
		})
	})).Host()
	registrytest.Push(t, host+"/team-a/app:1.0.0")
	registrytest.Push(t, host+"/team-b/app:1.1.0")
	reg = &recorder{host: host}
	t.Setenv("TEAM_A_CREDS", "team-a:team-a-password")
	teamA := "Basic " + base64.StdEncoding.EncodeToString([]byte("team-a:team-a-password"))
	resolver, _ := resolverWith(t, "registries:\n- name: team-a\n  prefix: "+host+"/team-a\n  credentials: env:TEAM_A_CREDS\n")
	h := startServerWith(t, nil, resolver)

	render := func(image string, options map[string]string) error {
		params := v1alpha1.ApplicationSourcePluginParameters{arrayParam("images", "web="+image+":^1")}
		// The chart renders the image it was given, so that the rendered
		// check sees the resolved repository.
		opts := map[string]string{"web.helm.image-name": "image.repository"}
		for k, v := range options {
			opts[k] = v
		}
		params = append(params, mapParam("image-options", opts))
		_, err := h.generate(context.Background(), t, "apps/web", pluginEnv(t, "web", params))
		return err
	}
	if err := render(host+"/team-b/app", nil); err != nil {
		t.Fatalf("team-b/app renders anonymously: %v", err)
	}
	err := render(host+"/team-b/app", map[string]string{"web.pull-secret": "team-a"})
	if st, _ := status.FromError(err); st.Code() != codes.InvalidArgument || !strings.Contains(st.Message(), "are for repositories under "+host+"/team-a") {
		t.Errorf("pull-secret team-a for team-b: %v", err)
	}
	for _, req := range reg.requests() {
		if strings.Contains(req, "/team-b/") && strings.HasSuffix(req, teamA) {
			t.Errorf("team-a's credentials were sent for team-b: %s", req)
		}
	}
	if err := render(host+"/team-a/app", nil); err != nil {
		t.Fatalf("team-a/app: %v", err)
	}
	sent := false
	for _, req := range reg.requests() {
		sent = sent || (strings.Contains(req, "/team-a/") && strings.HasSuffix(req, teamA))
	}
	if !sent {
		t.Error("team-a's credentials were not used for team-a")
	}
}

// chartRepo serves a chart "lib" (whose template writes libMarker) as an
// HTTP chart repository on loopback and counts requests.
const libMarker = "rendered-from-the-lib-dependency"

func chartRepo(t *testing.T) (string, *atomic.Int64) {
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
	if _, err := chartutil.Save(ch, out); err != nil {
		t.Fatal(err)
	}
	var hits atomic.Int64
	files := http.FileServer(http.Dir(out))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		files.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	idx, err := repo.IndexDirectory(out, srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	if err := idx.WriteFile(filepath.Join(out, "index.yaml"), 0o644); err != nil {
		t.Fatal(err)
	}
	return srv.URL, &hits
}

// TestChartDependenciesFollowTheRules: Chart.yaml is author input; its
// dependencies are fetched only from hosts the rules allow, and file://
// dependencies stay inside the repository.
func TestChartDependenciesFollowTheRules(t *testing.T) {
	repoURL, hits := chartRepo(t)
	repoHost := strings.TrimPrefix(repoURL, "http://")
	outside := t.TempDir()
	os.WriteFile(filepath.Join(outside, "Chart.yaml"), []byte("apiVersion: v2\nname: lib\nversion: 0.1.0\n"), 0o644)
	os.MkdirAll(filepath.Join(outside, "templates"), 0o755)
	os.WriteFile(filepath.Join(outside, "templates", "cm.yaml"), []byte("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: outside-the-repository\n"), 0o644)

	withDep := func(repository string) []byte {
		return tartest.Tgz(t,
			tartest.File("apps/web/Chart.yaml", "apiVersion: v2\nname: web\nversion: 0.1.0\ndependencies:\n  - name: lib\n    version: 0.1.0\n    repository: "+repository+"\n"),
			tartest.File("apps/web/templates/cm.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: web\n"),
		)
	}
	rules := "allowed:\n  - registry.example.com/acme/*\n"
	cases := []struct {
		name, conf, repository string
		code                   codes.Code
		want                   string
		fetches                bool
	}{
		{"rules without the chart repository", rules, repoURL, codes.PermissionDenied, "the host is outside the registries.conf `allowed` rules", false},
		{"rules naming the chart repository", rules + "  - " + repoHost + "\n", repoURL, codes.OK, libMarker, true},
		{"no rules (single tenant)", "", repoURL, codes.OK, libMarker, true},
		{"link-local repository", "", "http://169.254.169.254/charts", codes.PermissionDenied, "link-local addresses", false},
		{"file:// outside the repository", "", "file://" + outside, codes.InvalidArgument, "leads outside the repository", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			resolver, conf := resolverWith(t, tc.conf)
			h := startServerWith(t, nil, resolver, WithRules(conf))
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
				t.Errorf("the chart repository got %d requests", n)
			}
			h.assertNoLeftovers(t)
		})
	}
}

// TestDanglingEscapingSymlinkRefused: a symlink whose target does not
// exist yet, and would lie outside the repository, is refused at
// extraction.
func TestDanglingEscapingSymlinkRefused(t *testing.T) {
	h := startServer(t, nil)
	data := tartest.Tgz(t, append(chartEntries(),
		tartest.Dir("other/"),
		tartest.Symlink("other/up", ".."),
		tartest.Symlink("other/later", "up/../later-outside/secret"),
	)...)
	_, err := h.sendRaw(context.Background(), t, rawStream{appRelPath: "apps/web", data: data, env: pluginEnv(t, "web", nil)})
	st, _ := status.FromError(err)
	if st.Code() != codes.InvalidArgument || !strings.Contains(st.Message(), fmt.Sprintf("unsafe repository archive: symlink %q resolves outside the repository", "other/later")) {
		t.Fatalf("got %v %q", st.Code(), st.Message())
	}
	h.assertNoLeftovers(t)
}
