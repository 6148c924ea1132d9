package loop

import (
	"bytes"
	"context"
	"debug/buildinfo"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/argoproj/argo-cd/v3/pkg/apis/application/v1alpha1"
	appclientset "github.com/argoproj/argo-cd/v3/pkg/client/clientset/versioned"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/yaml"

	"github.com/argocd-image-resolver/argocd-image-resolver/cmp"
	"github.com/argocd-image-resolver/argocd-image-resolver/examples"
	"github.com/argocd-image-resolver/argocd-image-resolver/plugin"
	"github.com/argocd-image-resolver/argocd-image-resolver/test/harness"
	"github.com/argocd-image-resolver/argocd-image-resolver/test/redistest"
	"github.com/argocd-image-resolver/argocd-image-resolver/test/registrytest"
)

// argocdNamespace is Argo CD's namespace: Applications, the AppProject and
// the settings live there.
const argocdNamespace = "argocd"

// planeOptions are what differs between the tests' control plane and the
// benchmark's.
type planeOptions struct {
	// refreshInterval and cacheTTL are serve's --refresh-interval and
	// --cache-ttl.
	refreshInterval time.Duration
	cacheTTL        time.Duration
	// controllerArgs are added to argocd-application-controller's flags.
	controllerArgs []string
}

// plane is a running Argo CD control plane with our sidecar, a git
// repository and a registry.
type plane struct {
	opts       planeOptions
	argocd     string // the argo-cd module version of ARGOCD_BIN
	kubeconfig string
	kube       kubernetes.Interface
	argo       appclientset.Interface
	reg        *registry
	repoDir    string // the git working tree
	repoURL    string // file:// URL of repoDir
	serve      *servePlugin
	watch      *appWatch
	exampleApp []byte // examples/applications/web.yaml
}

// startPlane starts every component (see the package documentation for
// the flags and objects each one needs) and returns once the controller
// and the sidecar accept connections.
func startPlane(tb testing.TB, opts planeOptions) *plane {
	tb.Helper()
	argocdBin := harness.RequireBinary(tb, "ARGOCD_BIN")
	harness.RequireTool(tb, "redis-server", "install the Debian package redis-server")
	harness.RequireTool(tb, "git", "install git")
	version := argoCDVersion(tb, argocdBin)
	argoModule := argoCDModuleDir(tb)

	example, err := os.ReadFile(filepath.Join("..", "..", "examples", "applications", "web.yaml"))
	if err != nil {
		tb.Fatal(err)
	}
	p := &plane{opts: opts, argocd: version, exampleApp: example}

	env := startAPIServer(tb, argoModule)
	p.kubeconfig = writeKubeconfig(tb, env)
	cfg := *env.Config
	cfg.QPS, cfg.Burst = 200, 400
	p.kube = kubernetes.NewForConfigOrDie(&cfg)
	p.argo = appclientset.NewForConfigOrDie(&cfg)
	p.applySettings(tb, argoModule)

	redisAddr := redistest.Start(tb).Addr()
	p.reg = newRegistry(tb)
	p.repoDir, p.repoURL = gitRepo(tb)
	p.serve = startServe(tb, p.kubeconfig, redisAddr, opts)
	repoServer := startRepoServer(tb, argocdBin, redisAddr, p.serve.sockDir)
	startController(tb, argocdBin, p.kubeconfig, repoServer, redisAddr, opts.controllerArgs)
	p.watch = watchApps(tb, p.argo)
	return p
}

// argoCDVersion reads the argo-cd module version from the binary's build
// info: the loop runs Argo CD 3.x.
func argoCDVersion(tb testing.TB, bin string) string {
	tb.Helper()
	info, err := buildinfo.ReadFile(bin)
	if err != nil {
		tb.Fatalf("ARGOCD_BIN=%s: %v", bin, err)
	}
	for _, m := range append([]*debug.Module{&info.Main}, info.Deps...) {
		if m.Path == "github.com/argoproj/argo-cd/v3" {
			return m.Version
		}
	}
	tb.Fatalf("ARGOCD_BIN=%s was not built from the argo-cd v3 module", bin)
	return ""
}

