// Package envtest runs the refresher against a real Kubernetes API server
// (kube-apiserver + etcd started by controller-runtime's envtest) with Argo
// CD's Application CRD, rendering through the real CMP server.
//
// The binaries come from KUBEBUILDER_ASSETS (`make kube-assets` builds
// kube-apiserver from k8s.io/kubernetes and links Debian's etcd into
// .cache/kube-<version>). Without it the test skips, unless E2E_REQUIRED=1
// (as in `make test`), where it fails.
package envtest

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/argoproj/argo-cd/v3/cmpserver/apiclient"
	"github.com/argoproj/argo-cd/v3/pkg/apis/application/v1alpha1"
	argocmp "github.com/argoproj/argo-cd/v3/util/cmp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/argocd-image-resolver/argocd-image-resolver/cmp"
	"github.com/argocd-image-resolver/argocd-image-resolver/ops"
	"github.com/argocd-image-resolver/argocd-image-resolver/refresh"
	"github.com/argocd-image-resolver/argocd-image-resolver/resolve"
	"github.com/argocd-image-resolver/argocd-image-resolver/test/clocktest"
	"github.com/argocd-image-resolver/argocd-image-resolver/test/harness"
	"github.com/argocd-image-resolver/argocd-image-resolver/test/registrytest"
)

const (
	pluginName = "image-resolver"
	interval   = time.Minute
	secret     = "envtest-webhook-secret"
)

func startAPIServer(t testing.TB) *envtest.Environment {
	t.Helper()
	assets := os.Getenv("KUBEBUILDER_ASSETS")
	if assets == "" {
		if os.Getenv("E2E_REQUIRED") == "1" {
			t.Fatal("KUBEBUILDER_ASSETS is not set: run `make kube-assets` (builds kube-apiserver, links etcd) and point it at .cache/kube-<version>")
		}
		t.Skip("KUBEBUILDER_ASSETS not set: skipping the real Kubernetes API test (run `make kube-assets`, or `make test`)")
	}
	for _, bin := range []string{"kube-apiserver", "etcd"} {
		if _, err := os.Stat(filepath.Join(assets, bin)); err != nil {
			t.Fatalf("KUBEBUILDER_ASSETS=%s lacks %s: run `make kube-assets`", assets, bin)
		}
	}
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "github.com/argoproj/argo-cd/v3").Output()
	if err != nil {
		t.Fatalf("locating the argo-cd module for its Application CRD: %v", err)
	}
	crd := filepath.Join(strings.TrimSpace(string(out)), "manifests", "crds", "application-crd.yaml")
	env := &envtest.Environment{
		BinaryAssetsDirectory: assets,
		CRDInstallOptions:     envtest.CRDInstallOptions{Paths: []string{crd}, ErrorIfPathMissing: true},
	}
	if _, err := env.Start(); err != nil {
		t.Fatalf("starting kube-apiserver and etcd from %s: %v", assets, err)
	}
	t.Cleanup(func() {
		if err := env.Stop(); err != nil {
			t.Errorf("stopping the control plane: %v", err)
		}
	})
	return env
}

// recorder adapts the tracker to the CMP server, as the plugin does.
type recorder struct{ t *refresh.Tracker }

func (r recorder) Record(a cmp.App, specs []resolve.Spec, results []resolve.Result) {
	r.t.Record(refresh.App{Name: a.Name, Namespace: a.Namespace, Project: a.Project, RepoURL: a.RepoURL, Path: a.Path}, specs, results)
}

type scenario struct {
	t        *testing.T
	apps     dynamic.NamespaceableResourceInterface
	regHost  string
	repoRoot string
	client   apiclient.ConfigManagementPluginServiceClient
}

func (s *scenario) push(tag string) {
	s.t.Helper()
	registrytest.Push(s.t, s.regHost+"/acme/web:"+tag)
}

