package resolve

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/argocd-image-resolver/argocd-image-resolver/egress"
)

// answerMarker stands for what an internal service answers: it must never
// reach an error an Application author sees.
const answerMarker = "INTERNAL-ANSWER-7f3a"

func startHostile(t *testing.T, h func(host string, w http.ResponseWriter, r *http.Request)) (string, *atomic.Int64) {
	t.Helper()
	var hits atomic.Int64
	var host string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		h(host, w, r)
	}))
	t.Cleanup(srv.Close)
	host = strings.TrimPrefix(srv.URL, "http://")
	return host, &hits
}

func localhostOf(host string) string { return "localhost:" + host[strings.LastIndex(host, ":")+1:] }

func TestRegistryErrorsCarryNoAnswerText(t *testing.T) {
	jsonError := func(w http.ResponseWriter, status int, body string) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		io.WriteString(w, body)
	}
	cases := []struct {
		name    string
		handler func(host string, w http.ResponseWriter, r *http.Request)
		want    []string
	}{
		{"registry error message", func(_ string, w http.ResponseWriter, r *http.Request) {
			jsonError(w, http.StatusForbidden, `{"errors":[{"code":"DENIED","message":"`+answerMarker+`","detail":"`+answerMarker+`"}]}`)
		}, []string{"list tags from registry", "HTTP 403 DENIED", "check the credentials"}},
		{"an error code that is not one", func(_ string, w http.ResponseWriter, r *http.Request) {
			jsonError(w, http.StatusNotFound, `{"errors":[{"code":"NAME_UNKNOWN"},{"code":"`+answerMarker+`"}]}`)
		}, []string{"HTTP 404 NAME_UNKNOWN;", "check the image name"}},
		{"an HTML page", func(_ string, w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(http.StatusInternalServerError)
			io.WriteString(w, "<html>"+answerMarker+"</html>")
		}, []string{"HTTP 500"}},
		{"a header value", func(_ string, w http.ResponseWriter, r *http.Request) {
			w.Header().Set("WWW-Authenticate", `Bearer service="`+answerMarker+`"`)
			w.WriteHeader(http.StatusUnauthorized)
		}, []string{"list tags from registry", "the sidecar log has the details"}},
		{"the answer of a token realm", func(host string, w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/token" {
				jsonError(w, http.StatusUnauthorized, `{"details":"`+answerMarker+`"}`)
				return
			}
			w.Header().Set("WWW-Authenticate", `Bearer realm="http://`+localhostOf(host)+`/token",service="x"`)
			w.WriteHeader(http.StatusUnauthorized)
		}, []string{"HTTP 401 (from its token service or a redirect target)"}},
		{"the answer behind a redirect", func(host string, w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/internal" {
				w.WriteHeader(http.StatusBadGateway)
				io.WriteString(w, answerMarker)
				return
			}
			if r.URL.Path == "/v2/" {
				return
			}
			http.Redirect(w, r, "http://"+localhostOf(host)+"/internal", http.StatusFound)
		}, []string{"HTTP 502 (from its token service or a redirect target)"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			host, _ := startHostile(t, tc.handler)
			r := newTestResolver(t)
			_, err := r.ResolveOne(context.Background(), specFor(t, "web="+host+"/acme/web", nil))
			if err == nil {
				t.Fatal("resolved against a hostile registry")
			}
			msg := err.Error()
			if strings.Contains(msg, answerMarker) {
				t.Errorf("the error repeats the answer: %s", msg)
			}
			for _, w := range tc.want {
				if !strings.Contains(msg, w) {
					t.Errorf("error %q lacks %q", msg, w)
				}
			}
			if !strings.Contains(r.logs.String(), answerMarker) && tc.name != "the answer behind a redirect" {
				t.Errorf("the debug log lacks the answer text:\n%s", r.logs.String())
			}
		})
	}
}

