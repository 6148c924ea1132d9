package docs

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/argoproj/argo-cd/v3/cmpserver/apiclient"
	"github.com/argoproj/argo-cd/v3/pkg/apis/application/v1alpha1"
	argocmp "github.com/argoproj/argo-cd/v3/util/cmp"
	"github.com/go-logr/logr"
	"github.com/redis/go-redis/v9"
	"golang.org/x/net/dns/dnsmessage"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"k8s.io/client-go/dynamic"
	"k8s.io/klog/v2"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/argocd-image-resolver/argocd-image-resolver/cmp"
	"github.com/argocd-image-resolver/argocd-image-resolver/egress"
	"github.com/argocd-image-resolver/argocd-image-resolver/ops"
	"github.com/argocd-image-resolver/argocd-image-resolver/plugin"
	"github.com/argocd-image-resolver/argocd-image-resolver/refresh"
	"github.com/argocd-image-resolver/argocd-image-resolver/resolve"
	"github.com/argocd-image-resolver/argocd-image-resolver/store"
	"github.com/argocd-image-resolver/argocd-image-resolver/test/harness"
	"github.com/argocd-image-resolver/argocd-image-resolver/test/registrytest"
)

// producer makes one troubleshooting message happen with the real
// components and returns the text it appeared in: the gRPC status of a
// render over the CMP socket, an error, an HTTP answer or a log.
type producer func(t *testing.T, fx *troubleFixture) string

