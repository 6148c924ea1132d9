package cmp

import (
	"context"
	"net"
	"strings"
	"testing"

	"github.com/argoproj/argo-cd/v3/pkg/apis/application/v1alpha1"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	testharness "github.com/argocd-image-resolver/argocd-image-resolver/test/harness"
)

// renderCase is one render through the socket and what it must answer:
// an error (code and message fragments) or manifests holding want.
type renderCase struct {
	name    string
	appPath string
	params  v1alpha1.ApplicationSourcePluginParameters
	code    codes.Code
	want    []string
}

func runRenderCases(t *testing.T, h *harness, cases []renderCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			resp, err := h.generate(context.Background(), t, tc.appPath, pluginEnv(t, "web", tc.params))
			if tc.code == codes.OK {
				if err != nil {
					t.Fatalf("render failed: %v", err)
				}
				mustContain(t, manifestsText(resp), tc.want...)
				return
			}
			if err == nil {
				t.Fatalf("render succeeded, want %v:\n%s", tc.code, manifestsText(resp))
			}
			st, _ := status.FromError(err)
			t.Logf("%v: %s", st.Code(), st.Message())
			if st.Code() != tc.code {
				t.Errorf("code %v, want %v", st.Code(), tc.code)
			}
			mustContain(t, st.Message(), tc.want...)
		})
	}
}

func images(spec ...string) v1alpha1.ApplicationSourcePluginParameter {
	return arrayParam("images", spec...)
}

func options(kv ...string) v1alpha1.ApplicationSourcePluginParameter {
	m := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return mapParam("image-options", m)
}

// TestWhatIsResolvedIsRendered: every value path the plugin writes must
// exist in the chart's values (or be declared creatable), and the rendered
// manifests must reference the resolved image. Each case used to render the
// chart's own default tag with exit 0 while the log named the resolved one.
func TestWhatIsResolvedIsRendered(t *testing.T) {
	reg := newTestRegistry(t)
	reg.push(t, "acme/web", "1.5.0", "1.6.3")
	h := startServer(t, reg)
	web := images("web=" + reg.host + "/acme/web:~1.6")
	resolved := reg.host + "/acme/web:1.6.3"
	runRenderCases(t, h, []renderCase{
		{
			name: "typo in the tag path", appPath: "apps/web",
			params: v1alpha1.ApplicationSourcePluginParameters{web, options("web.helm.image-name", "image.repository", "web.helm.image-tag", "image.tg")},
			code:   codes.InvalidArgument,
			want:   []string{"application web", `image "web"`, "helm.image-tag image.tg", "not in the chart's values", "did you mean image.tag?", `web.helm.create-paths: "true"`},
		},
		{
			name: "tag path running into a string", appPath: "apps/web",
			params: v1alpha1.ApplicationSourcePluginParameters{web, options("web.helm.image-name", "image.repository", "web.helm.image-tag", "image.repository.tag")},
			code:   codes.InvalidArgument,
			want:   []string{`image "web"`, "helm.image-tag image.repository.tag", "image.repository holds a string, not a map"},
		},
		{
			name: "umbrella chart, one image, no path", appPath: "apps/umbrella",
			params: v1alpha1.ApplicationSourcePluginParameters{web},
			code:   codes.InvalidArgument,
			want:   []string{`image "web"`, "helm.image-tag image.tag", "not in the chart's values", "did you mean web.image.tag?"},
		},
		{
			name: "umbrella chart with the sub-chart's path", appPath: "apps/umbrella",
			params: v1alpha1.ApplicationSourcePluginParameters{web, options("web.helm.image-tag", "web.image.tag", "web.helm.image-name", "web.image.repository")},
			want:   []string{`image: "` + resolved + `"`},
		},
		{
			name: "chart renders another value than the tag path", appPath: "apps/unusedtag",
			params: v1alpha1.ApplicationSourcePluginParameters{web, options("web.helm.image-name", "image.repository")},
			code:   codes.InvalidArgument,
			want: []string{`image "web"`, "the rendered manifests do not reference " + resolved, "image.tag=1.6.3",
				"the chart rendered " + reg.host + "/acme/web:0.0.1", `web.check-rendered: "false"`},
		},
		{
			name: "check-rendered off for a chart that uses the tag elsewhere", appPath: "apps/unusedtag",
			params: v1alpha1.ApplicationSourcePluginParameters{web, options("web.helm.image-name", "image.repository", "web.check-rendered", "false")},
			want:   []string{`image: "` + reg.host + `/acme/web:0.0.1"`},
		},
		{
			name: "tag path the values lack", appPath: "apps/defaulttag",
			params: v1alpha1.ApplicationSourcePluginParameters{web, options("web.helm.image-name", "image.repository")},
			code:   codes.InvalidArgument,
			want:   []string{`image "web"`, "helm.image-tag image.tag", "not in the chart's values", `web.helm.create-paths: "true"`},
		},
		{
			name: "create-paths writes a path the values lack", appPath: "apps/defaulttag",
			params: v1alpha1.ApplicationSourcePluginParameters{web, options("web.helm.image-name", "image.repository", "web.helm.create-paths", "true")},
			want:   []string{`image: "` + resolved + `"`},
		},
		{
			name: "pin digest without a shasum value", appPath: "apps/web",
			params: v1alpha1.ApplicationSourcePluginParameters{web, options("web.helm.image-name", "image.repository", "web.pin", "digest")},
			code:   codes.InvalidArgument,
			want:   []string{`image "web"`, "helm.image-shasum image.shasum", "not in the chart's values", "tag+digest"},
		},
		{
			name: "pin tag+digest renders what was resolved", appPath: "apps/web",
			params: v1alpha1.ApplicationSourcePluginParameters{web, options("web.helm.image-name", "image.repository", "web.pin", "tag+digest")},
			want:   []string{`image: "` + resolved + `@sha256:`},
		},
	})
	h.assertNoLeftovers(t)
}

