package plugin

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	cmpclient "github.com/argoproj/argo-cd/v3/cmpserver/apiclient"
	"github.com/argoproj/argo-cd/v3/pkg/apis/application/v1alpha1"
	argocmp "github.com/argoproj/argo-cd/v3/util/cmp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"sigs.k8s.io/yaml"

	"github.com/argocd-image-resolver/argocd-image-resolver/cmp"
	"github.com/argocd-image-resolver/argocd-image-resolver/render"
	"github.com/argocd-image-resolver/argocd-image-resolver/resolve"
	"github.com/argocd-image-resolver/argocd-image-resolver/test/harness"
	"github.com/argocd-image-resolver/argocd-image-resolver/test/registrytest"
	"github.com/argocd-image-resolver/argocd-image-resolver/worker"
)

// genRegistry starts a loopback registry holding acme/web with tags.
func genRegistry(t *testing.T, tags ...string) string {
	t.Helper()
	reg := registrytest.New(t)
	reg.PushTags(t, "acme/web", tags...)
	return reg.Host()
}

// unsetArgoEnv removes the environment Argo CD gives a plugin, for
// generate run as on a laptop (restored after the test).
func unsetArgoEnv(t *testing.T) {
	for _, k := range []string{"ARGOCD_APP_PARAMETERS", "ARGOCD_APP_NAME", "ARGOCD_APP_NAMESPACE", "ARGOCD_ENV_IMAGE_LIST", "ARGOCD_APP_SOURCE_PATH"} {
		t.Setenv(k, "")
		os.Unsetenv(k)
	}
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
	harness.WriteTree(t, root, files)
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

// TestGenerateApp: `generate --app` reads an Application manifest and, with
// the current directory as the repository root, renders exactly what the
// plugin answers the repo-server for that Application over the socket.
func TestGenerateApp(t *testing.T) {
	host := genRegistry(t, "1.6.0", "1.6.3", "1.7.0")
	root := genChart(t)
	app := `apiVersion: argoproj.io/v1alpha1
kind: Application
metadata:
  name: shop
  namespace: team-a
spec:
  project: retail
  source:
    repoURL: https://git.example/acme/deploy.git
    targetRevision: main
    path: apps/web
    plugin:
      name: image-resolver
      env:
        - name: IMAGE_LIST
          value: ignored=` + host + `/acme/other
      parameters:
        - name: images
          array: ["web=` + host + `/acme/web:~1.6"]
        - name: image-options
          map:
            web.helm.image-name: image.repository
        - name: value-files
          array: [../../env/prod.yaml]
        - name: values
          string: "replicas: 7\n"
  destination:
    server: https://kubernetes.default.svc
    namespace: shop-prod
`
	if err := os.WriteFile(filepath.Join(root, "app.yaml"), []byte(app), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Chdir(root)
	t.Setenv("KUBE_VERSION", "1.31.0")
	stdout, stderr, err := runRoot(t, "generate", "--app", "app.yaml", "--log-format", "text")
	if err != nil {
		t.Fatalf("generate --app: %v\n%s", err, stderr)
	}
	for _, want := range []string{`image: "` + host + `/acme/web:1.6.3"`, "name: shop\n", "namespace: shop-prod", "replicas: 7", `kube: "v1.31.0"`} {
		if !strings.Contains(stdout, want) {
			t.Errorf("missing %q in:\n%s", want, stdout)
		}
	}

	// The same Application through the socket, with the env the
	// repo-server builds for it (Argo CD's own parameter encoding).
	var src v1alpha1.Application
	if err := yaml.UnmarshalStrict([]byte(app), &src); err != nil {
		t.Fatal(err)
	}
	params, err := src.Spec.Source.Plugin.Parameters.Environ()
	if err != nil {
		t.Fatal(err)
	}
	env := append(params,
		"ARGOCD_APP_NAME=team-a_shop", "ARGOCD_APP_NAMESPACE=shop-prod", "ARGOCD_APP_PROJECT_NAME=retail",
		"ARGOCD_APP_SOURCE_REPO_URL=https://git.example/acme/deploy.git", "ARGOCD_APP_SOURCE_PATH=apps/web",
		"ARGOCD_APP_SOURCE_TARGET_REVISION=main", "ARGOCD_ENV_IMAGE_LIST=ignored="+host+"/acme/other",
		"KUBE_VERSION=1.31.0")
	viaSocket := renderViaSocket(t, root, "apps/web", env)
	if got := strings.Join(splitDocs(stdout), ""); got != strings.Join(viaSocket, "") {
		t.Errorf("generate --app differs from the socket render:\n--- generate --app\n%s\n--- socket\n%s", got, strings.Join(viaSocket, ""))
	}
}

// TestGenerateAppErrors: an --app manifest that is not a plugin
// Application says so.
func TestGenerateAppErrors(t *testing.T) {
	root := genChart(t)
	t.Chdir(root)
	write := func(name, body string) string {
		if err := os.WriteFile(filepath.Join(root, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return name
	}
	helmApp := write("helm.yaml", "apiVersion: argoproj.io/v1alpha1\nkind: Application\nmetadata: {name: x}\nspec:\n  source: {repoURL: r, path: apps/web, helm: {}}\n  destination: {namespace: x}\n")
	otherPlugin := write("other.yaml", "apiVersion: argoproj.io/v1alpha1\nkind: Application\nmetadata: {name: x}\nspec:\n  source: {repoURL: r, path: apps/web, plugin: {name: kustomize-plus}}\n  destination: {namespace: x}\n")
	notApp := write("cm.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n")
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"generate", "--app", helmApp}, "no source uses the image-resolver plugin"},
		{[]string{"generate", "--app", otherPlugin}, `plugin "kustomize-plus"`},
		{[]string{"generate", "--app", notApp}, "is a ConfigMap, not an Application"},
		{[]string{"generate", "--app", "missing.yaml"}, "missing.yaml"},
		{[]string{"generate", "--app", helmApp, "apps/web"}, "--app renders the Application's own path"},
	}
	for _, tc := range cases {
		_, _, err := runRoot(t, tc.args...)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: %v, want %q", tc.args, err, tc.want)
		}
	}
}