func (s *scenario) createApp(ns, appName, plugin string) {
	s.t.Helper()
	source := map[string]any{"repoURL": "https://git.example.com/acme/deploy.git", "path": "apps/" + appName, "targetRevision": "main"}
	if plugin != "" {
		source["plugin"] = map[string]any{"name": plugin}
	}
	obj := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "argoproj.io/v1alpha1",
		"kind":       "Application",
		"metadata":   map[string]any{"name": appName, "namespace": ns},
		"spec": map[string]any{
			"project":     "default",
			"source":      source,
			"destination": map[string]any{"server": "https://kubernetes.default.svc", "namespace": appName},
		},
	}}
	if _, err := s.apps.Namespace(ns).Create(context.Background(), obj, metav1.CreateOptions{}); err != nil {
		s.t.Fatalf("create Application %s/%s: %v", ns, appName, err)
	}
}

// annotation returns the refresh annotation and the resourceVersion.
func (s *scenario) annotation(ns, appName string) (value string, present bool, rv string) {
	s.t.Helper()
	obj, err := s.apps.Namespace(ns).Get(context.Background(), appName, metav1.GetOptions{})
	if err != nil {
		s.t.Fatal(err)
	}
	value, present = obj.GetAnnotations()[refresh.RefreshAnnotation]
	return value, present, obj.GetResourceVersion()
}

// setAnnotation plays Argo CD's application controller: it removes the
// annotation once a refresh is done (value nil), or a user asking for a
// normal refresh.
func (s *scenario) setAnnotation(ns, appName string, value *string) {
	s.t.Helper()
	v := "null"
	if value != nil {
		v = `"` + *value + `"`
	}
	patch := []byte(`{"metadata":{"annotations":{"` + refresh.RefreshAnnotation + `":` + v + `}}}`)
	if _, err := s.apps.Namespace(ns).Patch(context.Background(), appName, types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
		s.t.Fatal(err)
	}
}

// render sends the app's chart through the CMP server the way
// argocd-repo-server does, and returns the manifests.
func (s *scenario) render() string {
	s.t.Helper()
	params := v1alpha1.ApplicationSourcePluginParameters{
		{Name: "images", OptionalArray: &v1alpha1.OptionalArray{Array: []string{"web=" + s.regHost + "/acme/web:^1.0"}}},
		{Name: "image-options", OptionalMap: &v1alpha1.OptionalMap{Map: map[string]string{"web.helm.image-name": "image.repository"}}},
	}
	env, err := params.Environ()
	if err != nil {
		s.t.Fatal(err)
	}
	env = append(env,
		"ARGOCD_APP_NAME=team-a_web",
		"ARGOCD_APP_NAMESPACE=web",
		"ARGOCD_APP_PROJECT_NAME=default",
		"ARGOCD_APP_SOURCE_REPO_URL=https://git.example.com/acme/deploy.git",
		"ARGOCD_APP_SOURCE_PATH=apps/web",
		"ARGOCD_APP_SOURCE_TARGET_REVISION=main",
		"KUBE_VERSION=1.37.2",
		"KUBE_API_VERSIONS=v1,apps/v1",
	)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	stream, err := s.client.GenerateManifest(ctx)
	if err != nil {
		s.t.Fatal(err)
	}
	if err := argocmp.SendRepoStream(ctx, filepath.Join(s.repoRoot, "apps/web"), s.repoRoot, stream, env, nil); err != nil {
		s.t.Fatalf("sending the repository: %v", err)
	}
	resp, err := stream.CloseAndRecv()
	if err != nil {
		s.t.Fatalf("render: %v", err)
	}
	return strings.Join(resp.GetManifests(), "\n---\n")
}

func writeChart(t *testing.T) string {
	t.Helper()
	root := t.TempDir()
	files := map[string]string{
		"apps/web/Chart.yaml":  "apiVersion: v2\nname: web\nversion: 0.1.0\n",
		"apps/web/values.yaml": "image:\n  repository: example/web\n  tag: 0.0.1\n",
		"apps/web/templates/deployment.yaml": `apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
        - name: web
          image: "{{ .Values.image.repository }}:{{ .Values.image.tag }}"
`,
	}
	harness.WriteTree(t, root, files)
	return root
}

func shortTempDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "rf")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