// argoCDModuleDir is the argo-cd module's folder in the module cache,
// where its manifests (CRDs, settings objects) are.
func argoCDModuleDir(tb testing.TB) string {
	tb.Helper()
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "github.com/argoproj/argo-cd/v3").Output()
	if err != nil {
		tb.Fatalf("locating the argo-cd module for its manifests: %v", err)
	}
	return strings.TrimSpace(string(out))
}

// startAPIServer starts kube-apiserver and etcd with the Application and
// AppProject CRDs.
func startAPIServer(tb testing.TB, argoModule string) *envtest.Environment {
	tb.Helper()
	assets := os.Getenv("KUBEBUILDER_ASSETS")
	if assets == "" {
		if os.Getenv("E2E_REQUIRED") == "1" {
			tb.Fatal("KUBEBUILDER_ASSETS is not set: run `make kube-assets` and point it at .cache/kube-<version>")
		}
		tb.Skip("KUBEBUILDER_ASSETS not set: skipping the loop test (run `make kube-assets`, or `make test`)")
	}
	for _, bin := range []string{"kube-apiserver", "etcd"} {
		if _, err := os.Stat(filepath.Join(assets, bin)); err != nil {
			tb.Fatalf("KUBEBUILDER_ASSETS=%s lacks %s: run `make kube-assets`", assets, bin)
		}
	}
	// envtest logs through controller-runtime's logger, which otherwise
	// complains (with a stack) that none was set; a logger without a sink
	// discards.
	ctrllog.SetLogger(ctrllog.Log.WithSink(nil))
	crds := filepath.Join(argoModule, "manifests", "crds")
	env := &envtest.Environment{
		BinaryAssetsDirectory: assets,
		CRDInstallOptions: envtest.CRDInstallOptions{
			Paths:              []string{filepath.Join(crds, "application-crd.yaml"), filepath.Join(crds, "appproject-crd.yaml")},
			ErrorIfPathMissing: true,
		},
	}
	if _, err := env.Start(); err != nil {
		tb.Fatalf("starting kube-apiserver and etcd from %s: %v", assets, err)
	}
	tb.Cleanup(func() {
		if err := env.Stop(); err != nil {
			tb.Errorf("stopping the control plane: %v", err)
		}
	})
	return env
}

// writeKubeconfig writes a kubeconfig of a cluster-admin user for the
// controller and the sidecar.
func writeKubeconfig(tb testing.TB, env *envtest.Environment) string {
	tb.Helper()
	user, err := env.AddUser(envtest.User{Name: "loop-admin", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		tb.Fatal(err)
	}
	data, err := user.KubeConfig()
	if err != nil {
		tb.Fatal(err)
	}
	path := filepath.Join(tb.TempDir(), "kubeconfig")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		tb.Fatal(err)
	}
	return path
}

