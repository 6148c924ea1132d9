package docs

import (
	"context"
	"os"
	"path/filepath"
	"slices"
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
// Argo CD encodes them, loopback registry, in-process Helm, plain
// manifests and rewrite) and checks the image lines each one is documented
// to produce: every image it names is rendered, and no other image of
// ghcr.io/acme/ is (a container left at the chart's or the manifest's own
// tag fails).
func TestExampleApplicationsRender(t *testing.T) {
	fx := newRegistryFixture(t)
	day := time.Date(2024, time.July, 1, 0, 0, 0, 0, time.UTC)
	fx.push(t, "acme/api:2.0.0", day, "linux/amd64")
	fx.push(t, "acme/api:2.1.0", day, "linux/amd64")
	fx.push(t, "acme/web:main", day, "linux/amd64")

	// The examples keep their images (ghcr.io/acme/...); registries.conf
	// sends the lookups to the loopback registry, as a mirror's api_url.
	conf, err := resolve.ParseRegistriesConfig([]byte("registries:\n- name: ghcr\n  prefix: ghcr.io\n  api_url: http://" + fx.host + "\n"))
	if err != nil {
		t.Fatal(err)
	}
	// The images each example renders; one ending in "@sha256:" stands for
	// any digest.
	const repo = exampleRegistryPrefix
	want := map[string][]string{
		"web.yaml":             {repo + "web:1.6.3"},
		"web-digest.yaml":      {repo + "web@sha256:"},
		"web-tag-digest.yaml":  {repo + "web:1.6.3@sha256:"},
		"web-follow-main.yaml": {repo + "web@sha256:"},
		"web-rollback.yaml":    {repo + "web:1.6.0"},
		"umbrella.yaml":        {repo + "web:1.6.3", repo + "api:2.1.0"},
		"directory.yaml":       {repo + "web:1.6.3"},
		"vendor-rewrite.yaml":  {repo + "web:1.6.3"},
		"kustomize.yaml":       {repo + "web:1.6.3"},
	}
	root := repoRoot(t)
	files, err := filepath.Glob(filepath.Join(root, "examples", "applications", "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != len(want) {
		t.Fatalf("examples/applications holds %d files, this test knows %d: add the new example here", len(files), len(want))
	}
	resolver, err := resolve.New(resolve.WithRegistriesConfig(conf))
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
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			gen, err := pipeline.Generate(ctx, cfg, cmp.DiskRepo(root), src.Path)
			if err != nil {
				t.Fatalf("%s: %v", base, err)
			}
			out := strings.Join(gen.Output.Manifests, "\n---\n")
			rendered := imageFields(out)
			for _, image := range images {
				if !slices.ContainsFunc(rendered, func(r string) bool { return isImage(r, image) }) {
					t.Errorf("%s: rendered manifests lack image %s:\n%s", base, image, out)
				}
			}
			for _, r := range rendered {
				if strings.HasPrefix(r, repo) && !slices.ContainsFunc(images, func(image string) bool { return isImage(r, image) }) {
					t.Errorf("%s: rendered image %s, want only %q:\n%s", base, r, images, out)
				}
			}
		})
	}
}

// imageFields returns the values of the `image:` fields of YAML
// manifests, unquoted.
func imageFields(manifests string) []string {
	var out []string
	for _, line := range strings.Split(manifests, "\n") {
		line = strings.TrimPrefix(strings.TrimSpace(line), "- ")
		if rest, ok := strings.CutPrefix(line, "image:"); ok {
			out = append(out, strings.Trim(strings.TrimSpace(rest), `"'`))
		}
	}
	return out
}

// isImage reports whether the rendered image is want, where a want ending
// in "@sha256:" stands for any digest.
func isImage(rendered, want string) bool {
	if strings.HasSuffix(want, "@sha256:") {
		return strings.HasPrefix(rendered, want) && len(rendered) > len(want)
	}
	return rendered == want
}
