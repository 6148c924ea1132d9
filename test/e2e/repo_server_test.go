package e2e

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/argoproj/argo-cd/v3/pkg/apis/application/v1alpha1"
	"github.com/argoproj/argo-cd/v3/reposerver/apiclient"
	utiltls "github.com/argoproj/argo-cd/v3/util/tls"

	"github.com/argocd-image-resolver/argocd-image-resolver/cmp"
	"github.com/argocd-image-resolver/argocd-image-resolver/plugin"
	"github.com/argocd-image-resolver/argocd-image-resolver/test/harness"
	"github.com/argocd-image-resolver/argocd-image-resolver/test/redistest"
	"github.com/argocd-image-resolver/argocd-image-resolver/test/registrytest"
)

// exampleTags are the tags the loopback registry starts with; "~1.6"
// resolves to 1.6.3 among them.
var exampleTags = []string{"1.5.0", "1.6.0", "1.6.3", "1.7.0", "2.0.0-rc.1", "latest"}

// appParameters are the plugin parameters of the example Application,
// pointed at the loopback registry; the repository is written into
// image.repository so that the rendered image names the registry.
func appParameters(image string) v1alpha1.ApplicationSourcePluginParameters {
	return v1alpha1.ApplicationSourcePluginParameters{
		{Name: "images", OptionalArray: &v1alpha1.OptionalArray{Array: []string{"web=" + image + ":~1.6"}}},
		{Name: "image-options", OptionalMap: &v1alpha1.OptionalMap{Map: map[string]string{
			"web.helm.image-name": "image.repository",
		}}},
	}
}

// generate calls the repo-server's own GenerateManifest, as the
// application controller does for an Application whose source is the
// plugin, bypassing the repo-server's manifest cache.
func (r *repoServer) generate(t *testing.T, repoURL, path, pluginName string, params v1alpha1.ApplicationSourcePluginParameters) []string {
	t.Helper()
	resp, err := r.generateManifest(t, manifestRequest(repoURL, path, pluginName, params))
	if err != nil {
		t.Fatalf("argocd-repo-server %s GenerateManifest: %v", r.argo.version, err)
	}
	return resp.GetManifests()
}

// generateErr is generate for a render that must fail; it returns the
// error the repo-server reports.
func (r *repoServer) generateErr(t *testing.T, repoURL, path, pluginName string, params v1alpha1.ApplicationSourcePluginParameters) error {
	t.Helper()
	resp, err := r.generateManifest(t, manifestRequest(repoURL, path, pluginName, params))
	if err == nil {
		t.Fatalf("GenerateManifest succeeded, want an error:\n%s", dump(resp.GetManifests()))
	}
	return err
}

// generateManifest sends req with the cluster version this release's
// application controller would put in it.
func (r *repoServer) generateManifest(t *testing.T, req *apiclient.ManifestRequest) (*apiclient.ManifestResponse, error) {
	t.Helper()
	conn, client := r.client(t)
	defer func() { _ = conn.Close() }()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	req.KubeVersion = r.argo.kubeVersion()
	return client.GenerateManifest(ctx, req)
}

// appDetails calls the repo-server's GetAppDetails for the plugin source,
// as the API server does when the UI opens an Application's Parameters
// tab, and returns the plugin's parameter announcement.
func (r *repoServer) appDetails(t *testing.T, repoURL, path, pluginName string, params v1alpha1.ApplicationSourcePluginParameters) []*apiclient.ParameterAnnouncement {
	t.Helper()
	conn, client := r.client(t)
	defer func() { _ = conn.Close() }()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	req := manifestRequest(repoURL, path, pluginName, params)
	resp, err := client.GetAppDetails(ctx, &apiclient.RepoServerAppDetailsQuery{
		Repo:            req.Repo,
		Source:          req.ApplicationSource,
		AppName:         req.AppName,
		NoCache:         true,
		NoRevisionCache: true,
	})
	if err != nil {
		t.Fatalf("argocd-repo-server %s GetAppDetails: %v", r.argo.version, err)
	}
	if resp.GetPlugin() == nil {
		t.Fatalf("GetAppDetails of a plugin source answered without plugin details: type %q", resp.GetType())
	}
	return resp.GetPlugin().GetParametersAnnouncement()
}

func (r *repoServer) client(t *testing.T) (interface{ Close() error }, apiclient.RepoServerServiceClient) {
	t.Helper()
	conn, client, err := apiclient.NewRepoServerClientset(r.addr, 60, utiltls.Configuration{DisableTLS: true}).NewRepoServerClient()
	if err != nil {
		t.Fatalf("connect to argocd-repo-server at %s: %v", r.addr, err)
	}
	return conn, client
}