func TestRefresherAgainstKubernetesAPI(t *testing.T) {
	env := startAPIServer(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))

	core, err := kubernetes.NewForConfig(env.Config)
	if err != nil {
		t.Fatal(err)
	}
	for _, ns := range []string{"argocd", "team-a"} {
		if _, err := core.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	dyn, err := dynamic.NewForConfig(env.Config)
	if err != nil {
		t.Fatal(err)
	}

	s := &scenario{t: t, apps: dyn.Resource(refresh.ApplicationResource), regHost: registrytest.New(t).Host(), repoRoot: writeChart(t)}
	s.createApp("team-a", "web", pluginName)
	s.createApp("team-a", "untracked", pluginName)
	s.createApp("team-a", "plain", "")
	s.push("1.0.0")

	clock := clocktest.New(time.Now())
	resolver, err := resolve.New(resolve.WithClock(clock.Now), resolve.WithCacheTTL(interval/2), resolve.WithLogger(logger))
	if err != nil {
		t.Fatal(err)
	}
	tracker := refresh.NewTracker(refresh.WithTrackerClock(clock.Now), refresh.WithDefaultNamespace("argocd"))

	// The real CMP server, recording into the tracker as in the plugin.
	srv, err := cmp.New(resolver, cmp.WithSocketDir(shortTempDir(t)), cmp.WithWorkDir(t.TempDir()),
		cmp.WithLogger(logger), cmp.WithRecorder(recorder{tracker}))
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Listen(); err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ctx) }()
	defer func() { cancel(); <-served }()
	conn, err := grpc.NewClient("unix://"+srv.SocketPath(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	s.client = apiclient.NewConfigManagementPluginServiceClient(conn)

	attempts := make(chan refresh.Trigger, 16)
	kube := refresh.NewKubernetes(dyn)
	refresher := refresh.NewRefresher(tracker, resolver, kube,
		refresh.WithInterval(interval), refresh.WithClock(clock.Now), refresh.WithLogger(logger),
		refresh.WithAttemptHook(func(tr refresh.Trigger) { attempts <- tr }),
		refresh.WithStartupListing(kube, []string{pluginName}, 1000))
	drain := func() []refresh.Trigger {
		var out []refresh.Trigger
		for {
			select {
			case tr := <-attempts:
				out = append(out, tr)
			default:
				return out
			}
		}
	}

	// 1. A render records the app.
	if m := s.render(); !strings.Contains(m, s.regHost+"/acme/web:1.0.0") {
		t.Fatalf("first render:\n%s", m)
	}
	if !tracker.Tracked("team-a/web") {
		t.Fatalf("render not recorded; tracked: %v", tracker.Keys())
	}

	// 2. Nothing changed: no patch.
	clock.Advance(interval)
	if got := refresher.RunOnce(ctx); len(got) != 0 {
		t.Fatalf("nothing changed, yet: %+v", got)
	}
	if _, present, _ := s.annotation("team-a", "web"); present {
		t.Fatal("annotation set without a change")
	}

	// 3. A newer tag: after the interval the Application is hard-refreshed.
	s.push("1.1.0")
	clock.Advance(interval)
	got := refresher.RunOnce(ctx)
	if len(got) != 1 || got[0].Result != refresh.ResultTriggered || got[0].Changes[0].To != "1.1.0" {
		t.Fatalf("after push: %+v", got)
	}
	if v, _, _ := s.annotation("team-a", "web"); v != "hard" {
		t.Fatalf("annotation = %q, want hard", v)
	}
	drain()

	// 4. No second patch while an annotation is present (here a pending
	// normal refresh, so a patch would show as "hard").
	normal := "normal"
	s.setAnnotation("team-a", "web", &normal)
	_, _, rvBefore := s.annotation("team-a", "web")
	clock.Advance(interval)
	if got := refresher.RunOnce(ctx); len(got) != 1 || got[0].Result != refresh.ResultPending {
		t.Fatalf("while annotated: %+v", got)
	}
	if v, _, rv := s.annotation("team-a", "web"); v != "normal" || rv != rvBefore {
		t.Fatalf("patched while annotated: annotation %q, resourceVersion %s -> %s", v, rvBefore, rv)
	}

	// 5. Argo CD finishes: removes the annotation and renders again, which
	// records 1.1.0. Nothing differs any more: no patch.
	s.setAnnotation("team-a", "web", nil)
	if m := s.render(); !strings.Contains(m, s.regHost+"/acme/web:1.1.0") {
		t.Fatalf("re-render:\n%s", m)
	}
	clock.Advance(2 * interval)
	if got := refresher.RunOnce(ctx); len(got) != 0 {
		t.Fatalf("after re-render: %+v", got)
	}
	if _, present, _ := s.annotation("team-a", "web"); present {
		t.Fatal("annotation set although nothing changed")
	}
	drain()

	// 6. A webhook for the repository triggers at once: the running
	// refresher's ticker fires after one (real) minute, the test waits 20 s
	// at most, so only the wake-up can explain the patch.
	// Run starts its own start-up pass when one is configured; this runner
	// shares the tracker (and so the guards) but has none, so that step 7
	// sees the untracked app as it is.
	runner := refresh.NewRefresher(tracker, resolver, kube,
		refresh.WithInterval(interval), refresh.WithClock(clock.Now), refresh.WithLogger(logger),
		refresh.WithAttemptHook(func(tr refresh.Trigger) { attempts <- tr }))
	runCtx, stopRun := context.WithCancel(ctx)
	runDone := make(chan error, 1)
	go func() { runDone <- runner.Run(runCtx) }()
	wh, err := ops.NewWebhookHandler(resolver, runner, ops.WithWebhookSecret([]byte(secret)), ops.WithWebhookLogger(logger))
	if err != nil {
		t.Fatal(err)
	}
	hook := httptest.NewServer(ops.NewServiceHandler(nil, nil, wh))
	defer hook.Close()
	s.push("1.2.0")
	body := []byte(`{"repository":"` + s.regHost + `/acme/web","tag":"1.2.0"}`)
	req, _ := http.NewRequest(http.MethodPost, hook.URL+"/webhook?type=generic", bytes.NewReader(body))
	req.Header.Set(resolve.SignatureHeader, resolve.SignWebhook([]byte(secret), body))
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("webhook: %v %v", resp, err)
	}
	resp.Body.Close()
	select {
	case tr := <-attempts:
		if tr.Result != refresh.ResultTriggered || tr.App.Key() != "team-a/web" || tr.Changes[0].To != "1.2.0" {
			t.Fatalf("webhook attempt: %+v", tr)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("no refresh within 20 s of the webhook")
	}
	if v, _, _ := s.annotation("team-a", "web"); v != "hard" {
		t.Fatalf("annotation after webhook = %q, want hard", v)
	}
	stopRun()
	if err := <-runDone; err != nil {
		t.Fatal(err)
	}

	// 7. Start-up listing: the untracked plugin app is hard-refreshed, the
	// non-plugin app is left alone, the tracked one is not touched again.
	_, _, webRV := s.annotation("team-a", "web")
	started, err := refresher.Startup(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(started) != 1 || started[0].App.Key() != "team-a/untracked" || started[0].Result != refresh.ResultTriggered {
		t.Fatalf("start-up attempts: %+v", started)
	}
	if v, _, _ := s.annotation("team-a", "untracked"); v != "hard" {
		t.Fatalf("untracked plugin app annotation = %q, want hard", v)
	}
	if _, present, _ := s.annotation("team-a", "plain"); present {
		t.Fatal("non-plugin app was refreshed")
	}
	if _, _, rv := s.annotation("team-a", "web"); rv != webRV {
		t.Fatal("tracked app patched by the start-up pass")
	}

	// 8. A deleted Application is forgotten.
	if err := s.apps.Namespace("team-a").Delete(ctx, "web", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	s.push("1.3.0")
	clock.Advance(2 * interval)
	if got := refresher.RunOnce(ctx); len(got) != 1 || got[0].Result != refresh.ResultNotFound {
		t.Fatalf("deleted app: %+v", got)
	}
	if tracker.Tracked("team-a/web") {
		t.Fatal("deleted app still tracked")
	}
	var triggered int
	for _, h := range tracker.History() {
		if h.Result == refresh.ResultTriggered {
			triggered++
		}
	}
	if triggered != 3 {
		t.Fatalf("history holds %d triggers, want 3: %+v", triggered, tracker.History())
	}
}
