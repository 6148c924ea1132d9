package cmp

import (
	"encoding/json"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/argoproj/argo-cd/v3/pkg/apis/application/v1alpha1"
)

func TestLoadConfigFromArgoCDParameters(t *testing.T) {
	params := v1alpha1.ApplicationSourcePluginParameters{
		arrayParam("images", "web=ghcr.io/acme/web:~1.6", "worker=ghcr.io/acme/worker"),
		mapParam("image-options", map[string]string{
			"web.helm.image-tag": "web.image.tag",
			"argocd-image-updater.argoproj.io/worker.update-strategy": "newest-build",
		}),
		arrayParam("value-files", "values-prod.yaml", "secrets.yaml"),
		strParam("values", "replicas: 3\n"),
		mapParam("helm-parameters", map[string]string{"ingress.enabled": "true"}),
		mapParam("helm-string-parameters", map[string]string{"build": "0123"}),
		strParam("skip-crds", "true"),
		strParam("ignore-missing-value-files", "false"),
		strParam("image.web", "1.6.3"), // announced by the plugin; ignored
	}
	env := EnvFromList(pluginEnv(t, "team-a_web", params, "ARGOCD_APP_REVISION=abc123", "ARGOCD_ENV_IMAGE_LIST=ignored=ghcr.io/x/y"))
	dir := t.TempDir()
	cfg, err := LoadConfig(env, DiskRepo(dir), ".")
	if err != nil {
		t.Fatal(err)
	}
	want := &Config{
		App: App{Name: "web", Namespace: "team-a", Project: "default", RepoURL: "https://git.example/acme/deploy.git",
			Path: "apps/web", TargetRevision: "HEAD", Revision: "abc123", DestinationNamespace: "web-prod"},
		Images: []string{"web=ghcr.io/acme/web:~1.6", "worker=ghcr.io/acme/worker"},
		ImageOptions: map[string]string{
			"web.helm.image-tag": "web.image.tag",
			"argocd-image-updater.argoproj.io/worker.update-strategy": "newest-build",
		},
		ValueFiles:           []string{"values-prod.yaml", "secrets.yaml"},
		Values:               "replicas: 3\n",
		HelmParameters:       map[string]string{"ingress.enabled": "true"},
		HelmStringParameters: map[string]string{"build": "0123"},
		ReleaseName:          "web",
		SkipCRDs:             true,
		Namespace:            "web-prod",
		KubeVersion:          "1.31.2",
		APIVersions:          []string{"v1", "apps/v1"},
	}
	if !reflect.DeepEqual(cfg, want) {
		t.Errorf("config\n got %+v\nwant %+v", cfg, want)
	}
	specs, err := cfg.Specs()
	if err != nil {
		t.Fatal(err)
	}
	if len(specs) != 2 || specs[1].Options.Strategy != "newest-build" || specs[0].Options.HelmImageTag != "web.image.tag" {
		t.Errorf("specs %+v", specs)
	}
}

func TestAppFromEnv(t *testing.T) {
	cases := []struct {
		name, env string
		want      App
	}{
		{"control-plane namespace", "guestbook", App{Name: "guestbook"}},
		{"any namespace", "team-a_guestbook", App{Name: "guestbook", Namespace: "team-a"}},
		{"empty", "", App{}},
		{"no namespace before '_'", "_guestbook", App{Name: "_guestbook"}},
		{"no name after '_'", "team-a_", App{Name: "team-a_"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := AppFromEnv(Env{EnvAppName: tc.env}); got != tc.want {
				t.Errorf("got %+v want %+v", got, tc.want)
			}
		})
	}
}

// TestConfigPrecedence: parameters > ARGOCD_ENV_IMAGE_LIST > repo file.
func TestConfigPrecedence(t *testing.T) {
	file := `images: [web=file.example/web]
argocd-image-updater.argoproj.io/image-options: {web.pin: digest}
release-name: from-file
skip-crds: true
values: |
  a: 1
`
	cases := []struct {
		name        string
		params      v1alpha1.ApplicationSourcePluginParameters
		imageList   string
		wantImages  []string
		wantRelease string
		wantSkip    bool
	}{
		{"file only", nil, "", []string{"web=file.example/web"}, "from-file", true},
		{"env over file", nil, "web=env.example/web:^1, api=env.example/api", []string{"web=env.example/web:^1", "api=env.example/api"}, "from-file", true},
		{"parameters over env and file", v1alpha1.ApplicationSourcePluginParameters{
			arrayParam("images", "web=param.example/web"),
			strParam("release-name", "from-param"),
			strParam("skip-crds", "false"),
		}, "web=env.example/web", []string{"web=param.example/web"}, "from-param", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, RepoConfigFile), []byte(file), 0o600); err != nil {
				t.Fatal(err)
			}
			list := pluginEnv(t, "app", tc.params)
			if tc.imageList != "" {
				list = append(list, "ARGOCD_ENV_IMAGE_LIST="+tc.imageList)
			}
			cfg, err := LoadConfig(EnvFromList(list), DiskRepo(dir), ".")
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(cfg.Images, tc.wantImages) || cfg.ReleaseName != tc.wantRelease || cfg.SkipCRDs != tc.wantSkip {
				t.Errorf("images %q release %q skip %v", cfg.Images, cfg.ReleaseName, cfg.SkipCRDs)
			}
			if cfg.Values != "a: 1\n" || cfg.ImageOptions["web.pin"] != "digest" {
				t.Errorf("file values/options not used: %q %v", cfg.Values, cfg.ImageOptions)
			}
		})
	}
}