// manifestRequest is the request the application controller sends for the
// example Application.
func manifestRequest(repoURL, path, pluginName string, params v1alpha1.ApplicationSourcePluginParameters) *apiclient.ManifestRequest {
	return &apiclient.ManifestRequest{
		Repo:        &v1alpha1.Repository{Repo: repoURL},
		Revision:    "HEAD",
		NoCache:     true,
		AppLabelKey: "app.kubernetes.io/instance",
		AppName:     "web",
		Namespace:   "web",
		ProjectName: "default",
		ApplicationSource: &v1alpha1.ApplicationSource{
			RepoURL:        repoURL,
			Path:           path,
			TargetRevision: "HEAD",
			Plugin:         &v1alpha1.ApplicationSourcePlugin{Name: pluginName, Parameters: params},
		},
		// As a v3 controller sends it; repoServer.generateManifest puts in
		// the form of the release it talks to.
		KubeVersion: "v1.31.4",
		ApiVersions: []string{"v1", "apps/v1", "networking.k8s.io/v1"},
	}
}

// assertImage checks that the Deployment of the rendered example chart runs
// want and nothing else.
func assertImage(t *testing.T, manifests []string, want string) {
	t.Helper()
	got := containerImages(manifests)
	if len(got) != 1 || got[0] != want {
		t.Fatalf("container images %q, want [%q]\n%s", got, want, dump(manifests))
	}
}

// servePlugin is our `serve` command running in process.
type servePlugin struct {
	sockDir    string // the plugin socket folder, shared with the repo-server
	name       string // the plugin name Applications use
	httpAddr   string // webhook, metrics and health
	secretFile string // the webhook secret
}

// startServe runs `serve` in process with its socket in a fresh folder,
// plus any extra flags, and waits until the socket and the HTTP port
// accept connections.
func startServe(t *testing.T, extra ...string) *servePlugin {
	t.Helper()
	sockDir := harness.ShortTempDir(t, "cmp")
	secretFile := filepath.Join(t.TempDir(), "webhook-secret")
	if err := os.WriteFile(secretFile, []byte("e2e-webhook-secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	httpAddr := fmt.Sprintf("127.0.0.1:%d", harness.FreePort(t))
	logs := &harness.SyncBuffer{}
	root := plugin.NewRootCommand()
	root.SetArgs(append([]string{"serve",
		"--socket-dir", sockDir,
		"--work-dir", t.TempDir(),
		"--http-addr", httpAddr,
		"--debug-addr", fmt.Sprintf("127.0.0.1:%d", harness.FreePort(t)),
		"--webhook-secret-file", secretFile,
		"--refresh-backend", "none",
		"--log-format", "text", "--log-level", "debug"}, extra...))
	root.SetOut(logs)
	root.SetErr(logs)
	stopped := harness.RunInProcess(t, "serve", root.ExecuteContext)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("--- serve output ---\n%s", logs.String())
		}
	})

	pluginCfg, err := cmp.LoadPluginConfig("")
	if err != nil {
		t.Fatal(err)
	}
	socket := filepath.Join(sockDir, pluginCfg.SocketName())
	harness.WaitFor(t, "serve listening on "+socket+" and "+httpAddr, stopped, func() error {
		if err := harness.Dial("unix", socket); err != nil {
			return err
		}
		c, err := net.DialTimeout("tcp", httpAddr, time.Second)
		if err != nil {
			return err
		}
		return c.Close()
	})
	return &servePlugin{
		sockDir:    sockDir,
		name:       strings.TrimSuffix(pluginCfg.SocketName(), ".sock"),
		httpAddr:   httpAddr,
		secretFile: secretFile,
	}
}

// notify runs `notify` against the plugin's webhook, as CI does after a
// push.
func (s *servePlugin) notify(t *testing.T, repository, tag string) {
	t.Helper()
	var out bytes.Buffer
	notify := plugin.NewRootCommand()
	notify.SetArgs([]string{"notify", "--url", "http://" + s.httpAddr,
		"--repository", repository, "--tag", tag, "--secret-file", s.secretFile})
	notify.SetOut(&out)
	notify.SetErr(&out)
	if err := notify.ExecuteContext(context.Background()); err != nil {
		t.Fatalf("notify: %v\n%s", err, out.String())
	}
}

