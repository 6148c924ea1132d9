package cmp

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/argoproj/argo-cd/v3/pkg/apis/application/v1alpha1"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/argocd-image-resolver/argocd-image-resolver/resolve"
	"github.com/argocd-image-resolver/argocd-image-resolver/test/registrytest"
)

// culpritCase is a failing render and what its message must and must not
// say: the wording of another culprit is as wrong as no message at all.
type culpritCase struct {
	name    string
	appPath string
	params  v1alpha1.ApplicationSourcePluginParameters
	env     []string
	code    codes.Code
	want    []string
	notWant []string
}

func runCulpritCases(t *testing.T, h *harness, cases []culpritCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			// The repo-server always sends a deadline (60 s by default).
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			_, err := h.generate(ctx, t, tc.appPath, pluginEnv(t, "web", tc.params, tc.env...))
			if err == nil {
				t.Fatal("render succeeded")
			}
			st, _ := status.FromError(err)
			t.Logf("%v: %s", st.Code(), st.Message())
			if st.Code() != tc.code {
				t.Errorf("code %v, want %v", st.Code(), tc.code)
			}
			mustContain(t, st.Message(), tc.want...)
			for _, w := range tc.notWant {
				if strings.Contains(st.Message(), w) {
					t.Errorf("message blames the wrong culprit (%q):\n%s", w, st.Message())
				}
			}
		})
	}
}

// TestErrorsNameTheRightCulprit: configuration errors, the plugin's own
// rate limit, render stages and Helm internals each get their own wording
// instead of registry advice, a wrong stage prefix or Helm CLI advice.
func TestErrorsNameTheRightCulprit(t *testing.T) {
	reg := newTestRegistry(t)
	reg.push(t, "acme/web", "1.6.3")

	// A registry that wants credentials, configured in registries.conf
	// with a variable that is not set.
	authReg := registrytest.New(t, registrytest.WithHandler(func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if _, _, ok := r.BasicAuth(); !ok {
				w.Header().Set("WWW-Authenticate", `Basic realm="test"`)
				w.WriteHeader(http.StatusUnauthorized)
				return
			}
			next.ServeHTTP(w, r)
		})
	})).Host()
	// A registry whose plugin-side limit is far below one request per
	// render deadline.
	slowReg := newTestRegistry(t)
	slowReg.push(t, "acme/web", "1.6.3")
	conf, err := resolve.ParseRegistriesConfig([]byte("registries:\n" +
		"- name: auth\n  prefix: " + authReg + "\n  api_url: http://" + authReg + "\n  credentials: env:IMAGE_RESOLVER_TEST_UNSET_CREDS\n" +
		"- name: slow\n  prefix: " + slowReg.host + "\n  api_url: http://" + slowReg.host + "\n  limit: 0.001\n"))
	if err != nil {
		t.Fatal(err)
	}
	h := startServerSetup(t, reg, serverSetup{resolver: []resolve.Option{resolve.WithRegistriesConfig(conf)}})
	name := options("web.helm.image-name", "image.repository")
	web := images("web=" + reg.host + "/acme/web:~1.6")
	const registryAdvice = "check the registry is reachable"
	const wrongStage = "reading pinned images from the chart values"

	// apps/deps depends on a chart repository on a port nothing listens on;
	// Helm's caches go to the test's own folders.
	const deadRepo = "http://127.0.0.1:1/charts"
	for _, v := range []string{"HELM_CACHE_HOME", "HELM_CONFIG_HOME", "HELM_DATA_HOME"} {
		t.Setenv(v, t.TempDir())
	}

	runCulpritCases(t, h, []culpritCase{
		{
			name: "relative pull-secret file is a configuration error", appPath: "apps/web",
			params:  v1alpha1.ApplicationSourcePluginParameters{web, options("web.helm.image-name", "image.repository", "web.pull-secret", "file:creds.txt")},
			code:    codes.InvalidArgument,
			want:    []string{`alias "web"`, `pull-secret "file:creds.txt"`, "takes the name of a registries.conf entry"},
			notWant: []string{registryAdvice},
		},
		{
			name: "registries.conf credentials that cannot be read", appPath: "apps/web",
			params:  v1alpha1.ApplicationSourcePluginParameters{images("web=" + authReg + "/acme/web:~1.6"), name},
			code:    codes.FailedPrecondition,
			want:    []string{"resolve web", `registries.conf entry "auth" could not be read`, "the plugin's configuration, not the registry"},
			notWant: []string{registryAdvice, "IMAGE_RESOLVER_TEST_UNSET_CREDS"},
		},
		{
			name: "the plugin's own rate limit", appPath: "apps/web",
			params:  v1alpha1.ApplicationSourcePluginParameters{images("web=" + slowReg.host + "/acme/web:~1.6"), name},
			code:    codes.ResourceExhausted,
			want:    []string{"resolve web", "the plugin's own request limit for registry " + slowReg.host, "would pass the deadline", "raise limit"},
			notWant: []string{"did not answer in time", "the caller's deadline passed"},
		},
		{
			name: "a bad Kubernetes version is not about pins", appPath: "apps/web",
			params:  v1alpha1.ApplicationSourcePluginParameters{web, name},
			env:     []string{"KUBE_VERSION=one.two"},
			code:    codes.InvalidArgument,
			want:    []string{"reading the Kubernetes version", `"one.two"`},
			notWant: []string{wrongStage},
		},
		{
			name: "a missing value file is not about pins", appPath: "apps/web",
			params:  v1alpha1.ApplicationSourcePluginParameters{web, name, arrayParam("value-files", "values-missing.yaml")},
			code:    codes.InvalidArgument,
			want:    []string{"reading values", `value file "values-missing.yaml" not found`},
			notWant: []string{wrongStage},
		},
		{
			name: "a broken value file is named as written", appPath: "apps/web",
			params:  v1alpha1.ApplicationSourcePluginParameters{web, name, arrayParam("value-files", "values-broken.yaml")},
			code:    codes.InvalidArgument,
			want:    []string{"reading values", `value file "values-broken.yaml"`},
			notWant: []string{wrongStage, "apps/web/values-broken.yaml"},
		},
		{
			name: "an unreachable dependency repository", appPath: "apps/deps",
			params:  v1alpha1.ApplicationSourcePluginParameters{web, name},
			code:    codes.InvalidArgument,
			want:    []string{"loading the chart", `dependency "lib"`, deadRepo, "connection refused"},
			notWant: []string{wrongStage, "helm repo update", "helm-manager", "index.yaml: no such file"},
		},
	})
}
