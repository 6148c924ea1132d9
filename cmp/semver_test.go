package cmp

import (
	"context"
	"testing"

	"github.com/argoproj/argo-cd/v3/pkg/apis/application/v1alpha1"
)

// TestStrictSemverThroughTheSocket: a date tag (20240601) must not beat the
// releases under a semver policy unless the operator or the Application
// asks for argocd-image-updater's loose reading.
func TestStrictSemverThroughTheSocket(t *testing.T) {
	reg := newTestRegistry(t)
	reg.push(t, "acme/web", "1.6.3", "20240601", "1.7")
	params := func(strict string) v1alpha1.ApplicationSourcePluginParameters {
		opts := map[string]string{"web.helm.image-name": "image.repository"}
		if strict != "" {
			opts["web.strict-semver"] = strict
		}
		return v1alpha1.ApplicationSourcePluginParameters{
			arrayParam("images", "web="+reg.host+"/acme/web:>=1"),
			mapParam("image-options", opts),
		}
	}
	strictServer := startServer(t, reg)
	looseServer := startServer(t, reg, WithStrictSemver(false))
	cases := []struct {
		name   string
		h      *harness
		option string
		want   string
	}{
		{"strict by default", strictServer, "", "acme/web:1.6.3"},
		{"loose by the Application's option", strictServer, "false", "acme/web:20240601"},
		{"loose by the operator's default", looseServer, "", "acme/web:20240601"},
		{"strict by the Application over a loose default", looseServer, "true", "acme/web:1.6.3"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			resp, err := tc.h.generate(context.Background(), t, "apps/web", pluginEnv(t, "web", params(tc.option)))
			if err != nil {
				t.Fatal(err)
			}
			mustContain(t, manifestsText(resp), `image: "`+reg.host+"/"+tc.want+`"`)
		})
	}
}