// TestRepoServerRendersThroughServe runs each Argo CD release's
// argocd-repo-server against our `serve` command (in process) and asks it
// for the manifests of the example Application: the rendered Deployment
// must run the tag the registry holds for "~1.6", and the Parameters tab
// (GetAppDetails) announces it. After a newer tag is pushed, the plugin's
// cache still answers (even though the repo-server is told NoCache) until
// CI calls `notify`, whose webhook invalidates the repository; the next
// render then shows the new tag. A failing resolution reaches the
// repo-server's caller with the alias, image and registry error.
func TestRepoServerRendersThroughServe(t *testing.T) {
	forEachArgoCD(t, func(t *testing.T, argo argoCD) {
		reg := registrytest.New(t)
		image := reg.Host() + "/acme/web"
		reg.PushTags(t, "acme/web", exampleTags...)
		srv := startServe(t)
		rs := startRepoServer(t, argo.bin, redistest.Start(t).Addr(), srv.sockDir)
		repoURL, path := gitRepo(t)

		assertImage(t, rs.generate(t, repoURL, path, srv.name, appParameters(image)), image+":1.6.3")
		assertAnnounced(t, rs.appDetails(t, repoURL, path, srv.name, appParameters(image)), map[string]string{"image.web": "1.6.3"})

		reg.PushTags(t, "acme/web", "1.6.4", "1.7.1")
		// The repo-server renders again (NoCache), the plugin answers from
		// its cache: the tag list is fresh for --cache-ttl.
		assertImage(t, rs.generate(t, repoURL, path, srv.name, appParameters(image)), image+":1.6.3")

		srv.notify(t, image, "1.6.4")
		assertImage(t, rs.generate(t, repoURL, path, srv.name, appParameters(image)), image+":1.6.4")
		assertAnnounced(t, rs.appDetails(t, repoURL, path, srv.name, appParameters(image)), map[string]string{"image.web": "1.6.4"})

		// A repository the registry does not hold: the error reaches the
		// repo-server's caller naming the alias and the image, and the
		// plugin keeps serving.
		missing := reg.Host() + "/acme/missing"
		err := rs.generateErr(t, repoURL, path, srv.name, v1alpha1.ApplicationSourcePluginParameters{
			{Name: "images", OptionalArray: &v1alpha1.OptionalArray{Array: []string{"backend=" + missing + ":~1.6"}}},
		})
		t.Logf("render of a missing repository fails with: %v", err)
		for _, want := range []string{"backend", missing, "NAME_UNKNOWN"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("error %q does not name %s", err, want)
			}
		}
		assertImage(t, rs.generate(t, repoURL, path, srv.name, appParameters(image)), image+":1.6.4")
	})
}

