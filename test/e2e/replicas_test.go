package e2e

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/argoproj/argo-cd/v3/pkg/apis/application/v1alpha1"

	"github.com/argocd-image-resolver/argocd-image-resolver/cmp"
	"github.com/argocd-image-resolver/argocd-image-resolver/plugin"
	"github.com/argocd-image-resolver/argocd-image-resolver/test/harness"
	"github.com/argocd-image-resolver/argocd-image-resolver/test/redistest"
	"github.com/argocd-image-resolver/argocd-image-resolver/test/registrytest"
)

// countingRegistry is a loopback registry that counts tag lists per
// repository and can be made to fail every request (a registry that is
// down).
type countingRegistry struct {
	*registrytest.Registry
	mu    sync.Mutex
	lists map[string]int
	total int
	down  atomic.Bool
}

func newCountingRegistry(t testing.TB) *countingRegistry {
	t.Helper()
	c := &countingRegistry{lists: map[string]int{}}
	c.Registry = registrytest.New(t, registrytest.WithHandler(func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if c.down.Load() {
				w.WriteHeader(http.StatusServiceUnavailable)
				return
			}
			c.mu.Lock()
			c.total++
			if repo, ok := strings.CutSuffix(strings.TrimPrefix(r.URL.Path, "/v2/"), "/tags/list"); ok {
				c.lists[repo]++
			}
			c.mu.Unlock()
			next.ServeHTTP(w, r)
		})
	}))
	return c
}

// counts returns the tag lists per repository and all requests, and resets
// them.
func (c *countingRegistry) counts() (map[string]int, int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	lists, total := c.lists, c.total
	c.lists, c.total = map[string]int{}, 0
	return lists, total
}

// multiChart writes a chart rendering n images (a ConfigMap per image
// whose `image:` line names it) into a fresh repository folder and returns
// the repository root and the chart path.
func multiChart(t testing.TB, n int) (root, chart string) {
	t.Helper()
	root = t.TempDir()
	chart = filepath.Join(root, "apps", "multi")
	if err := os.MkdirAll(filepath.Join(chart, "templates"), 0o755); err != nil {
		t.Fatal(err)
	}
	var values strings.Builder
	values.WriteString("images:\n")
	for i := range n {
		fmt.Fprintf(&values, "  img%d:\n    repository: example.invalid/none\n    tag: none\n", i)
	}
	files := map[string]string{
		"Chart.yaml":  "apiVersion: v2\nname: multi\nversion: 0.1.0\n",
		"values.yaml": values.String(),
		"templates/images.yaml": `{{- range $name, $img := .Values.images }}
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ $name }}
data:
  image: "{{ $img.repository }}:{{ $img.tag }}"
{{- end }}
`,
	}
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(chart, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root, chart
}

// multiParams are the plugin parameters of the n-image chart: image i is
// host/acme/svc<i>:~1.0.
func multiParams(host string, n int) v1alpha1.ApplicationSourcePluginParameters {
	images := make([]string, n)
	options := map[string]string{}
	for i := range n {
		alias := fmt.Sprintf("img%d", i)
		images[i] = fmt.Sprintf("%s=%s/acme/svc%d:~1.0", alias, host, i)
		options[alias+".helm.image-name"] = "images." + alias + ".repository"
		options[alias+".helm.image-tag"] = "images." + alias + ".tag"
	}
	return v1alpha1.ApplicationSourcePluginParameters{
		{Name: "images", OptionalArray: &v1alpha1.OptionalArray{Array: images}},
		{Name: "image-options", OptionalMap: &v1alpha1.OptionalMap{Map: options}},
	}
}

// replica is one `serve` process, as the sidecar of one repo-server pod.
type replica struct {
	t        *testing.T
	name     string
	bin      string
	args     []string
	env      []string
	socket   string
	httpAddr string
	proc     *harness.Process
}

// startReplica runs `serve` from the plugin binary with its own socket,
// ports and work directory, sharing redisAddr.
func startReplica(t *testing.T, bin, name, redisAddr, secretFile string, extra ...string) *replica {
	t.Helper()
	sockDir := harness.ShortTempDir(t, "rep")
	cfg, err := cmp.LoadPluginConfig("")
	if err != nil {
		t.Fatal(err)
	}
	r := &replica{
		t: t, name: name, bin: bin,
		socket:   filepath.Join(sockDir, cfg.SocketName()),
		httpAddr: fmt.Sprintf("127.0.0.1:%d", harness.FreePort(t)),
		env:      []string{"REDIS_SERVER=" + redisAddr},
	}
	r.args = append([]string{"serve",
		"--socket-dir", sockDir,
		"--work-dir", t.TempDir(),
		"--http-addr", r.httpAddr,
		"--debug-addr", fmt.Sprintf("127.0.0.1:%d", harness.FreePort(t)),
		"--webhook-secret-file", secretFile,
		"--refresh-backend", "none",
		"--log-format", "text", "--log-level", "debug",
	}, extra...)
	r.start()
	return r
}

func (r *replica) start() {
	r.t.Helper()
	cmd := exec.Command(r.bin, r.args...)
	cmd.Env = append(os.Environ(), r.env...)
	r.proc = harness.StartProcess(r.t, "serve-"+r.name, cmd)
	harness.WaitFor(r.t, r.name+" serving", r.proc.Done(), func() error {
		if err := harness.Dial("unix", r.socket); err != nil {
			return err
		}
		resp, err := http.Get("http://" + r.httpAddr + "/readyz")
		if err != nil {
			return err
		}
		_ = resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("/readyz: %s", resp.Status)
		}
		return nil
	})
}

