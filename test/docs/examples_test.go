package docs

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/argoproj/argo-cd/v3/pkg/apis/application/v1alpha1"
	"sigs.k8s.io/yaml"

	"github.com/argocd-image-resolver/argocd-image-resolver/cmp"
	"github.com/argocd-image-resolver/argocd-image-resolver/resolve"
)

// TestExampleApplicationsRender sends every Application in
// examples/applications through the plugin's real pipeline (parameters as
// Argo CD encodes them, loopback registry, in-process Helm) and checks the
// image line each one is documented to produce.
func TestExampleApplicationsRender(t *testing.T) {
	fx := newRegistryFixture(t)
	day := time.Date(2024, time.July, 1, 0, 0, 0, 0, time.UTC)
	fx.push(t, "acme/api:2.0.0", day, "linux/amd64")
	fx.push(t, "acme/api:2.1.0", day, "linux/amd64")
	fx.push(t, "acme/web:main", day, "linux/amd64")
	host := fx.host + "/acme/"

	// The charts keep their own repository value (ghcr.io/acme/...); only
	// the lookups go to the loopback registry.
	const repo = exampleRegistryPrefix
	want := map[string][]string{
		"web.yaml":             {repo + "web:1.6.3"},
		"web-digest.yaml":      {repo + "web@sha256:"},
		"web-tag-digest.yaml":  {repo + "web:1.6.3@sha256:"},
		"web-follow-main.yaml": {repo + "web@sha256:"},
		"web-rollback.yaml":    {repo + "web:1.6.0"},
		"umbrella.yaml":        {repo + "web:1.6.3", repo + "api:2.1.0"},
	}
	root := repoRoot(t)
	files, err := filepath.Glob(filepath.Join(root, "examples", "applications", "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != len(want) {
		t.Fatalf("examples/applications holds %d files, this test knows %d: add the new example here", len(files), len(want))
	}
	resolver, err := resolve.New(resolve.WithInsecure())
	if err != nil {
		t.Fatal(err)
	}
	pipeline := cmp.Pipeline{Resolver: resolver, Renderer: cmp.HelmRenderer{}}
	plugin := loadPluginYAML(t)
	for _, file := range files {
		base := filepath.Base(file)
		t.Run(base, func(t *testing.T) {
			images, ok := want[base]
			if !ok {
				t.Fatalf("no expectation for %s", base)
			}
			data, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			var app v1alpha1.Application
			if err := yaml.UnmarshalStrict(data, &app); err != nil {
				t.Fatalf("%s is not a valid Application: %v", base, err)
			}
			src := app.Spec.Source
			if src == nil || src.Plugin == nil {
				t.Fatalf("%s does not use a plugin source", base)
			}
			if src.Plugin.Name != plugin.Metadata.Name+"-"+plugin.Spec.Version && src.Plugin.Name != plugin.Metadata.Name {
				t.Fatalf("%s names plugin %q, plugin.yaml serves %q", base, src.Plugin.Name, plugin.Metadata.Name)
			}
			params, err := src.Plugin.Parameters.Environ()
			if err != nil {
				t.Fatal(err)
			}
			env := cmp.EnvFromList(append(params, "ARGOCD_APP_NAME="+app.Name, "ARGOCD_APP_NAMESPACE="+app.Spec.Destination.Namespace, "KUBE_VERSION=1.34"))
			cfg, err := cmp.LoadConfig(env, cmp.DiskRepo(root), src.Path)
			if err != nil {
				t.Fatal(err)
			}
			for i, img := range cfg.Images {
				cfg.Images[i] = strings.Replace(img, exampleRegistryPrefix, host, 1)
			}
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			gen, err := pipeline.Generate(ctx, cfg, cmp.DiskRepo(root), src.Path)
			if err != nil {
				t.Fatalf("%s: %v", base, err)
			}
			out := strings.Join(gen.Output.Manifests, "\n---\n")
			for _, image := range images {
				if !strings.Contains(out, "image: "+image) && !strings.Contains(out, `image: "`+image) {
					t.Errorf("%s: rendered manifests lack image %s:\n%s", base, image, out)
				}
			}
		})
	}
}