// TestRepoServerProjectRules: registries.conf rules for the Application's
// AppProject (keyed on ARGOCD_APP_PROJECT_NAME) apply behind Argo CD 3.x.
// Argo CD 2.14 sends no project name, so there only `allowed` applies, and
// an image that only its project's rules allow is refused before any
// registry request.
func TestRepoServerProjectRules(t *testing.T) {
	forEachArgoCD(t, func(t *testing.T, argo argoCD) {
		reg := registrytest.New(t)
		image := reg.Host() + "/acme/web"
		reg.PushTags(t, "acme/web", exampleTags...)
		conf := filepath.Join(t.TempDir(), "registries.conf")
		if err := os.WriteFile(conf, []byte("projects:\n  default:\n    - "+reg.Host()+"/acme/*\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		srv := startServe(t, "--registries-conf", conf)
		rs := startRepoServer(t, argo.bin, redistest.Start(t).Addr(), srv.sockDir)
		repoURL, path := gitRepo(t)

		if argo.major >= 3 {
			assertImage(t, rs.generate(t, repoURL, path, srv.name, appParameters(image)), image+":1.6.3")
			return
		}
		err := rs.generateErr(t, repoURL, path, srv.name, appParameters(image))
		t.Logf("Argo CD %s, image allowed for project default only: %v", argo.version, err)
		for _, want := range []string{"PermissionDenied", image, "outside the"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("error %q does not contain %q", err, want)
			}
		}
	})
}

// TestRepoServerRendersThroughArgoCMPServer runs each release's own
// argocd-cmp-server with our plugin.yaml, whose generate command is our
// binary's `generate`, behind the same release's argocd-repo-server.
func TestRepoServerRendersThroughArgoCMPServer(t *testing.T) {
	moduleRoot, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	// The repository's plugin.yaml, unchanged, as argocd-cmp-server's
	// configuration.
	spec, err := os.ReadFile(filepath.Join(moduleRoot, "plugin.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	pluginCfg, err := cmp.ParsePluginConfig(spec)
	if err != nil {
		t.Fatalf("plugin.yaml: %v", err)
	}
	if got := pluginCfg.Spec.Generate.Command; !slices.Equal(got, []string{"argocd-image-resolver", "generate"}) {
		t.Fatalf("plugin.yaml generate command %q, want [argocd-image-resolver generate]", got)
	}
	pluginName := strings.TrimSuffix(pluginCfg.SocketName(), ".sock")
	var static []string
	for _, p := range pluginCfg.Spec.Parameters.Static {
		static = append(static, p.Name)
	}

	binDir := pluginBinary(t, moduleRoot)

	forEachArgoCD(t, func(t *testing.T, argo argoCD) {
		reg := registrytest.New(t)
		image := reg.Host() + "/acme/web"
		reg.PushTags(t, "acme/web", exampleTags...)
		sockDir := harness.ShortTempDir(t, "cmp")
		configDir := t.TempDir()
		if err := os.WriteFile(filepath.Join(configDir, "plugin.yaml"), spec, 0o644); err != nil {
			t.Fatal(err)
		}
		startCMPServer(t, argo.bin, configDir, sockDir, pluginCfg.SocketName(), binDir)
		rs := startRepoServer(t, argo.bin, redistest.Start(t).Addr(), sockDir)
		repoURL, path := gitRepo(t)

		assertImage(t, rs.generate(t, repoURL, path, pluginName, appParameters(image)), image+":1.6.3")

		// Each generate is a new process with an empty cache: the pushed
		// tag is picked at once.
		reg.PushTags(t, "acme/web", "1.6.4")
		assertImage(t, rs.generate(t, repoURL, path, pluginName, appParameters(image)), image+":1.6.4")

		// argocd-cmp-server answers the announcement from plugin.yaml
		// itself: the static parameters, without resolved images.
		announced := rs.appDetails(t, repoURL, path, pluginName, appParameters(image))
		var names []string
		for _, p := range announced {
			names = append(names, p.Name)
		}
		if !slices.Equal(names, static) {
			t.Errorf("announced parameters %q, want plugin.yaml's static ones %q", names, static)
		}

		missing := reg.Host() + "/acme/missing"
		err := rs.generateErr(t, repoURL, path, pluginName, v1alpha1.ApplicationSourcePluginParameters{
			{Name: "images", OptionalArray: &v1alpha1.OptionalArray{Array: []string{"backend=" + missing + ":~1.6"}}},
		})
		for _, want := range []string{"backend", missing, "NAME_UNKNOWN"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("error %q does not name %s", err, want)
			}
		}
	})
}

// assertAnnounced checks that the announcement holds every static
// parameter of plugin.yaml, in its order, and then exactly the resolved
// `image.<alias>` parameters of want, with their tags.
func assertAnnounced(t *testing.T, announced []*apiclient.ParameterAnnouncement, want map[string]string) {
	t.Helper()
	pluginCfg, err := cmp.LoadPluginConfig("")
	if err != nil {
		t.Fatal(err)
	}
	static := pluginCfg.Spec.Parameters.Static
	if len(announced) != len(static)+len(want) {
		t.Fatalf("announced %d parameters, want %d static and %d resolved: %v", len(announced), len(static), len(want), announced)
	}
	for i, p := range static {
		if announced[i].Name != p.Name || announced[i].CollectionType != p.CollectionType {
			t.Errorf("announced parameter %d is %s (%s), want plugin.yaml's %s (%s)", i, announced[i].Name, announced[i].CollectionType, p.Name, p.CollectionType)
		}
	}
	for _, p := range announced[len(static):] {
		tag, ok := want[p.Name]
		if !ok || p.String_ != tag {
			t.Errorf("announced %s = %q, want %v", p.Name, p.String_, want)
		}
	}
}

// pluginBinary returns a folder holding the plugin binary named as
// plugin.yaml's generate command expects: $IMAGE_RESOLVER_BIN when set (a
// binary `make build` produced), else a fresh `go build` of the module.
func pluginBinary(t *testing.T, moduleRoot string) string {
	t.Helper()
	dir := t.TempDir()
	dst := filepath.Join(dir, "argocd-image-resolver")
	if prebuilt := os.Getenv("IMAGE_RESOLVER_BIN"); prebuilt != "" {
		abs, err := filepath.Abs(prebuilt)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(abs, dst); err != nil {
			t.Fatal(err)
		}
		return dir
	}
	goBin := harness.RequireTool(t, "go", "the Go toolchain builds the plugin binary")
	build := exec.Command(goBin, "build", "-buildvcs=false", "-o", dst, ".")
	build.Dir = moduleRoot
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build the plugin: %v\n%s", err, out)
	}
	return dir
}