// stop ends the process the way Kubernetes does (SIGTERM) and waits.
func (r *replica) stop() {
	_ = r.proc.Signal(syscall.SIGTERM)
	<-r.proc.Done()
}

// render renders the chart through the replica's socket, as its
// repo-server would, and returns the image lines of the manifests.
func (r *replica) render(ctx context.Context, root, chart string, params v1alpha1.ApplicationSourcePluginParameters) ([]string, error) {
	manifests, err := socketRender(ctx, r.socket, chart, root, pluginEnv(r.t, params))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", r.name, err)
	}
	return containerImages(manifests), nil
}

// notify sends `notify` for a push to one replica's webhook.
func notify(t *testing.T, httpAddr, secretFile, image, tag string) {
	t.Helper()
	var out bytes.Buffer
	cmd := plugin.NewRootCommand()
	cmd.SetArgs([]string{"notify", "--url", "http://" + httpAddr, "--repository", image, "--tag", tag, "--secret-file", secretFile})
	cmd.SetOut(&out)
	cmd.SetErr(&out)
	if err := cmd.ExecuteContext(context.Background()); err != nil {
		t.Fatalf("notify: %v\n%s", err, out.String())
	}
}

func writeSecret(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "webhook-secret")
	if err := os.WriteFile(path, []byte("e2e-webhook-secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestThreeReplicasShareRedis runs three `serve` processes on one
// redis-server, as three repo-server replicas with their sidecars:
//   - cold renders of a 3-image chart on all three at once cost one tag
//     list per repository;
//   - a webhook to one replica makes the other two render the pushed tag
//     within a second;
//   - a replica restarted while the registry is down renders from Redis;
//   - Redis killed and restarted while all three render fails no render.
func TestThreeReplicasShareRedis(t *testing.T) {
	bin := filepath.Join(pluginBinary(t, moduleRoot(t)), "argocd-image-resolver")
	redis := redistest.Start(t)
	reg := newCountingRegistry(t)
	const images = 3
	for i := range images {
		reg.PushTags(t, fmt.Sprintf("acme/svc%d", i), "1.0.0", "1.0.3", "1.1.0")
	}
	secret := writeSecret(t)
	replicas := []*replica{
		startReplica(t, bin, "a", redis.Addr(), secret),
		startReplica(t, bin, "b", redis.Addr(), secret),
		startReplica(t, bin, "c", redis.Addr(), secret),
	}
	root, chart := multiChart(t, images)
	params := multiParams(reg.Host(), images)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	want := func(tag0 string) string {
		return strings.Join([]string{
			reg.Host() + "/acme/svc0:" + tag0,
			reg.Host() + "/acme/svc1:1.0.3",
			reg.Host() + "/acme/svc2:1.0.3",
		}, " ")
	}

	// Cold: 5 concurrent renders on each replica.
	reg.counts()
	var wg sync.WaitGroup
	errs := make(chan error, 15)
	for _, r := range replicas {
		for range 5 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				got, err := r.render(ctx, root, chart, params)
				if err == nil && strings.Join(got, " ") != want("1.0.3") {
					err = fmt.Errorf("%s rendered %q", r.name, got)
				}
				errs <- err
			}()
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	lists, total := reg.counts()
	t.Logf("cold renders on 3 replicas: tag lists %v, %d registry requests", lists, total)
	for i := range images {
		if n := lists[fmt.Sprintf("acme/svc%d", i)]; n != 1 {
			t.Errorf("acme/svc%d: %d tag lists for 15 cold renders on 3 replicas, want 1", i, n)
		}
	}

	// A push, announced to replica a only.
	reg.PushTags(t, "acme/svc0", "1.0.4")
	notify(t, replicas[0].httpAddr, secret, reg.Host()+"/acme/svc0", "1.0.4")
	announced := time.Now()
	for _, r := range replicas[1:] {
		for {
			got, err := r.render(ctx, root, chart, params)
			if err != nil {
				t.Fatal(err)
			}
			if strings.Join(got, " ") == want("1.0.4") {
				t.Logf("%s renders 1.0.4 %s after the webhook to a", r.name, time.Since(announced).Round(time.Millisecond))
				break
			}
			if time.Since(announced) > time.Second {
				t.Fatalf("%s still renders %q more than 1s after the webhook to replica a", r.name, got)
			}
		}
	}

	// Replica c restarts while the registry is down: Redis has the answer.
	replicas[2].stop()
	reg.down.Store(true)
	replicas[2].start()
	got, err := replicas[2].render(ctx, root, chart, params)
	if err != nil || strings.Join(got, " ") != want("1.0.4") {
		t.Fatalf("restarted replica with the registry down: %q %v", got, err)
	}
	reg.down.Store(false)

	// Redis goes away and comes back while every replica renders.
	var renders, failures atomic.Int64
	var firstFailure atomic.Value
	stopRendering := make(chan struct{})
	var loops sync.WaitGroup
	for _, r := range replicas {
		loops.Add(1)
		go func() {
			defer loops.Done()
			for {
				select {
				case <-stopRendering:
					return
				default:
				}
				got, err := r.render(ctx, root, chart, params)
				if err == nil && strings.Join(got, " ") != want("1.0.4") {
					err = fmt.Errorf("%s rendered %q", r.name, got)
				}
				renders.Add(1)
				if err != nil {
					failures.Add(1)
					firstFailure.CompareAndSwap(nil, err.Error())
				}
			}
		}()
	}
	waitRenders := func(n int64) {
		target := renders.Load() + n
		for renders.Load() < target {
			select {
			case <-ctx.Done():
				t.Fatal("renders stalled")
			case <-time.After(10 * time.Millisecond):
			}
		}
	}
	waitRenders(30)
	redis.Kill()
	waitRenders(60)
	waitMetric(t, replicas, "\nargocd_image_resolver_redis_up 0\n")
	redis.Restart()
	waitRenders(60)
	// Each replica reconnects by itself.
	waitMetric(t, replicas, "\nargocd_image_resolver_redis_up 1\n")
	waitRenders(30)
	close(stopRendering)
	loops.Wait()
	t.Logf("%d renders while Redis was killed and restarted, %d failed", renders.Load(), failures.Load())
	if n := failures.Load(); n != 0 {
		t.Fatalf("%d renders failed while Redis was killed and restarted; first: %v", n, firstFailure.Load())
	}
	for _, r := range replicas {
		// One line per state change, not one per failed call.
		logs := r.proc.Tail(1 << 24)
		if down, up := strings.Count(logs, "Redis unavailable"), strings.Count(logs, "Redis available again"); down != 1 || up != 1 {
			t.Errorf("%s logged 'Redis unavailable' %d times and 'Redis available again' %d times, want once each", r.name, down, up)
		}
		resp, err := http.Get("http://" + r.httpAddr + "/readyz")
		if err != nil {
			t.Fatal(err)
		}
		_ = resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("%s /readyz %s after the Redis outage", r.name, resp.Status)
		}
	}
}

// moduleRoot is the repository root, two levels above this package.
func moduleRoot(t testing.TB) string {
	t.Helper()
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	return root
}

// waitMetric waits until every replica's /metrics holds line.
func waitMetric(t *testing.T, replicas []*replica, line string) {
	t.Helper()
	for _, r := range replicas {
		harness.WaitFor(t, r.name+" metric "+line, r.proc.Done(), func() error {
			resp, err := http.Get("http://" + r.httpAddr + "/metrics")
			if err != nil {
				return err
			}
			defer resp.Body.Close()
			body, err := io.ReadAll(resp.Body)
			if err != nil {
				return err
			}
			if !strings.Contains(string(body), line) {
				return fmt.Errorf("no %q in /metrics", line)
			}
			return nil
		})
	}
}

// TestTwoRepoServersShareRedis runs two real argocd-repo-server processes
// of each Argo CD release, each with its own sidecar, all four on one
// redis-server (as in Argo CD's HA install): after a webhook reaches one
// sidecar, both repo-servers return the new tag within a second.
func TestTwoRepoServersShareRedis(t *testing.T) {
	bin := filepath.Join(pluginBinary(t, moduleRoot(t)), "argocd-image-resolver")
	cfg, err := cmp.LoadPluginConfig("")
	if err != nil {
		t.Fatal(err)
	}
	pluginName := strings.TrimSuffix(cfg.SocketName(), ".sock")
	forEachArgoCD(t, func(t *testing.T, argo argoCD) {
		redis := redistest.Start(t)
		reg := registrytest.New(t)
		image := reg.Host() + "/acme/web"
		reg.PushTags(t, "acme/web", exampleTags...)
		secret := writeSecret(t)
		sidecars := []*replica{
			startReplica(t, bin, "sidecar-1", redis.Addr(), secret),
			startReplica(t, bin, "sidecar-2", redis.Addr(), secret),
		}
		servers := []*repoServer{
			startRepoServer(t, argo.bin, redis.Addr(), filepath.Dir(sidecars[0].socket)),
			startRepoServer(t, argo.bin, redis.Addr(), filepath.Dir(sidecars[1].socket)),
		}
		repoURL, path := gitRepo(t)
		for _, rs := range servers {
			assertImage(t, rs.generate(t, repoURL, path, pluginName, appParameters(image)), image+":1.6.3")
		}
		reg.PushTags(t, "acme/web", "1.6.4")
		for _, rs := range servers {
			// Both sidecars answer from the shared cache until told.
			assertImage(t, rs.generate(t, repoURL, path, pluginName, appParameters(image)), image+":1.6.3")
		}
		notify(t, sidecars[0].httpAddr, secret, image, "1.6.4")
		// The invalidation reaches the other sidecar through Redis within a
		// second.
		announced := time.Now()
		for i, rs := range servers {
			for {
				got := containerImages(rs.generate(t, repoURL, path, pluginName, appParameters(image)))
				if len(got) == 1 && got[0] == image+":1.6.4" {
					break
				}
				if time.Since(announced) > time.Second {
					t.Fatalf("repo-server %d still returns %q more than 1s after the webhook", i+1, got)
				}
			}
		}
	})
}