// TestPinsAreChecked: a pinned tag costs one cached HEAD. A tag the
// registry does not have fails the render naming the alias and the
// registry's answer, instead of rendering an image no node can pull.
func TestPinsAreChecked(t *testing.T) {
	reg := newTestRegistry(t)
	reg.push(t, "acme/web", "1.5.0", "1.6.3")
	h := startServer(t, reg)
	web := images("web=" + reg.host + "/acme/web:~1.6")
	name := options("web.helm.image-name", "image.repository")
	runRenderCases(t, h, []renderCase{
		{
			name: "override-tag of a missing tag", appPath: "apps/web",
			params: v1alpha1.ApplicationSourcePluginParameters{web, options("web.helm.image-name", "image.repository", "web.override-tag", "9.9.9")},
			code:   codes.FailedPrecondition,
			want:   []string{"application web", "web (" + reg.host + "/acme/web)", "pinned tag 9.9.9", "404"},
		},
		{
			name: "overrideTag in the values of a missing tag", appPath: "apps/web",
			params: v1alpha1.ApplicationSourcePluginParameters{web, name, strParam("values", "image:\n  overrideTag: 9.9.8\n")},
			code:   codes.FailedPrecondition,
			want:   []string{"web (" + reg.host + "/acme/web)", "pinned tag 9.9.8", "404"},
		},
		{
			name: "helm parameter for the tag path of a missing tag", appPath: "apps/web",
			params: v1alpha1.ApplicationSourcePluginParameters{web, name, mapParam("helm-parameters", map[string]string{"image.tag": "9.9.7"})},
			code:   codes.FailedPrecondition,
			want:   []string{"web (" + reg.host + "/acme/web)", "pinned tag 9.9.7", "404"},
		},
		{
			name: "override-tag of a tag the registry has", appPath: "apps/web",
			params: v1alpha1.ApplicationSourcePluginParameters{web, options("web.helm.image-name", "image.repository", "web.override-tag", "1.5.0")},
			want:   []string{`image: "` + reg.host + `/acme/web:1.5.0"`},
		},
	})

	// The check is one HEAD, cached like any digest: a second render of the
	// same pin asks the registry nothing.
	params := v1alpha1.ApplicationSourcePluginParameters{web, name, strParam("values", "image:\n  overrideTag: 1.6.3\n")}
	before := reg.requests.Load()
	if _, err := h.generate(context.Background(), t, "apps/web", pluginEnv(t, "web", params)); err != nil {
		t.Fatal(err)
	}
	if n := reg.requests.Load() - before; n == 0 {
		t.Error("a pin from the values was not checked against the registry")
	}
	before = reg.requests.Load()
	resp, err := h.generate(context.Background(), t, "apps/web", pluginEnv(t, "web", params))
	if err != nil {
		t.Fatal(err)
	}
	mustContain(t, manifestsText(resp), `image: "`+reg.host+`/acme/web:1.6.3"`)
	if n := reg.requests.Load() - before; n != 0 {
		t.Errorf("second render of the same pin made %d registry requests, want 0 (cached)", n)
	}
}

// TestPinOnAnUnreachableRegistryIsUsedWithAWarning: an emergency pin must
// not depend on the registry answering; the render uses it and says so.
func TestPinOnAnUnreachableRegistryIsUsedWithAWarning(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	gone := ln.Addr().String()
	ln.Close()
	var logs testharness.SyncBuffer
	h := startServerSetup(t, newTestRegistry(t), serverSetup{logs: &logs})
	params := v1alpha1.ApplicationSourcePluginParameters{
		images("web=" + gone + "/acme/web:~1.6"),
		options("web.helm.image-name", "image.repository", "web.override-tag", "1.5.0"),
	}
	resp, err := h.generate(context.Background(), t, "apps/web", pluginEnv(t, "web", params))
	if err != nil {
		t.Fatalf("pinned render on an unreachable registry failed: %v", err)
	}
	mustContain(t, manifestsText(resp), `image: "`+gone+`/acme/web:1.5.0"`)
	if got := logs.String(); !strings.Contains(got, "pinned tag not checked") || !strings.Contains(got, "alias=web") {
		t.Errorf("no warning about the unchecked pin in the logs:\n%s", got)
	}
}