// applySettings creates the namespace argocd, the settings objects from
// the argo-cd module's manifests/base/config as they ship, and the
// AppProject default as argocd-server creates it at start-up (no
// argocd-server runs here).
func (p *plane) applySettings(tb testing.TB, argoModule string) {
	tb.Helper()
	ctx := context.Background()
	if _, err := p.kube.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: argocdNamespace}}, metav1.CreateOptions{}); err != nil {
		tb.Fatal(err)
	}
	config := filepath.Join(argoModule, "manifests", "base", "config")
	for _, name := range []string{"argocd-cm.yaml", "argocd-rbac-cm.yaml"} {
		var cm corev1.ConfigMap
		readManifest(tb, filepath.Join(config, name), &cm)
		if _, err := p.kube.CoreV1().ConfigMaps(argocdNamespace).Create(ctx, &cm, metav1.CreateOptions{}); err != nil {
			tb.Fatalf("create %s: %v", name, err)
		}
	}
	var secret corev1.Secret
	readManifest(tb, filepath.Join(config, "argocd-secret.yaml"), &secret)
	if _, err := p.kube.CoreV1().Secrets(argocdNamespace).Create(ctx, &secret, metav1.CreateOptions{}); err != nil {
		tb.Fatalf("create argocd-secret: %v", err)
	}
	project := &v1alpha1.AppProject{
		ObjectMeta: metav1.ObjectMeta{Name: "default", Namespace: argocdNamespace},
		Spec: v1alpha1.AppProjectSpec{
			SourceRepos:              []string{"*"},
			Destinations:             []v1alpha1.ApplicationDestination{{Server: "*", Namespace: "*"}},
			ClusterResourceWhitelist: []v1alpha1.ClusterResourceRestrictionItem{{Group: "*", Kind: "*"}},
		},
	}
	if _, err := p.argo.ArgoprojV1alpha1().AppProjects(argocdNamespace).Create(ctx, project, metav1.CreateOptions{}); err != nil {
		tb.Fatalf("create the AppProject default: %v", err)
	}
}

// readManifest decodes one YAML manifest into obj.
func readManifest(tb testing.TB, path string, obj any) {
	tb.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	if err := yaml.UnmarshalStrict(data, obj); err != nil {
		tb.Fatalf("%s: %v", path, err)
	}
}

// registry is the loopback registry with a switch that makes it answer
// 503 to everything (an outage), counting what it refuses.
type registry struct {
	*registrytest.Registry
	down    atomic.Bool
	refused atomic.Int64
}

func newRegistry(tb testing.TB) *registry {
	tb.Helper()
	r := &registry{}
	r.Registry = registrytest.New(tb, registrytest.WithHandler(func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
			if r.down.Load() {
				r.refused.Add(1)
				w.WriteHeader(http.StatusServiceUnavailable)
				return
			}
			next.ServeHTTP(w, req)
		})
	}))
	return r
}

// loopPod is added to the repository's copy of the example chart: Argo CD
// reports the images of live Pods in status.summary.images, and nothing
// makes Pods from the Deployment here (see the package documentation).
// The image expression is the Deployment's.
const loopPod = `# Added by test/loop: a bare Pod with the Deployment's image, because
# Argo CD's status.summary.images lists live Pods' images and no
# kube-controller-manager runs in the test to create the Deployment's Pods.
apiVersion: v1
kind: Pod
metadata:
  name: {{ include "web.fullname" . }}-pod
  labels:
    app.kubernetes.io/name: {{ include "web.fullname" . }}-pod
spec:
  containers:
    - name: web
      image: "{{ .Values.image.repository }}{{- if .Values.image.overrideTag }}:{{ .Values.image.overrideTag }}{{- else if .Values.image.shasum }}@{{ .Values.image.shasum }}{{- else }}:{{ .Values.image.tag | default .Chart.AppVersion }}{{- end }}"
`

// gitRepo commits the example chart (plus loopPod) under examples/web of
// a fresh repository on branch main and returns its folder and file://
// URL.
func gitRepo(tb testing.TB) (dir, url string) {
	tb.Helper()
	dir = filepath.Join(tb.TempDir(), "repo")
	chart, err := examples.WriteChart(filepath.Join(dir, "examples"))
	if err != nil {
		tb.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(chart, "templates", "loop-pod.yaml"), []byte(loopPod), 0o644); err != nil {
		tb.Fatal(err)
	}
	git(tb, dir, "init", "-q", "-b", "main")
	git(tb, dir, "add", ".")
	git(tb, dir, "commit", "-q", "-m", "example chart")
	return dir, "file://" + dir
}

