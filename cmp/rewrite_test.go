package cmp

import (
	"context"
	"strings"
	"testing"

	"github.com/argoproj/argo-cd/v3/pkg/apis/application/v1alpha1"

	"github.com/argocd-image-resolver/argocd-image-resolver/rewrite"
	"github.com/argocd-image-resolver/argocd-image-resolver/test/registrytest"
)

// vendorEnv is the env of an Application of the vendor chart, whose image
// comes from oddly named values (its registry set to the test's), with the
// rewrite option.
func vendorEnv(t *testing.T, reg *testRegistry, options map[string]string) []string {
	opts := map[string]string{"web.rewrite": "true"}
	for k, v := range options {
		opts[k] = v
	}
	params := append(webParamsWith(reg, "~1.6", opts), mapParam("helm-parameters", map[string]string{"server.registryHost": reg.host}))
	return pluginEnv(t, "team-a_vendor", params)
}

func webParamsWith(reg *testRegistry, constraint string, opts map[string]string) v1alpha1.ApplicationSourcePluginParameters {
	p := webParams(reg, constraint)
	p[1] = mapParam("image-options", opts)
	return p
}

// TestRewriteThroughTheSocket: with rewrite, the resolved reference is
// written into every container of the workloads that run the repository
// (whatever registry and tag the chart wrote), in the form of the pin
// mode; other images, non-workload kinds and undeclared custom resources
// are left alone; no value is written; two renders are byte-identical.
func TestRewriteThroughTheSocket(t *testing.T) {
	reg := newTestRegistry(t)
	d := registrytest.Push(t, reg.host+"/acme/web:1.6.3")
	registrytest.Push(t, reg.host+"/acme/web:1.6.0")
	h := startServer(t, reg)
	repo := reg.host + "/acme/web"
	for _, c := range []struct {
		pin, want string
	}{
		{"", repo + ":1.6.3"},
		{"tag", repo + ":1.6.3"},
		{"digest", repo + "@" + d.String()},
		{"tag+digest", repo + ":1.6.3@" + d.String()},
	} {
		t.Run("pin "+c.pin, func(t *testing.T) {
			opts := map[string]string{}
			if c.pin != "" {
				opts["web.pin"] = c.pin
			}
			env := vendorEnv(t, reg, opts)
			first, err := h.generate(context.Background(), t, "apps/vendor", env)
			if err != nil {
				t.Fatal(err)
			}
			text := manifestsText(first)
			if n := strings.Count(text, "image: "+c.want+"\n"); n != 3 {
				t.Errorf("%s is in %d containers, want 3 (init container, container, CronJob):\n%s", c.want, n, text)
			}
			mustContain(t, text,
				"image: docker.io/library/busybox:1.36", // another image
				"data:\n  image: "+repo+":0.9.0",        // a ConfigMap
				"runner:\n    image: "+repo+":0.9.0",    // an undeclared custom resource
			)
			second, err := h.generate(context.Background(), t, "apps/vendor", env)
			if err != nil {
				t.Fatal(err)
			}
			if again := manifestsText(second); again != text {
				t.Errorf("two renders differ:\n%s\n---\n%s", text, again)
			}
		})
	}
}

// TestRewriteImageFields: a custom resource's image field declared with
// WithImageFields (serve --image-fields) is written too.
func TestRewriteImageFields(t *testing.T) {
	reg := newTestRegistry(t)
	registrytest.Push(t, reg.host+"/acme/web:1.6.3")
	fields, err := rewrite.ParseFields([]byte("images:\n- path: spec/runner/image\n  kind: Widget\n  group: example.com\n"))
	if err != nil {
		t.Fatal(err)
	}
	h := startServer(t, reg, WithImageFields(fields))
	resp, err := h.generate(context.Background(), t, "apps/vendor", vendorEnv(t, reg, nil))
	if err != nil {
		t.Fatal(err)
	}
	text := manifestsText(resp)
	mustContain(t, text, "runner:\n    image: "+reg.host+"/acme/web:1.6.3", "data:\n  image: "+reg.host+"/acme/web:0.9.0")
}

// TestRewriteFindsNothing: when no container runs the repository, the
// rendered check still fails the render, naming the rewrite.
func TestRewriteFindsNothing(t *testing.T) {
	reg := newTestRegistry(t)
	registrytest.Push(t, reg.host+"/acme/api:1.6.3")
	h := startServer(t, reg)
	env := pluginEnv(t, "team-a_vendor", v1alpha1.ApplicationSourcePluginParameters{
		arrayParam("images", "web="+reg.host+"/acme/api:~1.6"),
		mapParam("image-options", map[string]string{"web.rewrite": "true"}),
	})
	_, err := h.generate(context.Background(), t, "apps/vendor", env)
	if err == nil || !strings.Contains(err.Error(), "web.rewrite found no container") {
		t.Fatalf("err = %v, want the rendered check to name the rewrite", err)
	}
}
