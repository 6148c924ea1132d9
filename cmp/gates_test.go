package cmp

import (
	"context"
	"strings"
	"testing"
	"time"

	"sigs.k8s.io/yaml"

	"github.com/argocd-image-resolver/argocd-image-resolver/resolve"
	"github.com/argocd-image-resolver/argocd-image-resolver/test/clocktest"
	"github.com/argocd-image-resolver/argocd-image-resolver/test/registrytest"
)

// gateParams is the env of the web Application with more image options.
func gateParams(t *testing.T, reg *testRegistry, options map[string]string) []string {
	opts := map[string]string{"web.helm.image-name": "image.repository"}
	for k, v := range options {
		opts[k] = v
	}
	params := webParams(reg, "~1.6")
	params[1] = mapParam("image-options", opts)
	return pluginEnv(t, "team-a_web", params)
}

// TestMinAgeThroughTheSocket: a tag younger than min-age is not rendered,
// and is rendered once it comes of age (the resolver's clock advances; no
// sleeps).
func TestMinAgeThroughTheSocket(t *testing.T) {
	reg := newTestRegistry(t)
	clock := clocktest.New(time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC))
	registrytest.Push(t, reg.host+"/acme/web:1.6.0", registrytest.Created(clock.Now().Add(-30*24*time.Hour)))
	registrytest.Push(t, reg.host+"/acme/web:1.6.3", registrytest.Created(clock.Now().Add(-10*time.Minute)))
	h := startServerSetup(t, reg, serverSetup{resolver: []resolve.Option{resolve.WithClock(clock.Now)}})
	env := gateParams(t, reg, map[string]string{"web.min-age": "24h"})

	resp, err := h.generate(context.Background(), t, "apps/web", env)
	if err != nil {
		t.Fatal(err)
	}
	text := manifestsText(resp)
	mustContain(t, text, `image: "`+reg.host+`/acme/web:1.6.0"`)
	if strings.Contains(text, "1.6.3") {
		t.Fatalf("1.6.3 is 10 minutes old, min-age 24h, yet rendered:\n%s", text)
	}

	clock.Advance(24 * time.Hour)
	resp, err = h.generate(context.Background(), t, "apps/web", env)
	if err != nil {
		t.Fatal(err)
	}
	mustContain(t, manifestsText(resp), `image: "`+reg.host+`/acme/web:1.6.3"`)
}

// TestAnnotatedRendersAreStable: the provenance annotation names the
// image, constraint, tag, digest, rule and gates, and two renders of the
// same resolution are byte-identical (one from the registry, one from the
// cache; one with a held-back candidate whose reason counts the time).
func TestAnnotatedRendersAreStable(t *testing.T) {
	reg := newTestRegistry(t)
	clock := clocktest.New(time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC))
	d := registrytest.Push(t, reg.host+"/acme/web:1.6.0", registrytest.Created(clock.Now().Add(-30*24*time.Hour)))
	registrytest.Push(t, reg.host+"/acme/web:1.6.3", registrytest.Created(clock.Now()))
	h := startServerSetup(t, reg, serverSetup{resolver: []resolve.Option{resolve.WithClock(clock.Now)}})
	env := gateParams(t, reg, map[string]string{"web.min-age": "24h", "web.annotate": "true"})

	first, err := h.generate(context.Background(), t, "apps/web", env)
	if err != nil {
		t.Fatal(err)
	}
	var deploy struct {
		Metadata struct {
			Annotations map[string]string `json:"annotations"`
		} `json:"metadata"`
	}
	for _, m := range first.Manifests {
		if strings.Contains(m, "kind: Deployment") {
			if err := yaml.Unmarshal([]byte(m), &deploy); err != nil {
				t.Fatal(err)
			}
		}
	}
	want := `{"image":"` + reg.host + `/acme/web","constraint":"~1.6","tag":"1.6.0","digest":"` + d.String() + `","rule":"semver \"~1.6\"","acceptedBy":["min-age 24h"]}`
	if got := deploy.Metadata.Annotations["argocd-image-resolver/image.web"]; got != want {
		t.Fatalf("annotation = %s\nwant         %s", got, want)
	}

	clock.Advance(2 * time.Hour) // the held-back reason now says 2h; the annotation must not
	second, err := h.generate(context.Background(), t, "apps/web", env)
	if err != nil {
		t.Fatal(err)
	}
	if len(first.Manifests) != len(second.Manifests) {
		t.Fatalf("%d then %d manifests", len(first.Manifests), len(second.Manifests))
	}
	for i := range first.Manifests {
		if first.Manifests[i] != second.Manifests[i] {
			t.Fatalf("manifest %d differs between two renders of one resolution:\n%s\n---\n%s", i, first.Manifests[i], second.Manifests[i])
		}
	}
}