// git runs git in dir and returns its trimmed output.
func git(tb testing.TB, dir string, args ...string) string {
	tb.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_CONFIG_NOSYSTEM=1", "HOME="+dir,
		"GIT_AUTHOR_NAME=loop", "GIT_AUTHOR_EMAIL=loop@example.invalid",
		"GIT_COMMITTER_NAME=loop", "GIT_COMMITTER_EMAIL=loop@example.invalid")
	out, err := cmd.CombinedOutput()
	if err != nil {
		tb.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

// gitState is what "nothing was committed" compares: the branch head and
// the number of commits in every ref.
func (p *plane) gitState(tb testing.TB) string {
	tb.Helper()
	return git(tb, p.repoDir, "rev-parse", "HEAD") + " commits=" + git(tb, p.repoDir, "rev-list", "--all", "--count")
}

// servePlugin is our `serve` command running in process.
type servePlugin struct {
	sockDir    string
	httpAddr   string
	secretFile string
	logs       *harness.SyncBuffer
}

// startServe runs `serve` in process as the repo-server's sidecar, with
// the Kubernetes refresh backend on the envtest apiserver and Argo CD's
// Redis, and waits until its socket and service port accept connections.
func startServe(tb testing.TB, kubeconfig, redisAddr string, opts planeOptions) *servePlugin {
	tb.Helper()
	s := &servePlugin{
		sockDir:    harness.ShortTempDir(tb, "lp"),
		httpAddr:   fmt.Sprintf("127.0.0.1:%d", harness.FreePort(tb)),
		secretFile: filepath.Join(tb.TempDir(), "webhook-secret"),
		logs:       &harness.SyncBuffer{},
	}
	if err := os.WriteFile(s.secretFile, []byte("loop-webhook-secret\n"), 0o600); err != nil {
		tb.Fatal(err)
	}
	root := plugin.NewRootCommand()
	root.SetArgs([]string{"serve",
		"--socket-dir", s.sockDir,
		"--work-dir", tb.TempDir(),
		"--http-addr", s.httpAddr,
		"--debug-addr", fmt.Sprintf("127.0.0.1:%d", harness.FreePort(tb)),
		"--webhook-secret-file", s.secretFile,
		"--refresh-backend", "kubernetes",
		"--kubeconfig", kubeconfig,
		"--control-plane-namespace", argocdNamespace,
		"--refresh-namespaces", argocdNamespace,
		"--refresh-interval", opts.refreshInterval.String(),
		"--cache-ttl", opts.cacheTTL.String(),
		"--redis", redisAddr,
		"--log-format", "text", "--log-level", "debug"})
	root.SetOut(s.logs)
	root.SetErr(s.logs)
	stopped := harness.RunInProcess(tb, "serve", root.ExecuteContext)
	tb.Cleanup(func() {
		if tb.Failed() {
			tb.Logf("--- serve output (last 32 KiB) ---\n%s", lastBytes(s.logs.String(), 32<<10))
		}
		// LOOP_SERVE_LOG=<file> keeps serve's whole log (debug level), to
		// follow the refresher's decisions in a benchmark.
		if path := os.Getenv("LOOP_SERVE_LOG"); path != "" {
			if err := os.WriteFile(path, []byte(s.logs.String()), 0o644); err != nil {
				tb.Errorf("LOOP_SERVE_LOG: %v", err)
			}
		}
	})
	pluginCfg, err := cmp.LoadPluginConfig("")
	if err != nil {
		tb.Fatal(err)
	}
	if name := pluginCfg.Metadata.Name; name != "image-resolver" {
		tb.Fatalf("plugin.yaml names the plugin %q; examples/applications/web.yaml uses image-resolver", name)
	}
	socket := filepath.Join(s.sockDir, pluginCfg.SocketName())
	harness.WaitFor(tb, "serve listening on "+socket+" and "+s.httpAddr, stopped, func() error {
		if err := harness.Dial("unix", socket); err != nil {
			return err
		}
		return harness.Dial("tcp", s.httpAddr)
	})
	return s
}

func lastBytes(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

// notify runs `notify` against the sidecar's webhook, as CI does after a
// push.
func (s *servePlugin) notify(tb testing.TB, repository, tag string) {
	tb.Helper()
	var out bytes.Buffer
	notify := plugin.NewRootCommand()
	notify.SetArgs([]string{"notify", "--url", "http://" + s.httpAddr,
		"--repository", repository, "--tag", tag, "--secret-file", s.secretFile})
	notify.SetOut(&out)
	notify.SetErr(&out)
	if err := notify.ExecuteContext(context.Background()); err != nil {
		tb.Fatalf("notify: %v\n%s", err, out.String())
	}
}

// metric returns the sum of the samples of a metric family on serve's
// /metrics whose line starts with prefix (name plus, optionally, the
// opening of its labels).
func (s *servePlugin) metric(tb testing.TB, prefix string) float64 {
	tb.Helper()
	resp, err := http.Get("http://" + s.httpAddr + "/metrics")
	if err != nil {
		tb.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		tb.Fatal(err)
	}
	var sum float64
	for _, line := range strings.Split(string(body), "\n") {
		if !strings.HasPrefix(line, prefix) {
			continue
		}
		fields := strings.Fields(line)
		v, err := strconv.ParseFloat(fields[len(fields)-1], 64)
		if err != nil {
			tb.Fatalf("metric line %q: %v", line, err)
		}
		sum += v
	}
	return sum
}

// startRepoServer runs argocd-repo-server without TLS, looking for plugin
// sockets in sockDir, and returns its address.
func startRepoServer(tb testing.TB, argocdBin, redisAddr, sockDir string) string {
	tb.Helper()
	home := tb.TempDir()
	binDir := filepath.Join(home, "bin")
	if err := os.MkdirAll(binDir, 0o755); err != nil {
		tb.Fatal(err)
	}
	// The repo-server runs this wrapper around `git verify-*`; GPG is off,
	// so a stub that succeeds is enough.
	if err := os.WriteFile(filepath.Join(binDir, "git-verify-wrapper.sh"), []byte("#!/bin/sh\nexit 0\n"), 0o755); err != nil {
		tb.Fatal(err)
	}
	port := strconv.Itoa(harness.FreePort(tb))
	cmd := exec.Command(argocdBin,
		"--redis", redisAddr,
		"--address", "127.0.0.1",
		"--port", port,
		"--metrics-port", strconv.Itoa(harness.FreePort(tb)),
		"--disable-tls",
		// v3 defaults --client-ca-path to a mounted Secret's path and
		// refuses it together with --disable-tls.
		"--client-ca-path", "",
		"--logformat", "text")
	cmd.Env = append(os.Environ(),
		"ARGOCD_BINARY_NAME=argocd-repo-server",
		"ARGOCD_GPG_ENABLED=false",
		"ARGOCD_PLUGINSOCKFILEPATH="+sockDir,
		"PATH="+binDir+string(os.PathListSeparator)+os.Getenv("PATH"),
		"HOME="+home,
		"TMPDIR="+tb.TempDir(),
		"GIT_CONFIG_NOSYSTEM=1",
	)
	p := harness.StartProcess(tb, "argocd-repo-server", cmd)
	addr := "127.0.0.1:" + port
	p.WaitListening(tb, "tcp", addr)
	return addr
}

// startController runs argocd-application-controller on the envtest
// apiserver, which is also its in-cluster destination
// (ARGOCD_FAKE_IN_CLUSTER), and waits for its metrics port.
func startController(tb testing.TB, argocdBin, kubeconfig, repoServer, redisAddr string, extra []string) {
	tb.Helper()
	home := tb.TempDir()
	metrics := strconv.Itoa(harness.FreePort(tb))
	args := append([]string{
		"--kubeconfig", kubeconfig,
		"--namespace", argocdNamespace,
		"--repo-server", repoServer,
		"--repo-server-plaintext",
		"--redis", redisAddr,
		"--metrics-port", metrics,
		"--logformat", "text",
	}, extra...)
	cmd := exec.Command(argocdBin, args...)
	cmd.Env = append(os.Environ(),
		"ARGOCD_BINARY_NAME=argocd-application-controller",
		"ARGOCD_FAKE_IN_CLUSTER=true",
		"KUBECONFIG="+kubeconfig,
		"HOME="+home,
		"TMPDIR="+tb.TempDir(),
	)
	p := harness.StartProcess(tb, "argocd-application-controller", cmd)
	p.WaitListening(tb, "tcp", "127.0.0.1:"+metrics)
}

// newApp is examples/applications/web.yaml pointed at the local
// repository and the loopback registry: Application name in argocd,
// destination namespace name, images web=<registry>/<repo>:~1.6, the
// chart's image.repository set to the registry's repository, plus
// options.
func (p *plane) newApp(tb testing.TB, name, repo string, options map[string]string) *v1alpha1.Application {
	tb.Helper()
	var app v1alpha1.Application
	if err := yaml.UnmarshalStrict(p.exampleApp, &app); err != nil {
		tb.Fatalf("examples/applications/web.yaml: %v", err)
	}
	app.Name = name
	app.Namespace = argocdNamespace
	src := app.Spec.Source
	if src == nil || src.Plugin == nil || src.Plugin.Name != "image-resolver" || app.Spec.SyncPolicy == nil || !app.Spec.SyncPolicy.Automated.GetSelfHeal() {
		tb.Fatalf("examples/applications/web.yaml is no longer an auto-synced, self-healing image-resolver Application: %+v", app.Spec)
	}
	src.RepoURL = p.repoURL
	src.TargetRevision = "main"
	src.Path = "examples/web"
	opts := map[string]string{"web.helm.image-name": "image.repository"}
	for k, v := range options {
		opts[k] = v
	}
	var params v1alpha1.ApplicationSourcePluginParameters
	for _, prm := range src.Plugin.Parameters {
		switch prm.Name {
		case "images":
			prm.OptionalArray = &v1alpha1.OptionalArray{Array: []string{"web=" + p.image(repo) + ":~1.6"}}
		case "image-options":
			for k, v := range prm.OptionalMap.Map {
				if _, set := opts[k]; !set {
					opts[k] = v
				}
			}
			prm.OptionalMap = &v1alpha1.OptionalMap{Map: opts}
		}
		params = append(params, prm)
	}
	src.Plugin.Parameters = params
	app.Spec.Destination.Namespace = name
	return &app
}

// image is the registry's reference of repo ("acme/web").
func (p *plane) image(repo string) string { return p.reg.Host() + "/" + repo }

// createApp creates app in the apiserver.
func (p *plane) createApp(tb testing.TB, app *v1alpha1.Application) {
	tb.Helper()
	if _, err := p.argo.ArgoprojV1alpha1().Applications(argocdNamespace).Create(context.Background(), app, metav1.CreateOptions{}); err != nil {
		tb.Fatalf("create Application %s: %v", app.Name, err)
	}
}

// deploymentImage returns the image of the synced Deployment of app
// (namespace and release name are the Application's name).
func (p *plane) deploymentImage(tb testing.TB, app string) string {
	tb.Helper()
	d, err := p.kube.AppsV1().Deployments(app).Get(context.Background(), app, metav1.GetOptions{})
	if err != nil {
		tb.Fatalf("Deployment %s/%s: %v", app, app, err)
	}
	return containerImage(d)
}

func containerImage(d *appsv1.Deployment) string {
	var images []string
	for _, c := range d.Spec.Template.Spec.Containers {
		images = append(images, c.Image)
	}
	return strings.Join(images, ",")
}
