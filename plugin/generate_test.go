package plugin

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/argoproj/argo-cd/v3/pkg/apis/application/v1alpha1"

	"github.com/argocd-image-resolver/argocd-image-resolver/test/registrytest"
)

// genRegistry starts a loopback registry holding acme/web with tags.
func genRegistry(t *testing.T, tags ...string) string {
	t.Helper()
	reg := registrytest.New(t)
	reg.PushTags(t, "acme/web", tags...)
	return reg.Host()
}

// genChart writes a repository with a chart at apps/web and returns the
// repository root.
func genChart(t *testing.T) string {
	t.Helper()
	root := t.TempDir()
	files := map[string]string{
		"apps/web/Chart.yaml":  "apiVersion: v2\nname: web\nversion: 0.1.0\n",
		"apps/web/values.yaml": "image:\n  repository: example.invalid/web\n  tag: 0.0.1\nreplicas: 1\n",
		"apps/web/templates/deploy.yaml": `apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ .Release.Name }}
  namespace: {{ .Release.Namespace }}
spec:
  replicas: {{ .Values.replicas }}
  template:
    spec:
      containers:
        - name: web
          image: "{{ .Values.image.repository }}:{{ .Values.image.tag }}"
`,
		"apps/web/templates/cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-kube\ndata:\n  kube: {{ .Capabilities.KubeVersion.Version | quote }}\n",
		"env/prod.yaml":              "replicas: 5\n",
	}
	for p, body := range files {
		full := filepath.Join(root, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

// TestGenerateUnderCMPServerEnv runs `generate` the way argocd-cmp-server
// does: in the app directory, with Argo CD's environment.
func TestGenerateUnderCMPServerEnv(t *testing.T) {
	host := genRegistry(t, "1.6.0", "1.6.3", "1.7.0")
	root := genChart(t)
	tag := "image.tag"
	params := v1alpha1.ApplicationSourcePluginParameters{
		{Name: "images", OptionalArray: &v1alpha1.OptionalArray{Array: []string{"web=" + host + "/acme/web:~1.6"}}},
		{Name: "image-options", OptionalMap: &v1alpha1.OptionalMap{Map: map[string]string{"web.helm.image-name": "image.repository", "web.helm.image-tag": tag}}},
		{Name: "value-files", OptionalArray: &v1alpha1.OptionalArray{Array: []string{"../../env/prod.yaml"}}},
	}
	env, err := params.Environ()
	if err != nil {
		t.Fatal(err)
	}
	env = append(env,
		"ARGOCD_APP_NAME=team-a_shop",
		"ARGOCD_APP_NAMESPACE=shop-prod",
		"ARGOCD_APP_SOURCE_PATH=apps/web",
		"KUBE_VERSION=1.30.4",
		"KUBE_API_VERSIONS=v1,apps/v1",
	)
	var out, errOut bytes.Buffer
	err = runGenerate(context.Background(), &out, &errOut, env, filepath.Join(root, "apps/web"), &generateOptions{logFormat: "text", logLevel: "info"})
	if err != nil {
		t.Fatalf("generate: %v\n%s", err, errOut.String())
	}
	text := out.String()
	for _, want := range []string{
		"---\n",
		`image: "` + host + `/acme/web:1.6.3"`,
		"name: shop\n", // release name from ARGOCD_APP_NAME without "<ns>_"
		"namespace: shop-prod",
		"replicas: 5", // value file outside the app path, inside the repository
		`kube: "v1.30.4"`,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("missing %q in:\n%s", want, text)
		}
	}
	if strings.Count(text, "---\n") != 2 {
		t.Errorf("want 2 documents:\n%s", text)
	}
}

// TestGenerateLaptopFlags runs the command line with flags only.
func TestGenerateLaptopFlags(t *testing.T) {
	host := genRegistry(t, "1.0.0", "2.0.0", "2.1.0")
	root := genChart(t)
	valuesFile := filepath.Join(t.TempDir(), "extra.yaml")
	for _, k := range []string{"ARGOCD_APP_PARAMETERS", "ARGOCD_APP_NAME", "ARGOCD_APP_NAMESPACE", "ARGOCD_ENV_IMAGE_LIST", "KUBE_VERSION", "KUBE_API_VERSIONS", "ARGOCD_APP_SOURCE_PATH"} {
		t.Setenv(k, "")
		os.Unsetenv(k)
	}
	cmd := NewRootCommand()
	var out, errOut bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&errOut)
	cmd.SetArgs([]string{"generate", filepath.Join(root, "apps/web"),
		"--image", "web=" + host + "/acme/web:^2",
		"--option", "web.helm.image-name=image.repository",
		"--set", "replicas=3",
		"--release-name", "laptop",
		"--namespace", "dev",
		"--kube-version", "1.29.0",
		"--log-format", "text",
	})
	if err := cmd.ExecuteContext(context.Background()); err != nil {
		t.Fatalf("generate: %v\n%s", err, errOut.String())
	}
	text := out.String()
	for _, want := range []string{`image: "` + host + `/acme/web:2.1.0"`, "name: laptop\n", "namespace: dev", "replicas: 3", `kube: "v1.29.0"`} {
		if !strings.Contains(text, want) {
			t.Errorf("missing %q in:\n%s", want, text)
		}
	}
	if !strings.Contains(errOut.String(), "alias=web") {
		t.Errorf("no resolution line on stderr:\n%s", errOut.String())
	}

	// -f adds value files from inside or outside the repository.
	inRepo := filepath.Join(root, "env", "laptop.yaml")
	if err := os.WriteFile(inRepo, []byte("replicas: 9\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(valuesFile, []byte("image:\n  tag: ignored\nextra: 1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out.Reset()
	cmd = NewRootCommand()
	cmd.SetOut(&out)
	cmd.SetErr(io.Discard)
	cmd.SetArgs([]string{"generate", filepath.Join(root, "apps/web"), "--image", "web=" + host + "/acme/web:^1", "-f", valuesFile, "-f", inRepo, "--log-format", "json"})
	if err := cmd.ExecuteContext(context.Background()); err != nil {
		t.Fatalf("generate -f: %v", err)
	}
	if !strings.Contains(out.String(), "replicas: 9") || !strings.Contains(out.String(), "example.invalid/web:1.0.0") {
		t.Errorf("-f not applied:\n%s", out.String())
	}
}

func TestGenerateErrors(t *testing.T) {
	root := genChart(t)
	cases := []struct {
		name string
		env  []string
		opts generateOptions
		want string
	}{
		{"bad parameters", []string{"ARGOCD_APP_PARAMETERS=nope"}, generateOptions{}, "ARGOCD_APP_PARAMETERS is not the JSON list"},
		{"bad --set", nil, generateOptions{set: []string{"novalue"}}, `--set "novalue": want key=value`},
		{"bad log format", nil, generateOptions{logFormat: "xml"}, "--log-format"},
		{"bad spec", nil, generateOptions{images: []string{"web=Bad/Image"}}, `images[0] "web=Bad/Image"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			o := tc.opts
			if o.logLevel == "" {
				o.logLevel = "info"
			}
			err := runGenerate(context.Background(), io.Discard, io.Discard, tc.env, filepath.Join(root, "apps/web"), &o)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

func TestRepositoryRoot(t *testing.T) {
	root := genChart(t)
	app := filepath.Join(root, "apps", "web")
	if got := repositoryRoot(app, "apps/web"); got != root {
		t.Errorf("from ARGOCD_APP_SOURCE_PATH: %s, want %s", got, root)
	}
	if got := repositoryRoot(app, ""); got != app {
		t.Errorf("no hint, no .git: %s, want %s", got, app)
	}
	if err := os.Mkdir(filepath.Join(root, ".git"), 0o755); err != nil {
		t.Fatal(err)
	}
	if got := repositoryRoot(app, ""); got != root {
		t.Errorf("git work tree: %s, want %s", got, root)
	}
}