// TestRulesRefuseBeforeAnyRequest: with `allowed` and `projects`, a spec
// outside its project's rules fails without a request.
func TestRulesRefuseBeforeAnyRequest(t *testing.T) {
	reg := newTestRegistry(t)
	pushTags(t, reg.host, "acme/web", time.Now(), nil, "1.0.0")
	pushTags(t, reg.host, "team-a/app", time.Now(), nil, "1.0.0")
	conf, err := ParseRegistriesConfig([]byte(fmt.Sprintf(`allowed:
  - %[1]s/acme/*
projects:
  team-a:
    - %[1]s/team-a/*
  team-b: []
`, reg.host)))
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		project, image string
		refused        string // "" = resolves
	}{
		{"", reg.host + "/acme/web", ""},
		{"", reg.host + "/team-a/app", "registries.conf `allowed` rules (" + reg.host + "/acme/*)"},
		{"team-a", reg.host + "/team-a/app", ""},
		{"team-a", reg.host + "/acme/web", ""},
		{"team-a", reg.host + "/team-a", "`allowed` and `projects.team-a` rules"},
		{"team-b", reg.host + "/team-a/app", "`allowed` and `projects.team-b` rules"},
		{"team-c", reg.host + "/team-a/app", "registries.conf `allowed` rules"},
		{"team-a", localhostOf(reg.host) + "/team-a/app", "outside"},
		{"team-a", "169.254.169.254/latest/meta-data", "outside"},
	}
	for _, tc := range cases {
		t.Run(tc.project+" "+tc.image, func(t *testing.T) {
			r := newTestResolver(t, WithRegistriesConfig(conf))
			spec := specFor(t, "app="+tc.image, nil)
			spec.Project = tc.project
			before := reg.counter.Count("")
			res, err := r.ResolveOne(context.Background(), spec)
			if tc.refused == "" {
				if err != nil || res.Tag != "1.0.0" {
					t.Fatalf("got %+v %v", res, err)
				}
				return
			}
			if !errors.Is(err, ErrNotAllowed) || !strings.Contains(err.Error(), tc.refused) {
				t.Fatalf("got %v, want refused by %q", err, tc.refused)
			}
			if n := reg.counter.Count("") - before; n != 0 {
				t.Errorf("a refused spec made %d requests", n)
			}
		})
	}
}

// TestLinkLocalImageNeverDialled: without rules every host is reachable
// except link-local ones.
func TestLinkLocalImageNeverDialled(t *testing.T) {
	r := newTestResolver(t)
	_, err := r.ResolveOne(context.Background(), specFor(t, "meta=169.254.169.254/latest/meta-data", nil))
	if err == nil || !strings.Contains(err.Error(), "link-local addresses") || !strings.Contains(err.Error(), "connection to 169.254.169.254 refused") {
		t.Fatalf("got %v", err)
	}
}

// TestRulesCheckTokenRealms: the realm a registry names is a connection of
// its own and must be inside the rules, loopback named explicitly.
func TestRulesCheckTokenRealms(t *testing.T) {
	reg, tokens, realmHost := tokenRegistry(t, knownSecret)
	pushTags(t, reg.host, "acme/web", time.Now(), []remote.Option{remote.WithAuth(&authn.Basic{Username: authUser, Password: knownSecret})}, "1.0.0")
	t.Setenv("ACME_CREDS", authUser+":"+knownSecret)
	for _, tc := range []struct {
		name    string
		allowed []string
		ok      bool
	}{
		{"realm outside the rules", []string{reg.host + "/acme/*"}, false},
		{"realm named by a rule", []string{reg.host + "/acme/*", realmHost}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			conf, err := ParseRegistriesConfig([]byte("registries:\n- name: acme\n  prefix: " + reg.host + "/acme\n  credentials: env:ACME_CREDS\nallowed: [" + strings.Join(tc.allowed, ", ") + "]\n"))
			if err != nil {
				t.Fatal(err)
			}
			r := newTestResolver(t, WithRegistriesConfig(conf))
			tokens.Reset()
			res, err := r.ResolveOne(context.Background(), specFor(t, "web="+reg.host+"/acme/web", nil))
			if tc.ok {
				if err != nil || res.Tag != "1.0.0" {
					t.Fatalf("got %+v %v", res, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), "(a redirect or a token realm) refused: the host is outside the registries.conf `allowed` rules") {
				t.Fatalf("got %v", err)
			}
			if strings.Contains(err.Error(), realmHost) {
				t.Errorf("the error names the realm host, a header value: %s", err)
			}
			if n := tokens.Count(""); n != 0 {
				t.Errorf("the token endpoint got %d requests; the credentials went out", n)
			}
			assertNoSecret(t, r, err)
		})
	}
}

