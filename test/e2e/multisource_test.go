package e2e

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/argoproj/argo-cd/v3/pkg/apis/application/v1alpha1"
	"github.com/argoproj/argo-cd/v3/reposerver/apiclient"
	"github.com/argoproj/argo-cd/v3/util/argo"
	"sigs.k8s.io/yaml"

	"github.com/argocd-image-resolver/argocd-image-resolver/test/harness"
	"github.com/argocd-image-resolver/argocd-image-resolver/test/redistest"
	"github.com/argocd-image-resolver/argocd-image-resolver/test/registrytest"
)

// multiSourceExample is the documented multi-source Application: the
// example chart through the plugin beside a plain directory source.
const multiSourceExample = "examples/multi-source"

// TestRepoServerMultiSourceApplication renders a multi-source Application
// through each release's repo-server the way its application controller
// does: one GenerateManifest per source, each told that the Application
// has several sources and given the `ref` sources (computed with Argo CD's
// own GetRefSources). The Application is examples/multi-source, pointed at
// a local repository and the loopback registry, plus a `ref` source and a
// native Helm source whose value file comes through `$values`. The plugin
// source renders with the resolved image beside the directory source's
// manifests; the Helm source gets the `$values` file; a second plugin
// source resolves its own images; a plugin source that names a `$values`
// file fails with the error saying why.
func TestRepoServerMultiSourceApplication(t *testing.T) {
	harness.RequireBinary(t, "HELM_BIN") // the repo-server runs helm for the Helm source
	moduleRoot, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(filepath.Join(moduleRoot, multiSourceExample, "application.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var app v1alpha1.Application
	if err := yaml.UnmarshalStrict(data, &app); err != nil {
		t.Fatalf("%s/application.yaml is not an Application: %v", multiSourceExample, err)
	}
	if len(app.Spec.Sources) != 2 || app.Spec.Sources[0].Plugin == nil || app.Spec.Sources[1].Plugin != nil {
		t.Fatalf("%s/application.yaml: want a plugin source and a directory source, got %+v", multiSourceExample, app.Spec.Sources)
	}
	files := map[string]string{"envs/prod/web-values.yaml": "image:\n  tag: 1.5.0\nreplicaCount: 3\n"}
	entries, err := os.ReadDir(filepath.Join(moduleRoot, multiSourceExample, "config"))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		data, err := os.ReadFile(filepath.Join(moduleRoot, multiSourceExample, "config", e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		files[multiSourceExample+"/config/"+e.Name()] = string(data)
	}

	forEachArgoCD(t, func(t *testing.T, argoCD argoCD) {
		reg := registrytest.New(t)
		reg.PushTags(t, "acme/web", exampleTags...)
		srv := startServe(t)
		rs := startRepoServer(t, argoCD.bin, redistest.Start(t).Addr(), srv.sockDir)
		repoURL, chartPath := gitRepoWith(t, files)

		// The example, with its repository and registry made local; the
		// chart keeps its image.repository (ghcr.io/acme/web), only the
		// lookups go to the loopback registry.
		sources := make(v1alpha1.ApplicationSources, 0, 5)
		for _, s := range app.Spec.Sources {
			s.RepoURL, s.TargetRevision = repoURL, "HEAD"
			if s.Plugin != nil {
				p := *s.Plugin
				p.Name = srv.name
				p.Parameters = localImages(t, p.Parameters, reg.Host()+"/acme/")
				s.Plugin = &p
			}
			sources = append(sources, s)
		}
		sources = append(sources,
			v1alpha1.ApplicationSource{RepoURL: repoURL, TargetRevision: "HEAD", Ref: "values"},
			v1alpha1.ApplicationSource{RepoURL: repoURL, TargetRevision: "HEAD", Path: chartPath, Helm: &v1alpha1.ApplicationSourceHelm{
				ReleaseName: "web-helm",
				ValueFiles:  []string{"$values/envs/prod/web-values.yaml"},
			}},
			// A second plugin source with images of its own.
			v1alpha1.ApplicationSource{RepoURL: repoURL, TargetRevision: "HEAD", Path: chartPath, Plugin: &v1alpha1.ApplicationSourcePlugin{
				Name: srv.name,
				Parameters: v1alpha1.ApplicationSourcePluginParameters{
					{Name: "images", OptionalArray: &v1alpha1.OptionalArray{Array: []string{"web=" + reg.Host() + "/acme/web:~1.5"}}},
					{Name: "release-name", String_: ptr("web-legacy")},
				},
			}},
		)

		out := rs.generateSources(t, app.Name, app.Spec.Destination.Namespace, sources)
		assertImage(t, out[0], "ghcr.io/acme/web:1.6.3")
		if kinds := manifestKinds(t, out[1]); len(kinds) != 1 || kinds[0] != "ConfigMap/web-settings" {
			t.Errorf("directory source rendered %v, want [ConfigMap/web-settings]\n%s", kinds, dump(out[1]))
		}
		if len(out[2]) != 0 {
			t.Errorf("ref-only source rendered manifests:\n%s", dump(out[2]))
		}
		// Helm got the ref source's value file (tag 1.5.0, three replicas).
		assertImage(t, out[3], "ghcr.io/acme/web:1.5.0")
		if !strings.Contains(strings.Join(out[3], "\n"), `"replicas":3`) {
			t.Errorf("Helm source did not apply $values/envs/prod/web-values.yaml:\n%s", dump(out[3]))
		}
		assertImage(t, out[4], "ghcr.io/acme/web:1.5.0")

		// The same value file named in the plugin source: Argo CD passes
		// it through unresolved, and the plugin says so.
		plugin := sources[0]
		p := *plugin.Plugin
		p.Parameters = append(append(v1alpha1.ApplicationSourcePluginParameters{}, p.Parameters...),
			v1alpha1.ApplicationSourcePluginParameter{Name: "value-files", OptionalArray: &v1alpha1.OptionalArray{Array: []string{"$values/envs/prod/web-values.yaml"}}})
		plugin.Plugin = &p
		_, err := rs.generateManifest(t, multiSourceRequest(t, app.Name, app.Spec.Destination.Namespace, sources, plugin))
		t.Logf("plugin source with a $values value file fails with: %v", err)
		if err == nil || !strings.Contains(err.Error(), "names the ref source $values of a multi-source Application") {
			t.Errorf("plugin source with a $values value file: got %v, want the plugin's $ref explanation", err)
		}
	})
}

// generateSources asks the repo-server for the manifests of every source
// of a multi-source Application, in order.
func (r *repoServer) generateSources(t *testing.T, appName, namespace string, sources v1alpha1.ApplicationSources) [][]string {
	t.Helper()
	out := make([][]string, len(sources))
	for i, s := range sources {
		resp, err := r.generateManifest(t, multiSourceRequest(t, appName, namespace, sources, s))
		if err != nil {
			t.Fatalf("argocd-repo-server %s GenerateManifest for source %d of %d: %v", r.argo.version, i+1, len(sources), err)
		}
		out[i] = resp.GetManifests()
	}
	return out
}

// multiSourceRequest is the request the application controller sends for
// one source of a multi-source Application.
func multiSourceRequest(t *testing.T, appName, namespace string, sources v1alpha1.ApplicationSources, source v1alpha1.ApplicationSource) *apiclient.ManifestRequest {
	t.Helper()
	refs, err := argo.GetRefSources(context.Background(), sources, "default",
		func(_ context.Context, url, _ string) (*v1alpha1.Repository, error) {
			return &v1alpha1.Repository{Repo: url}, nil
		}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return &apiclient.ManifestRequest{
		Repo:               &v1alpha1.Repository{Repo: source.RepoURL},
		Revision:           source.TargetRevision,
		NoCache:            true,
		AppLabelKey:        "app.kubernetes.io/instance",
		AppName:            appName,
		Namespace:          namespace,
		ProjectName:        "default",
		ProjectSourceRepos: []string{"*"},
		ApplicationSource:  &source,
		HasMultipleSources: true,
		RefSources:         refs,
		ApiVersions:        []string{"v1", "apps/v1", "networking.k8s.io/v1"},
	}
}

// localImages points the plugin's image specs at the loopback registry.
func localImages(t *testing.T, params v1alpha1.ApplicationSourcePluginParameters, prefix string) v1alpha1.ApplicationSourcePluginParameters {
	t.Helper()
	out := make(v1alpha1.ApplicationSourcePluginParameters, 0, len(params))
	found := false
	for _, p := range params {
		if p.Name == "images" && p.OptionalArray != nil {
			images := make([]string, len(p.Array))
			for i, img := range p.Array {
				images[i] = strings.Replace(img, "ghcr.io/acme/", prefix, 1)
			}
			p.OptionalArray = &v1alpha1.OptionalArray{Array: images}
			found = true
		}
		out = append(out, p)
	}
	if !found {
		t.Fatal("the plugin source has no images parameter")
	}
	return out
}

func ptr[T any](v T) *T { return &v }

// manifestKinds lists "<kind>/<name>" of JSON manifests.
func manifestKinds(t *testing.T, manifests []string) []string {
	t.Helper()
	var out []string
	for _, m := range manifests {
		var obj struct {
			Kind     string `json:"kind"`
			Metadata struct {
				Name string `json:"name"`
			} `json:"metadata"`
		}
		if err := json.Unmarshal([]byte(m), &obj); err != nil {
			t.Fatalf("manifest is not JSON: %v\n%s", err, m)
		}
		out = append(out, obj.Kind+"/"+obj.Metadata.Name)
	}
	return out
}
