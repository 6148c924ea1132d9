package cmp

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/argoproj/argo-cd/v3/pkg/apis/application/v1alpha1"

	"github.com/argocd-image-resolver/argocd-image-resolver/test/registrytest"
)

// kustomizeEnv is the env of a Kustomize Application resolving web on the
// test registry; the manifests of testdata's kustomize base name it
// ghcr.io/acme/web, hence kustomize.image-name.
func kustomizeEnv(t *testing.T, reg *testRegistry, extra ...v1alpha1.ApplicationSourcePluginParameter) []string {
	params := v1alpha1.ApplicationSourcePluginParameters{
		arrayParam("images", "web="+reg.host+"/acme/web:~1.6"),
		strParam("web.kustomize.image-name", "ghcr.io/acme/web"),
	}
	return pluginEnv(t, "web", append(params, extra...))
}

// TestKustomizeThroughTheSocket: an application path with a kustomization
// is built with Kustomize, the resolved image set through its image
// transformer (winning over the overlay's own images entry) in every
// container that runs it, and the Application's kustomize options applied
// as Argo CD applies spec.source.kustomize; Kustomize wins over a
// Chart.yaml beside it; two renders are byte-identical.
func TestKustomizeThroughTheSocket(t *testing.T) {
	reg := newTestRegistry(t)
	registrytest.Push(t, reg.host+"/acme/web:1.6.3")
	registrytest.Push(t, reg.host+"/acme/web:1.6.0")
	h := startServer(t, reg)
	resolved := "image: " + reg.host + "/acme/web:1.6.3\n"
	for _, c := range []struct {
		name     string
		path     string
		params   []v1alpha1.ApplicationSourcePluginParameter
		want     []string
		notWant  []string
		resolved int
	}{
		{
			name: "overlay", path: "kustomize/overlays/prod",
			want:     []string{"name: prod-web\n", "env: prod", "replicas: 3", "image: docker.io/library/nginx:1.27", "name: prod-web-config-"},
			notWant:  []string{"0.2.0", "0.1.0"},
			resolved: 2,
		},
		{
			name: "application options", path: "kustomize/overlays/staging",
			params: []v1alpha1.ApplicationSourcePluginParameter{
				strParam("kustomize-name-prefix", "x-"),
				strParam("kustomize-name-suffix", "-y"),
				strParam("kustomize-namespace", "team-b"),
				mapParam("kustomize-common-labels", map[string]string{"team": "b"}),
				mapParam("kustomize-common-annotations", map[string]string{"owner": "team-b"}),
				mapParam("kustomize-replicas", map[string]string{"web": "5"}),
				arrayParam("kustomize-images", "docker.io/library/nginx=mirror.example/nginx:1.28"),
			},
			want:     []string{"name: x-web-y\n", "namespace: team-b", "team: b", "owner: team-b", "replicas: 5", "image: mirror.example/nginx:1.28", "--debug"},
			notWant:  []string{"namespace: staging", "nginx:1.27"},
			resolved: 2,
		},
		{
			name: "component added", path: "kustomize/overlays/prod",
			params: []v1alpha1.ApplicationSourcePluginParameter{arrayParam("kustomize-components", "../../components/debug")},
			want:   []string{"--debug", "name: prod-web\n"}, resolved: 2,
		},
		{
			name: "kustomization wins over Chart.yaml", path: "kustomize/overlays/chart-too",
			want: []string{"name: web-k\n"}, resolved: 2,
		},
	} {
		t.Run(c.name, func(t *testing.T) {
			env := kustomizeEnv(t, reg, c.params...)
			first, err := h.generate(context.Background(), t, c.path, env)
			if err != nil {
				t.Fatal(err)
			}
			text := manifestsText(first)
			mustContain(t, text, c.want...)
			if got := strings.Count(text, resolved); got != c.resolved {
				t.Errorf("%d containers run %q, want %d:\n%s", got, resolved, c.resolved, text)
			}
			for _, w := range c.notWant {
				if strings.Contains(text, w) {
					t.Errorf("%q still in:\n%s", w, text)
				}
			}
			again, err := h.generate(context.Background(), t, c.path, env)
			if err != nil {
				t.Fatal(err)
			}
			if manifestsText(again) != text {
				t.Errorf("two renders differ")
			}
		})
	}
}

// TestKustomizePins: each pin mode reaches the manifests through the
// images entry; an override-tag pins the tag.
func TestKustomizePins(t *testing.T) {
	reg := newTestRegistry(t)
	registrytest.Push(t, reg.host+"/acme/web:1.6.3")
	registrytest.Push(t, reg.host+"/acme/web:1.6.0")
	h := startServer(t, reg)
	repo := reg.host + "/acme/web"
	for _, c := range []struct {
		option, value, want string
	}{
		{"web.pin", "digest", "image: " + repo + "@sha256:"},
		{"web.pin", "tag+digest", "image: " + repo + ":1.6.3@sha256:"},
		{"web.override-tag", "1.6.0", "image: " + repo + ":1.6.0\n"},
	} {
		t.Run(c.value, func(t *testing.T) {
			resp, err := h.generate(context.Background(), t, "kustomize/overlays/prod", kustomizeEnv(t, reg, strParam(c.option, c.value)))
			if err != nil {
				t.Fatal(err)
			}
			if got := strings.Count(manifestsText(resp), c.want); got != 2 {
				t.Errorf("%d containers run %q, want 2:\n%s", got, c.want, manifestsText(resp))
			}
		})
	}
}

// TestKustomizeMatchesTheKustomizeProgram: with no image configured, the
// plugin's build of each overlay equals what the kustomize program of the
// same Kustomize module (kustomize/v5 v5.8.1, api v0.21.1) prints for it,
// in testdata/kustomize-golden (`make kustomize-golden` writes them).
func TestKustomizeMatchesTheKustomizeProgram(t *testing.T) {
	golden, err := filepath.Glob("testdata/kustomize-golden/*.yaml")
	if err != nil || len(golden) < 3 {
		t.Fatalf("golden files: %v %v", golden, err)
	}
	p := Pipeline{Renderer: HelmRenderer{}}
	for _, file := range golden {
		overlay := strings.TrimSuffix(filepath.Base(file), ".yaml")
		t.Run(overlay, func(t *testing.T) {
			want, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			gen, err := p.Generate(context.Background(), &Config{}, DiskRepo("testdata/repo"), "kustomize/overlays/"+overlay)
			if err != nil {
				t.Fatal(err)
			}
			if got := strings.Join(gen.Output.Manifests, "---\n"); got != string(want) {
				t.Errorf("build differs from the kustomize program's\n got:\n%s\nwant:\n%s", got, want)
			}
		})
	}
}