// TestGenerateHelmSourceFlags: values, skip-crds and
// ignore-missing-value-files have flags like the other parameters.
func TestGenerateHelmSourceFlags(t *testing.T) {
	host := genRegistry(t, "1.0.0")
	root := genChart(t)
	if err := os.MkdirAll(filepath.Join(root, "apps/web/crds"), 0o755); err != nil {
		t.Fatal(err)
	}
	crd := "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata:\n  name: widgets.example.com\n"
	if err := os.WriteFile(filepath.Join(root, "apps/web/crds/widgets.yaml"), []byte(crd), 0o644); err != nil {
		t.Fatal(err)
	}
	base := []string{"generate", filepath.Join(root, "apps/web"), "--image", "web=" + host + "/acme/web", "--option", "web.helm.image-name=image.repository"}
	stdout, _, err := runRoot(t, append(base, "--inline-values", "replicas: 4")...)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(stdout, "replicas: 4") || !strings.Contains(stdout, "CustomResourceDefinition") {
		t.Errorf("--inline-values not applied, or CRDs left out:\n%s", stdout)
	}
	stdout, _, err = runRoot(t, append(base, "--skip-crds")...)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(stdout, "CustomResourceDefinition") {
		t.Errorf("--skip-crds rendered the CRD:\n%s", stdout)
	}
	if _, _, err := runRoot(t, append(base, "-f", filepath.Join(root, "absent.yaml"))...); err == nil {
		t.Error("a missing value file was accepted")
	}
	if _, _, err := runRoot(t, append(base, "-f", filepath.Join(root, "absent.yaml"), "--ignore-missing-value-files")...); err != nil {
		t.Errorf("--ignore-missing-value-files: %v", err)
	}
}