// producers is keyed by the first cell of each troubleshooting row.
var producers = map[string]producer{
	// Image specs and options, through a render.
	"is not a valid repository":                 renders(params(images("web=ghcr.io/Acme/web"))),
	"digests cannot be updated":                 renders(params(images("web=ghcr.io/acme/web@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"))),
	"is already used by images":                 renders(params(images("ghcr.io/a/web", "ghcr.io/b/web"))),
	"no image has alias":                        renders(params(images("web=REG/acme/web"), options("api.pin", "tag"))),
	"unknown option":                            renders(params(images("web=REG/acme/web"), options("web.update-stratgy", "semver"))),
	"unknown strategy":                          renders(params(images("web=REG/acme/web"), options("web.update-strategy", "fastest"))),
	"not a semver range":                        renders(params(images("web=REG/acme/web:main"))),
	"takes no constraint":                       renders(params(images("web=REG/acme/web:main"), options("web.update-strategy", "newest-build"))),
	"bad regular expression":                    renders(params(images("web=REG/acme/web"), options("web.allow-tags", "regexp:^v(1"))),
	`want "true" or "false"`:                    renders(params(images("web=REG/acme/web"), options("web.strict-semver", "loose"))),
	"is not needed with image-resolver":         renders(params(images("web=REG/acme/web"), str("argocd-image-updater.argoproj.io/write-back-method", "git"))),
	"give images or image-list, not both":       renders(params(images("web=REG/acme/web"), str("image-list", "web=REG/acme/web"))),
	"unknown parameter":                         renders(params(images("web=REG/acme/web"), str("imagse", "x"))),
	"must be an array":                          renders(params(str("images", "web=REG/acme/web"))),
	"is not the JSON list of plugin parameters": rendersEnv("apps/web", "ARGOCD_APP_PARAMETERS={not json"),

	// What the registry holds, and how the strategies read it.
	"none of":                      renders(params(images("web=REG/acme/web:~9.0"), name())),
	"partial version":              renders(params(images("web=REG/acme/partial"), name())),
	"looks like a date":            renders(params(images("web=REG/acme/dated"), name())),
	"add -0 to the constraint":     renders(params(images("web=REG/acme/pre:^2"), name())),
	"no created time":              renders(params(images("web=REG/acme/nodate"), name(), options("web.update-strategy", "newest-build"))),
	"the repository lists no tags": renders(params(images("web=REG/acme/empty"), name())),
	"cannot read the platforms":    renders(params(images("web=REG/acme/brokenmeta"), name(), options("web.platforms", "linux/arm64"))),
	"does not exist in registry":   renders(params(images("web=REG/acme/web"), name(), options("web.override-tag", "9.9.9"))),
	"pinned tag not checked": func(t *testing.T, fx *troubleFixture) string {
		before := fx.logs.String()
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		env := pluginEnv(t, fx, params(images("web="+fx.gone+"/acme/web"), name(), options("web.override-tag", "1.0.0")))
		if _, err := fx.render(ctx, fx.client, "apps/web", env); err != nil {
			t.Fatalf("a pin on an unreachable registry must render: %v", err)
		}
		return strings.TrimPrefix(fx.logs.String(), before)
	},

	// Registry answers.
	"check the credentials for":                         renders(params(images("web=REG/acme/denied"), name())),
	"the registry does not know this repository or tag": renders(params(images("web=REG/acme/missing"), name())),
	"the registry is rate limiting":                     renders(params(images("web=REG/acme/limited"), name())),
	"did not answer in time": func(t *testing.T, fx *troubleFixture) string {
		// The lookup runs under --registry-timeout, shorter than the render.
		return renderStatusOn(t, fx, fx.timeoutClient, "apps/web", pluginEnv(t, fx, params(images("web=REG/acme/slow"), name())))
	},
	"the caller's deadline passed":   rendersWithin(time.Second, params(images("web=REG/acme/slow"), name())),
	"the plugin's own request limit": renders(params(images("web=LIMITED/acme/web"), name())),

	// pull-secret names a registries.conf entry.
	"the name of a registries.conf entry":         renders(params(images("web=REG/acme/web"), name(), options("web.pull-secret", "env:GHCR_CREDS"))),
	"no registries.conf entry has the name given": renders(params(images("web=REG/acme/web"), name(), options("web.pull-secret", "nosuch"))),
	"credentials are for repositories under":      renders(params(images("web=REG/acme/web"), name(), options("web.pull-secret", "unset"))),

	// Where the sidecar may connect.
	"ask the Argo CD admins to add it to registries.conf": func(t *testing.T, fx *troubleFixture) string {
		return renderStatusOn(t, fx, fx.rulesClient, "apps/web", pluginEnv(t, fx, params(images("web=REG/acme/web"), name())))
	},
	"refused: the host is outside the": func(t *testing.T, fx *troubleFixture) string {
		return renderStatusOn(t, fx, fx.rulesClient, "apps/deps", pluginEnv(t, fx, params(images("web=registry.example.com/acme/web:~1.6"), name(), options("web.override-tag", "1.0.0"))))
	},
	"link-local addresses": renders(params(images("web=169.254.169.254/acme/web"), name())),
	"the name resolves to loopback": func(t *testing.T, fx *troubleFixture) string {
		return fx.loopbackByName(t)
	},
	"the sidecar log has the details": renders(params(images("web=REG/acme/garbage"), name())),

	// Credentials: registries.conf references and what they point at.
	"references need the Kubernetes API":          registriesConf("credentials: secret:argocd/ghcr#creds"),
	"unknown credential form":                     registriesConf("credentials: vault:ghcr"),
	"must be an absolute path":                    registriesConf("credentials: file:creds.txt"),
	"unknown key":                                 registriesConf("pasword: hunter2"),
	"could not be read; the sidecar log says why": rendersCreds("unset"),
	"the environment variable is unset or empty":  credsLog("unset"),
	"expected one line user:password":             credsLog("badformat"),
	"the script did not finish within":            credsLog("slowscript"),
	"no entry for registry":                       credsLog("dockerconfig"),

	// Where the versions are written, and what the chart renders.
	"have no value path":                      renders(params(images("web=REG/acme/web", "api=REG/acme/api"), name())),
	"both write value path":                   renders(params(images("web=REG/acme/web", "api=REG/acme/api"), options("web.helm.image-tag", "image.tag", "api.helm.image-tag", "image.tag"))),
	"needs a shasum path":                     renders(params(images("web=REG/acme/web"), options("web.helm.image-tag", "tags[0]", "web.pin", "digest"))),
	"is not in the chart's values":            renders(params(images("web=REG/acme/web"), name(), options("web.helm.image-tag", "image.tg"))),
	"holds a":                                 renders(params(images("web=REG/acme/web"), options("web.helm.image-tag", "image.repository.tag"))),
	"which this render disables":              rendersAt("apps/umbrella", params(images("web=REG/acme/web"), options("web.helm.image-tag", "web.image.tag"))),
	"the rendered manifests do not reference": rendersAt("apps/unusedtag", params(images("web=REG/acme/web"), name())),

	// Value files, the chart and its dependencies.
	"not found (set ignore-missing-value-files":                             renders(params(images("web=REG/acme/web"), name(), arrays("value-files", "absent.yaml"))),
	"resolves outside the repository":                                       renders(params(images("web=REG/acme/web"), name(), arrays("value-files", "../../../etc/passwd"))),
	"remote value files are not supported":                                  renders(params(images("web=REG/acme/web"), name(), arrays("value-files", "https://example.com/values.yaml"))),
	"reading the Kubernetes version":                                        rendersEnv("apps/web", "KUBE_VERSION=one.two"),
	"Chart.yaml not found":                                                  rendersAt("apps/nochart", params(images("web=REG/acme/web"))),
	"is a remote reference":                                                 rendersAt("apps/kustomize-remote", params(images("web=REG/acme/web"))),
	"helmCharts are not supported":                                          rendersAt("apps/kustomize-helm", params(images("web=REG/acme/web"))),
	"the build read more than":                                              rendersAt("apps/kustomize-bomb", params(images("web=REG/acme/web"))),
	"not a valid kustomization":                                             rendersAt("apps/kustomize-dup", params(images("web=REG/acme/web"))),
	"no workload built from the kustomization":                              rendersAt("apps/kustomize", params(images("web=REG/acme/web"))),
	"is already set in the kustomization":                                   rendersAt("apps/kustomize-labels", params(images("web=REG/acme/web"), mapParam("kustomize-common-labels", "app", "x"))),
	"Kustomize stopped on something in the kustomization it does not check": rendersAt("apps/kustomize-panic", params(images("web=REG/acme/web"))),
	"apply to Kustomize applications only":                                  rendersAt("apps/plain", params(images("web=REG/acme/web"), str("kustomize-namespace", "x"))),
	"no workload in the manifests":                                          rendersAt("apps/plain", params(images("web=REG/acme/web"))),
	"vendor the chart in charts/":                                           rendersAt("apps/deps", params(images("web=REG/acme/web"), name())),
	"leads outside the repository":                                          rendersAt("apps/escape", params(images("web=REG/acme/web"), name())),
	"which is outside the chart":                                            rendersAt("apps/schemaref", params(images("web=REG/acme/web"), name())),
	"which the plugin's Helm repositories":                                  rendersAt("apps/reponame", params(images("web=REG/acme/web"), name())),
	"downloads passed the cap of": func(t *testing.T, fx *troubleFixture) string {
		return renderStatusOn(t, fx, fx.depCapClient, "apps/bigdeps", pluginEnv(t, fx, params(images("web=REG/acme/web"), name())))
	},

	// The repository stream and the server's limits.
	"unsafe repository archive": func(t *testing.T, fx *troubleFixture) string {
		return fx.sendRaw(t, fx.client, tgzOf(t, map[string]string{"apps/web/Chart.yaml": "apiVersion: v2\nname: web\nversion: 0.1.0\n", "/etc/evil": "x"}), "")
	},
	"exceeds the": func(t *testing.T, fx *troubleFixture) string {
		return fx.sendRaw(t, fx.smallClient, bytes.Repeat([]byte("0123456789abcdef"), 1024), "")
	},
	"checksum mismatch": func(t *testing.T, fx *troubleFixture) string {
		return fx.sendRaw(t, fx.client, tgzOf(t, map[string]string{"apps/web/Chart.yaml": "apiVersion: v2\nname: web\nversion: 0.1.0\n"}), strings.Repeat("ab", 32))
	},
	"all render slots are busy": func(t *testing.T, fx *troubleFixture) string {
		select { // a signal left by an earlier render of acme/slow
		case <-fx.slowEntered:
		default:
		}
		held := make(chan error, 1)
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
			defer cancel()
			// Its own repository: acme/slow's failures are cached.
			_, err := fx.render(ctx, fx.oneSlotClient, "apps/web", pluginEnv(t, fx, params(images("web=REG/acme/slowslot"), name())))
			held <- err
		}()
		select {
		case <-fx.slowEntered: // the only slot waits on the registry
		case err := <-held:
			t.Fatalf("the render meant to hold the slot ended: %v", err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
		defer cancel()
		_, err := fx.render(ctx, fx.oneSlotClient, "apps/web", pluginEnv(t, fx, params(images("web=REG/acme/web"), name())))
		<-held
		return fmt.Sprint(err)
	},
	"another process answers on": func(t *testing.T, fx *troubleFixture) string {
		second, err := cmp.New(fx.resolver, cmp.WithSocketDir(fx.sockDir), cmp.WithWorkDir(t.TempDir()), cmp.WithLogger(quiet()))
		if err != nil {
			t.Fatal(err)
		}
		return fmt.Sprint(second.Listen())
	},

	// Webhooks and the debug port.
	"webhook receiver needs a secret": func(t *testing.T, fx *troubleFixture) string {
		_, err := ops.NewWebhookHandler(fx.resolver, nil)
		return fmt.Sprint(err)
	},
	"unknown webhook type": func(t *testing.T, fx *troubleFixture) string {
		return fx.webhook(t, "/webhook?type=gitlab", "{}", nil)
	},
	"signature does not match the body": func(t *testing.T, fx *troubleFixture) string {
		body := `{"repository":"ghcr.io/acme/web"}`
		return fx.webhook(t, "/webhook?type=generic", body, http.Header{resolve.SignatureHeader: {resolve.SignWebhook([]byte("wrong"), []byte(body))}})
	},
	"is not a loopback address": func(t *testing.T, fx *troubleFixture) string {
		ln, err := ops.ListenDebug("0.0.0.0:0", false, quiet())
		if err == nil {
			ln.Close()
		}
		return fmt.Sprint(err)
	},

	// Hard refresh.
	"start-up listing of plugin Applications failed": func(t *testing.T, fx *troubleFixture) string {
		return fx.forbiddenRefresher(t)
	},
	"no watched cache of Applications": func(t *testing.T, fx *troubleFixture) string {
		return fx.forbiddenRefresher(t)
	},
	"grant the plugin's service account get and patch": func(t *testing.T, fx *troubleFixture) string {
		return fmt.Sprint(fx.forbiddenKube(t).Refresh(context.Background(), refresh.App{Name: "web", Namespace: "argocd"}))
	},
	"no hard-refresh backend": func(t *testing.T, fx *troubleFixture) string {
		return serveLogs(t, "--refresh-backend", "none")
	},
	"no Kubernetes configuration": func(t *testing.T, fx *troubleFixture) string {
		t.Setenv("KUBERNETES_SERVICE_HOST", "")
		t.Setenv("KUBECONFIG", filepath.Join(t.TempDir(), "absent"))
		t.Setenv("HOME", t.TempDir())
		_, err := refresh.RESTConfig("")
		return fmt.Sprint(err)
	},

	// Redis.
	"Redis unavailable: renders go on from memory": func(t *testing.T, fx *troubleFixture) string {
		var logs harness.SyncBuffer
		client := redis.NewClient(&redis.Options{Addr: fx.gone, MaxRetries: -1})
		defer client.Close()
		r := store.NewRedis(client, store.WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))
		for i := 0; i < 10 && !strings.Contains(logs.String(), "Redis unavailable"); i++ {
			_ = r.Ping(context.Background())
		}
		return logs.String()
	},

	// The commands.
	"is the plugin running, and the debug port forwarded?": func(t *testing.T, fx *troubleFixture) string {
		return commandError(t, "cache", "list", "--addr", "http://"+fx.gone)
	},
	"no source uses the image-resolver plugin": func(t *testing.T, fx *troubleFixture) string {
		app := filepath.Join(t.TempDir(), "app.yaml")
		if err := os.WriteFile(app, []byte("apiVersion: argoproj.io/v1alpha1\nkind: Application\nmetadata: {name: web}\nspec:\n  source: {repoURL: r, path: apps/web, helm: {}}\n  destination: {namespace: web}\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		return commandError(t, "generate", "--app", app)
	},
}

// TestTroubleshootingRowsAreProduced: every row of the troubleshooting
// table is an error (or log line) the code really produces: its producer
// makes it happen and the text must contain the row's first cell. A row
// without a producer, or a producer without a row, fails.
func TestTroubleshootingRowsAreProduced(t *testing.T) {
	rows := tableRows(t, docSection(t, "errors"), 3)
	if len(rows) < 40 {
		t.Fatalf("troubleshooting table has only %d rows", len(rows))
	}
	fx := newTroubleFixture(t)
	seen := map[string]bool{}
	for _, row := range rows {
		fragment := plain(row[0])
		if fragment == row[0] || fragment == "" {
			t.Errorf("troubleshooting row %q: the first cell must be one code span", row[0])
			continue
		}
		seen[fragment] = true
		produce, ok := producers[fragment]
		if !ok {
			t.Errorf("troubleshooting row %q has no producer in this test", fragment)
			continue
		}
		t.Run(fragment, func(t *testing.T) {
			got := produce(t, fx)
			t.Logf("%s", got)
			if !strings.Contains(got, fragment) {
				t.Errorf("produced:\n%s\nwant it to contain %q", got, fragment)
			}
		})
	}
	for fragment := range producers {
		if !seen[fragment] {
			t.Errorf("producer for %q, which no troubleshooting row shows", fragment)
		}
	}
}

// troubleFixture is the plugin as it runs in the pod: CMP servers on unix
// sockets (one default, one with a 1 KiB tarball cap, one with a single
// render slot), a resolver with a registries.conf naming credentials, and
// loopback registries that answer what the rows need.
type troubleFixture struct {
	host     string // the main registry
	limited  string // a registry the plugin limits to 0.001 requests/s
	gone     string // an address nothing listens on
	authHost map[string]string
	resolver *resolve.Resolver
	logs     *harness.SyncBuffer
	repo     string // the repository the renders send

	sockDir                            string
	client, smallClient, oneSlotClient apiclient.ConfigManagementPluginServiceClient
	webhookHandler                     http.Handler
	slowEntered                        chan struct{}
	// armed turns the faults on once the images are pushed.
	armed atomic.Bool

	rulesClient, depCapClient, timeoutClient apiclient.ConfigManagementPluginServiceClient

	parent   *testing.T
	kubeOnce sync.Once
	kube     *refresh.Kubernetes

	refresherDone chan struct{}
	refresherLogs harness.SyncBuffer
}

func newTroubleFixture(t *testing.T) *troubleFixture {
	t.Helper()
	fx := &troubleFixture{parent: t, authHost: map[string]string{}, logs: &harness.SyncBuffer{}, slowEntered: make(chan struct{}, 1)}
	fx.gone = closedAddr(t)
	for _, v := range []string{"HELM_CACHE_HOME", "HELM_CONFIG_HOME", "HELM_DATA_HOME"} {
		t.Setenv(v, t.TempDir())
	}

	fx.host = registrytest.New(t, registrytest.WithHandler(fx.faults)).Host()
	day := time.Date(2024, time.June, 1, 12, 0, 0, 0, time.UTC)
	for _, ref := range []string{"acme/web:1.5.0", "acme/web:1.6.3", "acme/api:2.0.0", "acme/partial:1", "acme/partial:1.2",
		"acme/dated:20240601", "acme/pre:2.1.0-rc.1", "acme/slow:1.0.0", "acme/slowslot:1.0.0", "acme/limited:1.0.0", "acme/denied:1.0.0"} {
		registrytest.Push(t, fx.host+"/"+ref, registrytest.Created(day))
	}
	registrytest.Push(t, fx.host+"/acme/nodate:1.0.0") // no created time
	registrytest.Push(t, fx.host+"/acme/brokenmeta:1.0.0", registrytest.Created(day), registrytest.Platforms("linux/amd64", "linux/arm64"))
	fx.armed.Store(true)
	fx.limited = registrytest.New(t).Host()
	registrytest.Push(t, fx.limited+"/acme/web:1.0.0")

	// One registry wanting credentials per way of failing to read them.
	dir := t.TempDir()
	script := filepath.Join(dir, "creds.sh")
	if err := os.WriteFile(script, []byte("#!/bin/sh\nsleep 5\necho user:password\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	dockerConfig := filepath.Join(dir, "config.json")
	if err := os.WriteFile(dockerConfig, []byte(`{"auths":{"registry.example.com":{"auth":"dXNlcjpwYXNz"}}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("TROUBLE_BAD_CREDS", "no-colon-here")
	creds := map[string]string{
		"unset":        "env:TROUBLE_UNSET_CREDS",
		"badformat":    "env:TROUBLE_BAD_CREDS",
		"slowscript":   "ext:" + script,
		"dockerconfig": "file:" + dockerConfig,
	}
	conf := "registries:\n- name: limited\n  prefix: " + fx.limited + "\n  api_url: http://" + fx.limited + "\n  limit: 0.001\n"
	for kind, ref := range creds {
		host := registrytest.New(t, registrytest.WithHandler(basicAuthChallenge)).Host()
		fx.authHost[kind] = host
		conf += "- name: " + kind + "\n  prefix: " + host + "\n  api_url: http://" + host + "\n  credentials: " + ref + "\n"
	}
	rc, err := resolve.ParseRegistriesConfig([]byte(conf))
	if err != nil {
		t.Fatal(err)
	}
	logger := slog.New(slog.NewTextHandler(fx.logs, nil))
	fx.resolver, err = resolve.New(resolve.WithInsecure(), resolve.WithRegistriesConfig(rc), resolve.WithLogger(logger),
		resolve.WithCredentialScriptTimeout(200*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	// A chart repository whose index is larger than the dependency cap.
	charts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "apiVersion: v1\nentries:\n  lib:\n"+strings.Repeat("    - {name: lib, version: 0.0.1, urls: [lib-0.0.1.tgz]}\n", 200))
	}))
	t.Cleanup(charts.Close)
	fx.repo = writeTroubleRepo(t, charts.URL)

	fx.sockDir = shortDir(t)
	fx.client = fx.serve(t, fx.sockDir, logger)
	fx.smallClient = fx.serve(t, shortDir(t), logger, cmp.WithMaxTarSize(1024))
	fx.oneSlotClient = fx.serve(t, shortDir(t), logger, cmp.WithParallelism(1))

	// With rules, only registry.example.com may be reached.
	rules, err := resolve.ParseRegistriesConfig([]byte("allowed:\n  - registry.example.com/*\n"))
	if err != nil {
		t.Fatal(err)
	}
	ruled, err := resolve.New(resolve.WithInsecure(), resolve.WithRegistriesConfig(rules), resolve.WithLogger(logger))
	if err != nil {
		t.Fatal(err)
	}
	fx.rulesClient = fx.serveResolver(t, ruled, shortDir(t), logger, cmp.WithRules(rules))
	fx.depCapClient = fx.serve(t, shortDir(t), logger, cmp.WithMaxDependencyBytes(1024))
	quick, err := resolve.New(resolve.WithInsecure(), resolve.WithRegistryTimeout(300*time.Millisecond), resolve.WithLogger(logger))
	if err != nil {
		t.Fatal(err)
	}
	fx.timeoutClient = fx.serveResolver(t, quick, shortDir(t), logger)

	wh, err := ops.NewWebhookHandler(fx.resolver, nil, ops.WithWebhookSecret([]byte("secret")), ops.WithWebhookLogger(quiet()))
	if err != nil {
		t.Fatal(err)
	}
	fx.webhookHandler = wh
	fx.startForbiddenRefresher(t)
	return fx
}

// faults answers for the repositories whose names say what they do.
func (fx *troubleFixture) faults(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !fx.armed.Load() {
			next.ServeHTTP(w, r)
			return
		}
		p := r.URL.Path
		switch {
		case strings.HasPrefix(p, "/v2/acme/denied/"):
			w.WriteHeader(http.StatusForbidden)
			return
		case strings.HasPrefix(p, "/v2/acme/limited/"):
			w.Header().Set("Retry-After", "0")
			w.WriteHeader(http.StatusTooManyRequests)
			return
		case strings.HasPrefix(p, "/v2/acme/slow/"), strings.HasPrefix(p, "/v2/acme/slowslot/"):
			select {
			case fx.slowEntered <- struct{}{}:
			default:
			}
			<-r.Context().Done()
			return
		case p == "/v2/acme/garbage/tags/list":
			_, _ = io.WriteString(w, "this is not JSON")
			return
		case p == "/v2/acme/empty/tags/list":
			w.Header().Set("Content-Type", "application/json")
			_, _ = io.WriteString(w, `{"name":"acme/empty","tags":[]}`)
			return
		case strings.HasPrefix(p, "/v2/acme/brokenmeta/") && r.Method == http.MethodGet && !strings.HasSuffix(p, "/tags/list"):
			w.WriteHeader(http.StatusInternalServerError)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// basicAuthChallenge makes a registry ask for credentials, so that the
// plugin reads the ones registries.conf names.
func basicAuthChallenge(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, _, ok := r.BasicAuth(); !ok {
			w.Header().Set("WWW-Authenticate", `Basic realm="trouble"`)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// writeTroubleRepo writes the repository the renders send: a chart, an
// umbrella chart with a disabled sub-chart, a chart whose template reads
// another value than image.tag, a chart with an unreachable dependency and
// a folder without a chart.
func writeTroubleRepo(t *testing.T, chartsURL string) string {
	t.Helper()
	deployment := func(tag string) string {
		return "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {{ .Release.Name }}\nspec:\n  template:\n    spec:\n      containers:\n        - name: web\n          image: \"{{ .Values.image.repository }}:{{ .Values.image." + tag + " }}\"\n"
	}
	chart := func(name string) string { return "apiVersion: v2\nname: " + name + "\nversion: 0.1.0\n" }
	values := "image:\n  repository: example.invalid/web\n  tag: \"0.0.1\"\n  version: \"0.0.1\"\n  overrideTag: \"\"\ntags: [\"0.0.1\"]\n"
	files := map[string]string{
		"apps/web/Chart.yaml":                         chart("web"),
		"apps/web/values.yaml":                        values,
		"apps/web/templates/deployment.yaml":          deployment("tag"),
		"apps/unusedtag/Chart.yaml":                   chart("unusedtag"),
		"apps/unusedtag/values.yaml":                  values,
		"apps/unusedtag/templates/deployment.yaml":    deployment("version"),
		"apps/umbrella/Chart.yaml":                    chart("shop") + "dependencies:\n  - name: web\n    version: 0.1.0\n    condition: web.enabled\n",
		"apps/umbrella/values.yaml":                   "web:\n  enabled: false\n",
		"apps/umbrella/charts/web/Chart.yaml":         chart("web"),
		"apps/umbrella/charts/web/values.yaml":        values,
		"apps/umbrella/charts/web/templates/dep.yaml": deployment("tag"),
		"apps/deps/Chart.yaml":                        chart("deps") + "dependencies:\n  - name: lib\n    version: 1.0.0\n    repository: http://127.0.0.1:1/charts\n",
		"apps/deps/values.yaml":                       values,
		"apps/deps/templates/deployment.yaml":         deployment("tag"),
		"apps/nochart/README.md":                      "no chart here\n",
		"apps/kustomize/kustomization.yaml":           "resources: [deployment.yaml]\n",
		"apps/kustomize/deployment.yaml":              "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: api\nspec:\n  template:\n    spec:\n      containers:\n        - name: api\n          image: example.invalid/api:1.0.0\n",
		"apps/kustomize-remote/kustomization.yaml":    "resources: [\"https://github.com/acme/deploy//base?ref=v1\"]\n",
		"apps/kustomize-helm/kustomization.yaml":      "helmCharts:\n  - name: web\n    repo: https://charts.example\n",
		"apps/kustomize-panic/kustomization.yaml":     "resources: [pod.yaml]\nimages:\n- name: \"(\"\n  newTag: \"2\"\n",
		"apps/kustomize-panic/pod.yaml":               "apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\nspec:\n  containers:\n  - name: c\n    image: web:1\n",
		"apps/kustomize-labels/kustomization.yaml":    "commonLabels:\n  app: web\n",
		"apps/kustomize-dup/kustomization.yaml":       "resources: [a.yaml]\nresourcez: [b.yaml]\n",
		"apps/plain/deployment.yaml":                  "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: api\nspec:\n  template:\n    spec:\n      containers:\n        - name: api\n          image: example.invalid/api:1.0.0\n",
		"apps/escape/Chart.yaml":                      chart("escape") + "dependencies:\n  - name: lib\n    version: 1.0.0\n    repository: file://../../../outside\n",
		"apps/escape/values.yaml":                     values,
		"apps/escape/templates/deployment.yaml":       deployment("tag"),
		"apps/schemaref/Chart.yaml":                   chart("schemaref"),
		"apps/schemaref/values.yaml":                  values,
		"apps/schemaref/values.schema.json":           `{"$ref": "http://169.254.169.254/latest/meta-data/"}`,
		"apps/schemaref/templates/deployment.yaml":    deployment("tag"),
		"apps/reponame/Chart.yaml":                    chart("reponame") + "dependencies:\n  - name: lib\n    version: 1.0.0\n    repository: \"@internal\"\n",
		"apps/reponame/values.yaml":                   values,
		"apps/reponame/templates/deployment.yaml":     deployment("tag"),
		"apps/bigdeps/Chart.yaml":                     chart("bigdeps") + "dependencies:\n  - name: lib\n    version: 1.0.0\n    repository: " + chartsURL + "\n",
		"apps/bigdeps/values.yaml":                    values,
		"apps/bigdeps/templates/deployment.yaml":      deployment("tag"),
	}
	// A base named 2^12 times over: each level names the one below
	// twice, under two name prefixes.
	files["apps/kustomize-bomb/l0/kustomization.yaml"] = "resources: [cm.yaml]\n"
	files["apps/kustomize-bomb/l0/cm.yaml"] = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\n"
	for i := 1; i <= 12; i++ {
		files[fmt.Sprintf("apps/kustomize-bomb/l%d/kustomization.yaml", i)] = "resources: [a, b]\n"
		for _, side := range []string{"a", "b"} {
			files[fmt.Sprintf("apps/kustomize-bomb/l%d/%s/kustomization.yaml", i, side)] = fmt.Sprintf("namePrefix: %s-\nresources: [../../l%d]\n", side, i-1)
		}
	}
	files["apps/kustomize-bomb/kustomization.yaml"] = "resources: [l12]\n"
	root := t.TempDir()
	harness.WriteTree(t, root, files)
	return root
}

// serve starts a CMP server on a socket in dir and returns Argo CD's
// client for it.
func (fx *troubleFixture) serve(t *testing.T, dir string, logger *slog.Logger, opts ...cmp.Option) apiclient.ConfigManagementPluginServiceClient {
	t.Helper()
	return fx.serveResolver(t, fx.resolver, dir, logger, opts...)
}

func (fx *troubleFixture) serveResolver(t *testing.T, resolver cmp.Resolver, dir string, logger *slog.Logger, opts ...cmp.Option) apiclient.ConfigManagementPluginServiceClient {
	t.Helper()
	srv, err := cmp.New(resolver, append([]cmp.Option{cmp.WithSocketDir(dir), cmp.WithWorkDir(t.TempDir()), cmp.WithLogger(logger)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Listen(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ctx) }()
	conn, err := grpc.NewClient("unix://"+srv.SocketPath(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(); cancel(); <-served })
	return apiclient.NewConfigManagementPluginServiceClient(conn)
}

// render sends appPath of the fixture's repository as the repo-server does.
func (fx *troubleFixture) render(ctx context.Context, client apiclient.ConfigManagementPluginServiceClient, appPath string, env []string) (*apiclient.ManifestResponse, error) {
	stream, err := client.GenerateManifest(ctx)
	if err != nil {
		return nil, err
	}
	if err := argocmp.SendRepoStream(ctx, filepath.Join(fx.repo, appPath), fx.repo, stream, env, nil); err != nil && !errors.Is(err, io.EOF) {
		if _, rerr := stream.CloseAndRecv(); rerr != nil {
			return nil, rerr
		}
		return nil, err
	}
	return stream.CloseAndRecv()
}

// sendRaw sends a hand-made tarball (checksum "" means the true one).
func (fx *troubleFixture) sendRaw(t *testing.T, client apiclient.ConfigManagementPluginServiceClient, data []byte, checksum string) string {
	t.Helper()
	stream, err := client.GenerateManifest(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if checksum == "" {
		sum := sha256.Sum256(data)
		checksum = hex.EncodeToString(sum[:])
	}
	meta := &apiclient.ManifestRequestMetadata{AppName: "web", AppRelPath: "apps/web", Checksum: checksum, Size_: 10}
	_ = stream.Send(&apiclient.AppStreamRequest{Request: &apiclient.AppStreamRequest_Metadata{Metadata: meta}})
	_ = stream.Send(&apiclient.AppStreamRequest{Request: &apiclient.AppStreamRequest_File{File: &apiclient.File{Chunk: data}}})
	_, err = stream.CloseAndRecv()
	return fmt.Sprint(err)
}

func (fx *troubleFixture) webhook(t *testing.T, target, body string, header http.Header) string {
	t.Helper()
	req := httptest.NewRequest(http.MethodPost, target, strings.NewReader(body))
	for k, v := range header {
		req.Header[k] = v
	}
	rec := httptest.NewRecorder()
	fx.webhookHandler.ServeHTTP(rec, req)
	return rec.Body.String()
}

// forbiddenKube is the kubernetes refresh backend, against a real
// kube-apiserver, as a user that RBAC grants nothing.
func (fx *troubleFixture) forbiddenKube(t *testing.T) *refresh.Kubernetes {
	t.Helper()
	fx.kubeOnce.Do(func() {
		assets := os.Getenv("KUBEBUILDER_ASSETS")
		if assets == "" {
			return
		}
		env := &envtest.Environment{BinaryAssetsDirectory: assets}
		if _, err := env.Start(); err != nil {
			t.Fatalf("starting kube-apiserver and etcd from %s: %v", assets, err)
		}
		// The control plane outlives this subtest: stop it with the
		// test the fixture belongs to, whichever subtest started it.
		fx.parent.Cleanup(func() {
			if err := env.Stop(); err != nil {
				fx.parent.Errorf("stopping the control plane: %v", err)
			}
		})
		user, err := env.AddUser(envtest.User{Name: "image-resolver"}, nil)
		if err != nil {
			t.Fatal(err)
		}
		client, err := dynamic.NewForConfig(user.Config())
		if err != nil {
			t.Fatal(err)
		}
		fx.kube = refresh.NewKubernetes(client, refresh.WithListNamespaces("argocd"))
	})
	if fx.kube == nil {
		if os.Getenv("E2E_REQUIRED") == "1" {
			t.Fatal("KUBEBUILDER_ASSETS is not set: run `make kube-assets`")
		}
		t.Skip("KUBEBUILDER_ASSETS not set: the RBAC rows need a real kube-apiserver (make kube-assets, or make test)")
	}
	return fx.kube
}

// --- render helpers ---------------------------------------------------

type paramList = v1alpha1.ApplicationSourcePluginParameters

func params(ps ...v1alpha1.ApplicationSourcePluginParameter) paramList { return ps }

func images(specs ...string) v1alpha1.ApplicationSourcePluginParameter {
	return v1alpha1.ApplicationSourcePluginParameter{Name: "images", OptionalArray: &v1alpha1.OptionalArray{Array: specs}}
}

func arrays(name string, v ...string) v1alpha1.ApplicationSourcePluginParameter {
	return v1alpha1.ApplicationSourcePluginParameter{Name: name, OptionalArray: &v1alpha1.OptionalArray{Array: v}}
}

func options(kv ...string) v1alpha1.ApplicationSourcePluginParameter {
	m := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return v1alpha1.ApplicationSourcePluginParameter{Name: "image-options", OptionalMap: &v1alpha1.OptionalMap{Map: m}}
}

func mapParam(name string, kv ...string) v1alpha1.ApplicationSourcePluginParameter {
	m := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return v1alpha1.ApplicationSourcePluginParameter{Name: name, OptionalMap: &v1alpha1.OptionalMap{Map: m}}
}

func str(name, v string) v1alpha1.ApplicationSourcePluginParameter {
	return v1alpha1.ApplicationSourcePluginParameter{Name: name, String_: &v}
}

// name writes the repository into image.repository, as the docs advise; a
// second image-options parameter merges into the first (see pluginEnv).
func name() v1alpha1.ApplicationSourcePluginParameter {
	return options("web.helm.image-name", "image.repository")
}

// pluginEnv is the env Argo CD sends for these parameters: image-options
// given twice are merged, and REG, LIMITED and the credential hosts are
// replaced by the fixture's registries.
func pluginEnv(t *testing.T, fx *troubleFixture, ps paramList, extra ...string) []string {
	t.Helper()
	r := strings.NewReplacer("REG/", fx.host+"/", "LIMITED/", fx.limited+"/")
	var merged paramList
	opts := map[string]string{}
	for _, p := range ps {
		if p.OptionalArray != nil {
			arr := make([]string, len(p.OptionalArray.Array))
			for i, s := range p.OptionalArray.Array {
				arr[i] = r.Replace(s)
			}
			p.OptionalArray = &v1alpha1.OptionalArray{Array: arr}
		}
		if p.String_ != nil {
			s := r.Replace(*p.String_)
			p.String_ = &s
		}
		if p.Name == "image-options" {
			for k, v := range p.OptionalMap.Map {
				opts[k] = v
			}
			continue
		}
		merged = append(merged, p)
	}
	if len(opts) > 0 {
		merged = append(merged, options())
		merged[len(merged)-1].OptionalMap.Map = opts
	}
	env, err := merged.Environ()
	if err != nil {
		t.Fatal(err)
	}
	return append(append(env, "ARGOCD_APP_NAME=web", "ARGOCD_APP_NAMESPACE=web", "KUBE_VERSION=1.31"), extra...)
}

func renderStatus(t *testing.T, fx *troubleFixture, appPath string, within time.Duration, env []string) string {
	t.Helper()
	return renderStatusWithin(t, fx, fx.client, appPath, within, env)
}

func renderStatusOn(t *testing.T, fx *troubleFixture, client apiclient.ConfigManagementPluginServiceClient, appPath string, env []string) string {
	t.Helper()
	return renderStatusWithin(t, fx, client, appPath, 20*time.Second, env)
}

func renderStatusWithin(t *testing.T, fx *troubleFixture, client apiclient.ConfigManagementPluginServiceClient, appPath string, within time.Duration, env []string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	_, err := fx.render(ctx, client, appPath, env)
	if err == nil {
		t.Fatal("the render succeeded")
	}
	return err.Error()
}

func renders(ps paramList) producer { return rendersAt("apps/web", ps) }

func rendersAt(appPath string, ps paramList) producer {
	return func(t *testing.T, fx *troubleFixture) string {
		return renderStatus(t, fx, appPath, 20*time.Second, pluginEnv(t, fx, ps))
	}
}

func rendersWithin(d time.Duration, ps paramList) producer {
	return func(t *testing.T, fx *troubleFixture) string {
		return renderStatus(t, fx, "apps/web", d, pluginEnv(t, fx, ps))
	}
}

func rendersEnv(appPath string, extra ...string) producer {
	return func(t *testing.T, fx *troubleFixture) string {
		env := pluginEnv(t, fx, params(images("web=REG/acme/web"), name()), extra...)
		return renderStatus(t, fx, appPath, 20*time.Second, env)
	}
}

// rendersCreds renders an image on the registry whose registries.conf
// credentials fail in the given way.
func rendersCreds(kind string) producer {
	return func(t *testing.T, fx *troubleFixture) string {
		ps := params(images("web="+fx.authHost[kind]+"/acme/web"), name())
		return renderStatus(t, fx, "apps/web", 20*time.Second, pluginEnv(t, fx, ps))
	}
}

// credsLog renders like rendersCreds and returns what the sidecar logged
// meanwhile: the cause stays out of the Application's view.
func credsLog(kind string) producer {
	return func(t *testing.T, fx *troubleFixture) string {
		// The first render of the entry logs the cause; later ones within
		// the negative cache's 10 s do not read the credentials again.
		rendersCreds(kind)(t, fx)
		return fx.logs.String()
	}
}

func registriesConf(line string) producer {
	return func(t *testing.T, fx *troubleFixture) string {
		_, err := resolve.ParseRegistriesConfig([]byte("registries:\n- name: ghcr\n  prefix: ghcr.io\n  " + line + "\n"))
		return fmt.Sprint(err)
	}
}

// --- other helpers ----------------------------------------------------

func commandError(t *testing.T, args ...string) string {
	t.Helper()
	root := plugin.NewRootCommand()
	root.SetArgs(args)
	root.SetOut(io.Discard)
	root.SetErr(io.Discard)
	return fmt.Sprint(root.ExecuteContext(context.Background()))
}

// serveLogs runs `serve` with args until it is serving and returns its log.
func serveLogs(t *testing.T, args ...string) string {
	t.Helper()
	var logs harness.SyncBuffer
	root := plugin.NewRootCommand()
	root.SetErr(&logs)
	root.SetArgs(append([]string{"serve", "--socket-dir", shortDir(t), "--work-dir", t.TempDir(), "--log-format", "text",
		"--http-addr", "127.0.0.1:0", "--debug-addr", "127.0.0.1:0"}, args...))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- root.ExecuteContext(ctx) }()
	waitForLog(t, &logs, "serving Argo CD config management plugin")
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("serve: %v\n%s", err, logs.String())
	}
	return logs.String()
}

// waitForLog waits until a log line holding want was written.
func waitForLog(t *testing.T, logs *harness.SyncBuffer, want string) {
	t.Helper()
	deadline := time.After(30 * time.Second)
	for !strings.Contains(logs.String(), want) {
		select {
		case <-deadline:
			t.Fatalf("no log line with %q:\n%s", want, logs.String())
		case <-time.After(10 * time.Millisecond):
		}
	}
}

func quiet() *slog.Logger { return slog.New(slog.DiscardHandler) }

// shortDir is a temporary folder with a path short enough for a socket.
func shortDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "doc")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

func closedAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// tgzOf builds a gzipped tarball of files, names as given (even absolute
// ones, which a hostile repository could send).
func tgzOf(t *testing.T, files map[string]string) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	for name, body := range files {
		if err := tw.WriteHeader(&tar.Header{Name: name, Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(len(body))}); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write([]byte(body)); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// forbiddenRefresher returns the log of the refresher that
// startForbiddenRefresher started: leading, with the kubernetes backend
// of forbiddenKube, its watch and its start-up listing are both forbidden.
func (fx *troubleFixture) forbiddenRefresher(t *testing.T) string {
	t.Helper()
	if fx.refresherDone == nil {
		fx.forbiddenKube(t) // skips, or fails under E2E_REQUIRED
	}
	select {
	case <-fx.refresherDone:
	case <-time.After(2 * time.Minute):
		t.Fatalf("the refresher logged neither failure:\n%s", fx.refresherLogs.String())
	}
	return fx.refresherLogs.String()
}

// startForbiddenRefresher runs the refresher in the background from the
// start: the watch gives up only after a minute, which then overlaps with
// the other producers.
func (fx *troubleFixture) startForbiddenRefresher(t *testing.T) {
	t.Helper()
	if os.Getenv("KUBEBUILDER_ASSETS") == "" {
		return
	}
	k := fx.forbiddenKube(t)
	// client-go's reflector reports each refused list on stderr; the
	// refresher's own log line is what this test reads.
	klog.SetLogger(logr.Discard())
	fx.refresherDone = make(chan struct{})
	r := refresh.NewRefresher(refresh.NewTracker(), fx.resolver, k,
		refresh.WithLogger(slog.New(slog.NewTextHandler(&fx.refresherLogs, nil))),
		refresh.WithStartupListing(k, []string{"image-resolver"}, 100))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	go func() {
		defer close(fx.refresherDone)
		deadline := time.After(2 * time.Minute)
		for !strings.Contains(fx.refresherLogs.String(), "no watched cache") || !strings.Contains(fx.refresherLogs.String(), "start-up listing") {
			select {
			case <-deadline:
				return
			case <-time.After(50 * time.Millisecond):
			}
		}
	}()
	t.Cleanup(func() { cancel(); <-done })
}

// loopbackByName asks, through the egress transport of a policy with
// rules, for a host name that a DNS server on loopback resolves to
// 127.0.0.1. The DNS server is a fake, because no zone can be set up on
// this machine; it speaks the real wire format to Go's resolver.
func (fx *troubleFixture) loopbackByName(t *testing.T) string {
	t.Helper()
	dns := startFakeDNS(t, "registry.test.", netip.MustParseAddr("127.0.0.1"))
	conf, err := resolve.ParseRegistriesConfig([]byte("allowed:\n  - registry.test:5000/*\n"))
	if err != nil {
		t.Fatal(err)
	}
	resolver := &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "udp", dns)
	}}
	client := &http.Client{Transport: egress.NewTransport(conf.Policy(""), egress.WithResolver(resolver))}
	resp, err := client.Get("http://registry.test:5000/v2/")
	if err == nil {
		resp.Body.Close()
	}
	return fmt.Sprint(err)
}

// startFakeDNS answers A queries for name with addr on a UDP port of
// loopback, and returns its address.
func startFakeDNS(t *testing.T, name string, addr netip.Addr) string {
	t.Helper()
	conn, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	go func() {
		buf := make([]byte, 1500)
		for {
			n, from, err := conn.ReadFrom(buf)
			if err != nil {
				return
			}
			var p dnsmessage.Parser
			h, err := p.Start(buf[:n])
			if err != nil {
				continue
			}
			q, err := p.Question()
			if err != nil {
				continue
			}
			b := dnsmessage.NewBuilder(nil, dnsmessage.Header{ID: h.ID, Response: true, Authoritative: true})
			b.EnableCompression()
			_ = b.StartQuestions()
			_ = b.Question(q)
			_ = b.StartAnswers()
			if q.Type == dnsmessage.TypeA && strings.EqualFold(q.Name.String(), name) {
				_ = b.AResource(dnsmessage.ResourceHeader{Name: q.Name, Class: dnsmessage.ClassINET, TTL: 60}, dnsmessage.AResource{A: addr.As4()})
			}
			msg, err := b.Finish()
			if err != nil {
				continue
			}
			_, _ = conn.WriteTo(msg, from)
		}
	}()
	return conn.LocalAddr().String()
}