func TestConfigErrors(t *testing.T) {
	cases := []struct {
		name, params, file, want string
	}{
		{"not JSON", `{oops`, "", "ARGOCD_APP_PARAMETERS is not the JSON list"},
		{"array given as string", `[{"name":"images","string":"web=x/y"}]`, "", `parameter "images": must be an array`},
		{"map given as array", `[{"name":"image-options","array":["a"]}]`, "", `parameter "image-options": must be a map`},
		{"bad boolean", `[{"name":"skip-crds","string":"maybe"}]`, "", `parameter "skip-crds": want "true" or "false"`},
		{"unknown parameter", `[{"name":"imagse","array":[]}]`, "", `unknown parameter "imagse"`},
		{"unknown file key", ``, "imagse: [a]\n", `unknown field "imagse"`},
		{"file not a mapping", ``, "- a\n", "want a mapping of parameter names"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			if tc.file != "" {
				if err := os.WriteFile(filepath.Join(dir, RepoConfigFile), []byte(tc.file), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			_, err := LoadConfig(Env{EnvAppParameters: tc.params}, DiskRepo(dir), ".")
			var in *InputError
			if err == nil || !errorsAs(err, &in) {
				t.Fatalf("got %v, want an InputError", err)
			}
			mustContain(t, err.Error(), tc.want)
		})
	}
}

func TestPluginYAMLMatchesEmbeddedCopy(t *testing.T) {
	root, err := os.ReadFile("../plugin.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if string(root) != string(DefaultPluginYAML) {
		t.Fatal("plugin.yaml at the repository root and cmp/plugin.yaml differ; copy the root file over cmp/plugin.yaml")
	}
	cfg, err := ParsePluginConfig(root)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Metadata.Name != "image-resolver" || cfg.Spec.Version != "" || cfg.DiscoveryConfigured() ||
		!reflect.DeepEqual(cfg.Spec.Generate.Command, []string{"argocd-image-resolver", "generate"}) {
		t.Errorf("plugin.yaml: %+v", cfg)
	}
	for _, p := range cfg.Spec.Parameters.Static {
		kind, ok := parameterKinds[p.Name]
		if !ok {
			t.Errorf("announced parameter %q is not decoded", p.Name)
			continue
		}
		want := map[paramKind]string{kindString: "string", kindBool: "string", kindArray: "array", kindMap: "map"}[kind]
		if p.CollectionType != want || p.Title == "" || p.Tooltip == "" {
			t.Errorf("parameter %q: collectionType %q (want %q), title %q, tooltip %q", p.Name, p.CollectionType, want, p.Title, p.Tooltip)
		}
	}
	if len(cfg.Spec.Parameters.Static) != len(parameterKinds) {
		t.Errorf("%d parameters announced, %d decoded", len(cfg.Spec.Parameters.Static), len(parameterKinds))
	}
}

func TestGlobTree(t *testing.T) {
	dir := t.TempDir()
	for _, f := range []string{"Chart.yaml", "templates/deploy.yaml", "a/b/c/values.json"} {
		p := filepath.Join(dir, f)
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	cases := []struct {
		pattern string
		want    bool
	}{
		{"Chart.yaml", true},
		{"*.yaml", true},
		{"**/*.yaml", true},
		{"**/values.json", true},
		{"a/**/c/*.json", true},
		{"a/*/values.json", false},
		{"**/*.jsonnet", false},
		{"templates/**", true},
	}
	// The application at the root of the repository, and below it.
	for _, at := range []struct {
		fsys fs.FS
		app  string
	}{{os.DirFS(dir), "."}, {os.DirFS(filepath.Dir(dir)), filepath.Base(dir)}} {
		for _, tc := range cases {
			got, err := globTree(at.fsys, at.app, tc.pattern)
			if err != nil || got != tc.want {
				t.Errorf("globTree(%s, %q) = %v, %v; want %v", at.app, tc.pattern, got, err, tc.want)
			}
		}
	}
}

// TestEveryParameterDecodes: each parameter of plugin.yaml's kinds has a
// field in settings under its name (the decoding refuses names it does
// not know, so a parameter without a field fails here, not silently).
func TestEveryParameterDecodes(t *testing.T) {
	for name, kind := range parameterKinds {
		p := map[string]any{"name": name}
		switch kind {
		case kindArray:
			p["array"] = []string{"a"}
		case kindMap:
			p["map"] = map[string]string{"a": "b"}
		case kindBool:
			p["string"] = "true"
		default:
			p["string"] = "a"
		}
		raw, err := json.Marshal([]any{p})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := parseParameters(string(raw)); err != nil {
			t.Errorf("parameter %s: %v", name, err)
		}
	}
}