// renderViaSocket sends root (app at appPath) to a CMP server over its unix
// socket with Argo CD's own stream sender, as argocd-repo-server does.
func renderViaSocket(t *testing.T, root, appPath string, env []string) []string {
	t.Helper()
	resolver, err := resolve.New(resolve.WithInsecure())
	if err != nil {
		t.Fatal(err)
	}
	sockDir, err := os.MkdirTemp("", "gen")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(sockDir) })
	srv, err := cmp.New(resolver, cmp.WithSocketDir(sockDir), cmp.WithWorkDir(t.TempDir()), cmp.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	if err := srv.Listen(); err != nil {
		t.Fatal(err)
	}
	go func() { served <- srv.Serve(ctx) }()
	t.Cleanup(func() { cancel(); <-served })
	conn, err := grpc.NewClient("unix://"+srv.SocketPath(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	stream, err := cmpclient.NewConfigManagementPluginServiceClient(conn).GenerateManifest(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := argocmp.SendRepoStream(ctx, filepath.Join(root, appPath), root, stream, env, nil); err != nil {
		t.Fatal(err)
	}
	resp, err := stream.CloseAndRecv()
	if err != nil {
		t.Fatalf("socket render: %v", err)
	}
	return resp.GetManifests()
}

// splitDocs splits generate's YAML stream into the documents the socket
// answers with.
func splitDocs(stream string) []string { return render.SplitDocuments(stream) }

// TestGenerateKustomizeImageFields: generate builds a kustomization on a
// laptop as the sidecar does, and --image-fields writes the resolved image
// into a custom resource's declared field too (argocd-cmp-server runs
// generate, so it needs the flag serve has).
func TestGenerateKustomizeImageFields(t *testing.T) {
	host := genRegistry(t, "1.0.0", "2.1.0")
	unsetArgoEnv(t)
	root := t.TempDir()
	files := map[string]string{
		"app/kustomization.yaml": "resources: [deploy.yaml, widget.yaml]\nnamePrefix: lap-\n",
		"app/deploy.yaml":        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  template:\n    spec:\n      containers:\n        - name: web\n          image: acme/web:0.0.1\n",
		"app/widget.yaml":        "apiVersion: example.com/v1\nkind: Widget\nmetadata:\n  name: w\nspec:\n  runner:\n    image: " + host + "/acme/web:0.0.1\n",
		"fields.yaml":            "images:\n  - path: spec/runner/image\n    kind: Widget\n    group: example.com\n",
	}
	harness.WriteTree(t, root, files)
	run := func(extra ...string) string {
		cmd := NewRootCommand()
		var out, errOut bytes.Buffer
		cmd.SetOut(&out)
		cmd.SetErr(&errOut)
		cmd.SetArgs(append([]string{"generate", filepath.Join(root, "app"), "--image", "web=" + host + "/acme/web:^2", "--option", "web.kustomize.image-name=acme/web"}, extra...))
		if err := cmd.ExecuteContext(context.Background()); err != nil {
			t.Fatalf("generate %v: %v\n%s", extra, err, errOut.String())
		}
		return out.String()
	}
	text := run("--image-fields", filepath.Join(root, "fields.yaml"))
	if got := strings.Count(text, "image: "+host+"/acme/web:2.1.0"); got != 2 || !strings.Contains(text, "name: lap-web") {
		t.Errorf("want the Deployment and the Widget at 2.1.0:\n%s", text)
	}
	if text := run(); !strings.Contains(text, "image: "+host+"/acme/web:0.0.1") {
		t.Errorf("without --image-fields the Widget changed:\n%s", text)
	}
}

// TestGenerateKustomizeInAWorker: generate builds a kustomization in a
// render worker with a memory limit, so a kustomization that makes
// Kustomize build far more than it reads (a 200 KiB annotation on each of
// 400 ConfigMaps) stops at the limit instead of growing generate's own
// process.
func TestGenerateKustomizeInAWorker(t *testing.T) {
	unsetArgoEnv(t)
	root := t.TempDir()
	var cms strings.Builder
	for i := range 400 {
		fmt.Fprintf(&cms, "---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c%d\n", i)
	}
	files := map[string]string{
		"app/kustomization.yaml": "resources: [cms.yaml]\ncommonAnnotations:\n  a: " + strings.Repeat("x", 200<<10) + "\n",
		"app/cms.yaml":           cms.String(),
	}
	harness.WriteTree(t, root, files)
	cmd := NewRootCommand()
	cmd.SetOut(io.Discard)
	cmd.SetErr(io.Discard)
	cmd.SetArgs([]string{"generate", filepath.Join(root, "app"), "--render-memory-limit", strconv.Itoa(64 << 20)})
	err := cmd.ExecuteContext(context.Background())
	var over *worker.MemoryLimitError
	if !errors.As(err, &over) {
		t.Fatalf("err = %v, want the worker stopped at its memory limit", err)
	}
	t.Logf("stopped: %v", err)
}
