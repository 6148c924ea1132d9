package plugin

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	cmpclient "github.com/argoproj/argo-cd/v3/cmpserver/apiclient"
	"github.com/argoproj/argo-cd/v3/pkg/apis/application/v1alpha1"
	argocmp "github.com/argoproj/argo-cd/v3/util/cmp"
	"github.com/redis/go-redis/v9"
	"k8s.io/client-go/rest"

	"github.com/argocd-image-resolver/argocd-image-resolver/ops"
	"github.com/argocd-image-resolver/argocd-image-resolver/resolve"
	testharness "github.com/argocd-image-resolver/argocd-image-resolver/test/harness"
	"github.com/argocd-image-resolver/argocd-image-resolver/test/registrytest"
)

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// TestServeOperations runs `serve` with the service and debug ports and the
// Argo CD API refresh backend, renders once through the socket, then checks
// what an operator sees: readiness, metrics, tracked apps, the webhook, and
// the start-up listing reaching the Argo CD API.
func TestServeOperations(t *testing.T) {
	reg := registrytest.New(t)
	regHost := reg.Host()
	reg.Push(t, "acme/web:1.4.0")

	// argocd-server cannot run here; this stands in for its list endpoint
	// and checks the token.
	listed := make(chan string, 1)
	argo := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case listed <- r.Header.Get("Authorization") + " " + r.URL.RequestURI():
		default:
		}
		_, _ = w.Write([]byte(`{"items":[]}`))
	}))
	defer argo.Close()

	dir := t.TempDir()
	secretFile := filepath.Join(dir, "webhook")
	tokenFile := filepath.Join(dir, "token")
	if err := os.WriteFile(secretFile, []byte("hook-secret"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(tokenFile, []byte("argo-token"), 0o600); err != nil {
		t.Fatal(err)
	}
	repo := filepath.Join(dir, "repo")
	for p, body := range map[string]string{
		"apps/web/Chart.yaml":               "apiVersion: v2\nname: web\nversion: 0.1.0\n",
		"apps/web/values.yaml":              "image:\n  repository: example/web\n  tag: 0.0.1\n",
		"apps/web/templates/configmap.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: web\ndata:\n  image: \"{{ .Values.image.repository }}:{{ .Values.image.tag }}\"\n",
	} {
		if err := os.MkdirAll(filepath.Dir(filepath.Join(repo, p)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(repo, p), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}

	sockDir, err := os.MkdirTemp("", "ops")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(sockDir)
	httpAddr, debugAddr := freeAddr(t), freeAddr(t)

	wired := make(chan *serveWiring, 1)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var logs testharness.SyncBuffer
	cmd := newServeCommand(observeWiring(func(w *serveWiring) { wired <- w }))
	cmd.SetErr(&logs)
	cmd.SetArgs([]string{"--socket-dir", sockDir, "--work-dir", t.TempDir(), "--log-format", "json",
		"--http-addr", httpAddr, "--debug-addr", debugAddr, "--webhook-secret-file", secretFile,
		"--refresh-backend", "argocd-api", "--argocd-server", argo.URL, "--argocd-token-file", tokenFile,
		"--refresh-startup-rate", "100"})
	done := make(chan error, 1)
	go func() { done <- cmd.ExecuteContext(ctx) }()
	var w *serveWiring
	select {
	case w = <-wired:
	case err := <-done:
		t.Fatalf("serve stopped: %v\n%s", err, logs.String())
	}
	<-w.Ready

	get := func(url string) (int, string) {
		t.Helper()
		resp, err := http.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	// The ports were bound while wiring, before Ready: connections queue
	// until the runners serve them.
	if code, _ := get("http://" + httpAddr + "/readyz"); code != 200 {
		t.Fatalf("/readyz = %d", code)
	}

	// One render through the socket, as argocd-repo-server sends it.
	params := v1alpha1.ApplicationSourcePluginParameters{
		{Name: "images", OptionalArray: &v1alpha1.OptionalArray{Array: []string{"web=" + regHost + "/acme/web"}}},
		{Name: "image-options", OptionalMap: &v1alpha1.OptionalMap{Map: map[string]string{"web.helm.image-name": "image.repository"}}},
	}
	env, err := params.Environ()
	if err != nil {
		t.Fatal(err)
	}
	env = append(env, "ARGOCD_APP_NAME=team-a_web", "ARGOCD_APP_PROJECT_NAME=default",
		"ARGOCD_APP_SOURCE_REPO_URL=https://deploy:gho_tok3n@git.example.com/acme/deploy.git", "ARGOCD_APP_SOURCE_PATH=apps/web",
		"KUBE_VERSION=1.31.0", "KUBE_API_VERSIONS=v1")
	conn, client, err := cmpclient.NewConfigManagementPluginClientSet(filepath.Join(sockDir, "image-resolver.sock")).NewConfigManagementPluginClient()
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	stream, err := client.GenerateManifest(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := argocmp.SendRepoStream(ctx, filepath.Join(repo, "apps/web"), repo, stream, env, nil); err != nil {
		t.Fatal(err)
	}
	resp, err := stream.CloseAndRecv()
	if err != nil {
		t.Fatalf("render: %v", err)
	}
	if !strings.Contains(strings.Join(resp.GetManifests(), ""), regHost+"/acme/web:1.4.0") {
		t.Fatalf("manifests: %v", resp.GetManifests())
	}

	// The render is tracked, without the credentials of the repo URL.
	_, apps := get("http://" + debugAddr + "/debug/apps")
	var listing ops.AppsListing
	if err := json.Unmarshal([]byte(apps), &listing); err != nil || len(listing.Apps) != 1 ||
		listing.Apps[0].App.Key() != "team-a/web" || listing.Apps[0].Images[0].Tag != "1.4.0" {
		t.Fatalf("/debug/apps: %s (err %v)", apps, err)
	}
	if strings.Contains(apps, "gho_tok3n") {
		t.Fatalf("/debug/apps leaks credentials: %s", apps)
	}
	// The render is the Application's first resolution in its history,
	// and follow specs are answered from the tracker.
	_, apps = get("http://" + debugAddr + "/debug/apps?history=true")
	if err := json.Unmarshal([]byte(apps), &listing); err != nil || len(listing.Apps) != 1 ||
		len(listing.Apps[0].ImageHistory) != 1 || !listing.Apps[0].ImageHistory[0].First() {
		t.Fatalf("/debug/apps?history=true: %s (err %v)", apps, err)
	}
	followed, err := w.Follow.Followed(ctx, "team-a/web", regHost+"/acme/web")
	if err != nil || followed.Tag != "1.4.0" || followed.From != resolve.FollowFromTracker || followed.Since.IsZero() {
		t.Fatalf("follow team-a/web: %+v, %v", followed, err)
	}
	// Another Application that follows it renders its version and digest
	// through the socket, not the newer tag the registry now has.
	reg.Push(t, "acme/web:1.5.0")
	followParams := v1alpha1.ApplicationSourcePluginParameters{
		{Name: "images", OptionalArray: &v1alpha1.OptionalArray{Array: []string{"web=" + regHost + "/acme/web"}}},
		{Name: "image-options", OptionalMap: &v1alpha1.OptionalMap{Map: map[string]string{
			"web.helm.image-name": "image.repository", "web.follow": "team-a/web", "web.pin": "tag+digest"}}},
	}
	followEnv, err := followParams.Environ()
	if err != nil {
		t.Fatal(err)
	}
	followEnv = append(followEnv, "ARGOCD_APP_NAME=team-a_web-prod", "ARGOCD_APP_PROJECT_NAME=default",
		"ARGOCD_APP_SOURCE_REPO_URL=https://git.example.com/acme/deploy.git", "ARGOCD_APP_SOURCE_PATH=apps/web",
		"KUBE_VERSION=1.31.0", "KUBE_API_VERSIONS=v1")
	followStream, err := client.GenerateManifest(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := argocmp.SendRepoStream(ctx, filepath.Join(repo, "apps/web"), repo, followStream, followEnv, nil); err != nil {
		t.Fatal(err)
	}
	followResp, err := followStream.CloseAndRecv()
	if err != nil {
		t.Fatalf("render of the follower: %v", err)
	}
	if got := strings.Join(followResp.GetManifests(), ""); !strings.Contains(got, regHost+"/acme/web:1.4.0@"+followed.Digest) {
		t.Fatalf("the follower renders %s, want 1.4.0@%s", got, followed.Digest)
	}

	// A signed webhook is accepted and empties the repository's tag cache.
	body := []byte(`{"repository":"` + regHost + `/acme/web"}`)
	req, _ := http.NewRequest(http.MethodPost, "http://"+httpAddr+"/webhook?type=generic", bytes.NewReader(body))
	req.Header.Set(resolve.SignatureHeader, resolve.SignWebhook([]byte("hook-secret"), body))
	hookResp, err := http.DefaultClient.Do(req)
	if err != nil || hookResp.StatusCode != 200 {
		t.Fatalf("webhook: %v %v", hookResp, err)
	}
	hookResp.Body.Close()

	_, metrics := get("http://" + httpAddr + "/metrics")
	for _, want := range []string{
		`argocd_image_resolver_webhook_events_total{result="accepted",type="generic"} 1`,
		// Present from the start; its count depends on whether the
		// refresher has acted on the push of 1.5.0 yet.
		`argocd_image_resolver_refresh_triggers_total{backend="argocd-api",result="triggered"} `,
		`argocd_image_resolver_registry_requests_total{`,
		`argocd_image_resolver_cache_lookups_total{layer="tags",result="miss"}`,
		`argocd_image_resolver_resolutions_total{`,
		`argocd_image_resolver_render_duration_seconds_count{result="success"} 2`,
		`argocd_image_resolver_render_workers_started_total`,
		// The Go runtime and process collectors of the registry serve
		// really uses.
		"\ngo_goroutines ",
		"\nprocess_resident_memory_bytes ",
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	select {
	case call := <-listed:
		if call != "Bearer argo-token /api/v1/applications" {
			t.Errorf("start-up listing call = %q", call)
		}
	case <-time.After(30 * time.Second):
		t.Error("start-up listing never reached the Argo CD API")
	}

	cancel()
	if err := <-done; err != nil {
		t.Fatalf("serve: %v", err)
	}
	if strings.Contains(logs.String(), "hook-secret") || strings.Contains(logs.String(), "argo-token") {
		t.Fatalf("logs leak a secret:\n%s", logs.String())
	}
	if !strings.Contains(logs.String(), `"debug port listening"`) || !strings.Contains(logs.String(), strconv.Quote(debugAddr)) {
		t.Errorf("no debug port log line:\n%s", logs.String())
	}
}

// TestRefresherElection: without Redis each replica refreshes what it
// rendered; with Redis (the shared store's client) one replica leads, on a
// Lease with the kubernetes backend and in Redis with the argocd-api one.
func TestRefresherElection(t *testing.T) {
	o := &opsOptions{controlPlaneNS: "argocd"}
	kube := &refreshBackend{kube: &rest.Config{Host: "https://127.0.0.1:6443"}}
	api := &refreshBackend{}
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1"})
	defer rdb.Close()
	for _, tc := range []struct {
		name    string
		redis   redis.UniversalClient
		backend *refreshBackend
		want    string
	}{
		{"no redis, kubernetes", nil, kube, "none"},
		{"no redis, argocd-api", nil, api, "none"},
		{"redis, kubernetes", rdb, kube, "kubernetes-lease"},
		{"redis, argocd-api", rdb, api, "redis-lease"},
	} {
		e, err := o.elector(&serveWiring{Redis: tc.redis, Logger: slog.New(slog.DiscardHandler)}, tc.backend)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if e.Name() != tc.want {
			t.Errorf("%s: election %s, want %s", tc.name, e.Name(), tc.want)
		}
	}
}