// TestRulesCheckRedirects: a registry redirecting the tag list to a host
// outside the rules is refused there; named, it is followed.
func TestRulesCheckRedirects(t *testing.T) {
	reg := newTestRegistry(t)
	pushTags(t, reg.host, "acme/web", time.Now(), nil, "1.0.0")
	alias := localhostOf(reg.host)
	redirector, hits := startHostile(t, func(_ string, w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/v2/" {
			return
		}
		http.Redirect(w, r, "http://"+alias+r.URL.RequestURI(), http.StatusTemporaryRedirect)
	})
	for _, tc := range []struct {
		name    string
		allowed []string
		ok      bool
	}{
		{"redirect outside the rules", []string{redirector + "/acme/*"}, false},
		{"redirect named by a rule", []string{redirector + "/acme/*", alias}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			conf, err := ParseRegistriesConfig([]byte("allowed: [" + strings.Join(tc.allowed, ", ") + "]\n"))
			if err != nil {
				t.Fatal(err)
			}
			r := newTestResolver(t, WithRegistriesConfig(conf))
			before := reg.counter.Count("")
			res, err := r.ResolveOne(context.Background(), specFor(t, "web="+redirector+"/acme/web", nil))
			if tc.ok {
				if err != nil || res.Tag != "1.0.0" {
					t.Fatalf("got %+v %v", res, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), "refused: the host is outside") {
				t.Fatalf("got %v", err)
			}
			if n := reg.counter.Count("") - before; n != 0 || hits.Load() == 0 {
				t.Errorf("the redirect target got %d requests (redirector %d)", n, hits.Load())
			}
		})
	}
}

// TestPullSecretNeverSendsCredentialsToASibling: credentials of
// registry/team-a are not sent for registry/team-b, by prefix or by name.
func TestPullSecretNeverSendsCredentialsToASibling(t *testing.T) {
	reg := htpasswdRegistry(t, knownSecret)
	pushTags(t, reg.host, "team-b/app", time.Now(), []remote.Option{remote.WithAuth(&authn.Basic{Username: authUser, Password: knownSecret})}, "1.0.0")
	t.Setenv("TEAM_A_CREDS", authUser+":"+knownSecret)
	conf, err := ParseRegistriesConfig([]byte("registries:\n- name: team-a\n  prefix: " + reg.host + "/team-a\n  credentials: env:TEAM_A_CREDS\n"))
	if err != nil {
		t.Fatal(err)
	}
	r := newTestResolver(t, WithRegistriesConfig(conf))
	basic := "Basic " + base64.StdEncoding.EncodeToString([]byte(authUser+":"+knownSecret))
	for _, opts := range []map[string]string{nil, {"app.pull-secret": "team-a"}} {
		before := reg.counter.Authorizations(basic) // the pushes above
		_, err := r.ResolveOne(context.Background(), specFor(t, "app="+reg.host+"/team-b/app", opts))
		if err == nil {
			t.Fatalf("options %v: resolved team-b with team-a's credentials", opts)
		}
		if n := reg.counter.Authorizations(basic) - before; n != 0 {
			t.Errorf("options %v: team-a's credentials were sent %d times for team-b", opts, n)
		}
	}
	// The same credentials do go out for team-a.
	pushTags(t, reg.host, "team-a/app", time.Now(), []remote.Option{remote.WithAuth(&authn.Basic{Username: authUser, Password: knownSecret})}, "1.0.0")
	before := reg.counter.Authorizations(basic)
	if res, err := r.ResolveOne(context.Background(), specFor(t, "app="+reg.host+"/team-a/app", nil)); err != nil || res.Tag != "1.0.0" {
		t.Fatalf("team-a: %+v %v", res, err)
	}
	if reg.counter.Authorizations(basic) == before {
		t.Error("team-a's own credentials were not used for team-a")
	}
}

func TestRefusalNamesOnlyTheRegistryItself(t *testing.T) {
	cases := []struct {
		host     string
		withHost bool
	}{
		{"meta.example", true},
		{"meta.example:443", true},
		{"meta.example:80", true},
		{"realm.example", false},
		{"meta.example:8443", false},
	}
	for _, tc := range cases {
		msg := describeFailure(&egress.RefusedError{Host: tc.host, Reason: egress.ReasonLinkLocal}, "meta.example")
		if got := strings.Contains(msg, tc.host); got != tc.withHost {
			t.Errorf("refusal for %s: %q names the host = %v, want %v", tc.host, msg, got, tc.withHost)
		}
	}
}
