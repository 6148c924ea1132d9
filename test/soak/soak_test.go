package soak

import (
	"bufio"
	"bytes"
	stdcmp "cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/argoproj/argo-cd/v3/cmpserver/apiclient"
	"github.com/argoproj/argo-cd/v3/pkg/apis/application/v1alpha1"
	argocmp "github.com/argoproj/argo-cd/v3/util/cmp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/argocd-image-resolver/argocd-image-resolver/cmp"
	"github.com/argocd-image-resolver/argocd-image-resolver/plugin"
	"github.com/argocd-image-resolver/argocd-image-resolver/test/harness"
	"github.com/argocd-image-resolver/argocd-image-resolver/test/registrytest"
)

const (
	// registryLimit is the registries.conf `limit` of the loopback
	// registry, in requests per second. The chart's three repositories
	// with --cache-ttl 2s ask for about 3 requests per second without
	// faults (a tag list and a HEAD per repository per expiry), so a
	// limit of 2 makes the limiter hold requests back; at 10 it would
	// never act.
	registryLimit = 2
	// registryBurst is the token bucket's size for that limit:
	// resolve/limits.go builds rate.NewLimiter(limit, max(1, int(limit))).
	registryBurst = max(1, int(registryLimit))

	clients        = 4
	renderDeadline = 30 * time.Second
	cacheTTL       = 2 * time.Second
	faultSeed      = 11

	// goroutineFloor is the absolute allowance for goroutines: about 20
	// goroutines run besides idle connections, 10 % of which is 2, and a
	// few start and end with single events (a gRPC connection torn down
	// on the server side after its client closed it, a render worker being
	// replaced, a stall of the registry answered late) and may be caught
	// in either snapshot. A leak of one goroutine per render, request or
	// fault would pass it by hundreds.
	goroutineFloor = 5
	// maxIdlePerHost is egress.NewTransport's MaxIdleConnsPerHost: serve
	// keeps at most that many idle connections to the registry.
	maxIdlePerHost = 16
	// flatShare is how much the heap and the goroutines may grow.
	flatShare = 0.10
)

// soakDuration is how long the faults are on: SOAK (a Go duration) when
// set, 20 s with -short, else 2 minutes.
func soakDuration(t *testing.T) time.Duration {
	t.Helper()
	if v := os.Getenv("SOAK"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			t.Fatalf("SOAK=%q: want a positive Go duration such as 10m", v)
		}
		return d
	}
	if testing.Short() {
		return 20 * time.Second
	}
	return 2 * time.Minute
}

// images are the chart's three images: alias, repository, constraint,
// tags pushed, and the tag the constraint picks.
var images = []struct {
	alias, repo, constraint string
	tags                    []string
	want                    string
}{
	{"web", "acme/web", "~1.6", []string{"1.5.0", "1.6.2", "1.6.3", "1.7.0"}, "1.6.3"},
	{"api", "acme/api", "^2", []string{"2.0.0", "2.1.4", "3.0.0"}, "2.1.4"},
	{"worker", "acme/worker", "", []string{"0.9.0", "1.0.0"}, "1.0.0"},
}

// TestSoakUnderRegistryFaults: four clients render continuously through
// the CMP socket of `serve` while the registry fails a third of the
// requests in various ways. After a warm-up without faults (so a cached
// value exists for every image), no render may fail: stale values carry
// them. The registry sees no more requests than the registries.conf limit
// lets through, and the heap and the goroutines of the process are as
// they were after the warm-up.
func TestSoakUnderRegistryFaults(t *testing.T) {
	run := soakDuration(t)
	warm := 5 * time.Second
	if testing.Short() {
		warm = 3 * time.Second
	}
	for _, v := range []string{"HELM_CACHE_HOME", "HELM_CONFIG_HOME", "HELM_DATA_HOME"} {
		t.Setenv(v, t.TempDir())
	}

	// Seconds the per-second counts cover: warm-up is before arming; the
	// run, the clients' last renders and the settling after it.
	faults := newFaultInjector(faultSeed, int(run/time.Second)+120)
	reg := registrytest.New(t, registrytest.WithHandler(faults.wrap))
	for _, img := range images {
		reg.PushTags(t, img.repo, img.tags...)
	}
	conf := filepath.Join(t.TempDir(), "registries.conf")
	confText := fmt.Sprintf("registries:\n- name: soak\n  prefix: %s\n  api_url: http://%s\n  limit: %d\n", reg.Host(), reg.Host(), registryLimit)
	if err := os.WriteFile(conf, []byte(confText), 0o644); err != nil {
		t.Fatal(err)
	}
	srv := startServe(t, "--registries-conf", conf)
	repo := writeChart(t)
	env := func(app string) []string { return pluginEnv(t, reg.Host(), app) }
	var want []string
	for _, img := range images {
		want = append(want, reg.Host()+"/"+img.repo+":"+img.want)
	}
	c := &clientSet{socket: srv.socket, repo: repo, env: env, want: want}

	// Warm-up without faults: one render per client at once (each image
	// resolved and cached), then continuous renders across a cache expiry
	// so that every path a render takes has run once.
	c.once(t)
	warmStats := c.run(warm)
	if warmStats.failures > 0 {
		t.Fatalf("warm-up without faults: %d of %d renders failed; first: %s", warmStats.failures, warmStats.renders, warmStats.errors)
	}
	start := settle(t)
	metricsStart := srv.metrics(t)

	// The run: faults on, clients rendering, for the run's duration.
	t0 := time.Now()
	seen0 := faults.seen.Load()
	faults.arm(t0)
	stats := c.run(run)
	faults.disarm()
	clientsStopped := time.Since(t0)

	end := settle(t)
	seen1 := faults.seen.Load()
	window := time.Since(t0)
	metricsEnd := srv.metrics(t)

	kinds := faults.counts()
	registryRequests := seen1 - seen0
	// Every request sent to the registry took a token from the host's
	// bucket first (limitTransport.RoundTrip calls waitToken before each
	// attempt, the retries of a 429 after Retry-After included, and
	// go-containerregistry's own retries are off), so over the window the
	// bucket lets through at most its burst (full at the start, the
	// clients being quiet) plus limit x window. The only requests that take
	// no token are net/http's own: a GET or HEAD on a reused connection
	// that is reset before any answer is sent again, once per reset.
	bound := float64(registryBurst) + registryLimit*window.Seconds() + float64(kinds[connReset])
	limiterSent := metricsEnd.sum("argocd_image_resolver_registry_requests_total", `registry="soak"`) -
		metricsStart.sum("argocd_image_resolver_registry_requests_total", `registry="soak"`)
	maxSecond, maxSecondAt, busiest := 0, 0, 0
	for i := 0; i < int(clientsStopped/time.Second); i++ {
		n := int(faults.perSecond[i].Load())
		if n > maxSecond {
			maxSecond, maxSecondAt = n, i
		}
		if n >= registryLimit {
			busiest++
		}
	}
	stale := metricsEnd.sum("argocd_image_resolver_resolutions_total", `result="stale"`) -
		metricsStart.sum("argocd_image_resolver_resolutions_total", `result="stale"`)
	fresh := metricsEnd.sum("argocd_image_resolver_resolutions_total", `result="ok"`) -
		metricsStart.sum("argocd_image_resolver_resolutions_total", `result="ok"`)
	resolveErrors := metricsEnd.sum("argocd_image_resolver_resolutions_total", `result="error"`) -
		metricsStart.sum("argocd_image_resolver_resolutions_total", `result="error"`)
	killed := metricsEnd.sum("argocd_image_resolver_render_workers_killed_total", "") -
		metricsStart.sum("argocd_image_resolver_render_workers_killed_total", "")

	t.Logf("soak: %s of faults (clients stopped after %s, counted over %s), %d clients, render deadline %s, cache-ttl %s, limit %d/s (burst %d), seed %d",
		run, clientsStopped.Round(time.Millisecond), window.Round(time.Millisecond), clients, renderDeadline, cacheTTL, registryLimit, registryBurst, faultSeed)
	t.Logf("warm-up: %d renders in %s, %.1f renders/s, 0 failures", warmStats.renders, warm, float64(warmStats.renders)/warm.Seconds())
	t.Logf("renders: %d, %.1f renders/s, %d failed; latency mean %s, max %s",
		stats.renders, float64(stats.renders)/clientsStopped.Seconds(), stats.failures, stats.mean().Round(time.Millisecond), stats.max.Round(time.Millisecond))
	t.Logf("resolutions (per image, from /metrics): %.0f ok, %.0f stale, %.0f error; render workers killed: %.0f", fresh, stale, resolveErrors, killed)
	t.Logf("registry: %d requests seen in %s = %.2f req/s (limiter let %.0f through, the rest are net/http resends after resets); bound %.0f = burst %d + %d/s x %.1fs + %d resets",
		registryRequests, window.Round(time.Millisecond), float64(registryRequests)/window.Seconds(), limiterSent, bound, registryBurst, registryLimit, window.Seconds(), kinds[connReset])
	t.Logf("registry: busiest second %d requests (second %d), %d seconds at or above the limit; faults: %s",
		maxSecond, maxSecondAt, busiest, describeKinds(kinds))
	t.Logf("heap (HeapAlloc after GC): start %.1f MiB, end %.1f MiB (%+.1f %%)",
		mib(start.heap), mib(end.heap), 100*(float64(end.heap)/float64(start.heap)-1))
	t.Logf("serve's log: %s", srv.logSummary())
	t.Logf("goroutines: start %d (%d of them idle HTTP keep-alive connections), end %d (%d)",
		start.goroutines, start.connGoroutines, end.goroutines, end.connGoroutines)

	if stats.failures > 0 {
		t.Errorf("%d of %d renders failed under registry faults, though every image had a cached value; first errors:\n%s",
			stats.failures, stats.renders, stats.errors)
	}
	if stats.renders == 0 {
		t.Error("no render finished during the run")
	}
	if float64(registryRequests) > bound {
		t.Errorf("the registry saw %d requests in %s, more than the limiter allows: %.0f", registryRequests, window, bound)
	}
	if heapLimit := float64(start.heap) * (1 + flatShare); float64(end.heap) > heapLimit {
		t.Errorf("heap grew from %d to %d bytes, more than %.0f %%", start.heap, end.heap, 100*flatShare)
	}
	// Keep-alive HTTP connections are a pool, not a leak, and how many
	// are idle at a given moment depends on how many requests overlapped
	// last: they are compared apart from the others. Serve keeps at most
	// maxIdlePerHost idle connections to the registry, 3 goroutines each
	// here (its read and write loops, and the registry's side, which runs
	// in this process); the pushes' connections were there at the start.
	// A connection leaked per request (an answer body never closed) would
	// pass that bound within seconds of faults.
	startOther, endOther := start.goroutines-start.connGoroutines, end.goroutines-end.connGoroutines
	if limit := startOther + max(int(flatShare*float64(startOther)), goroutineFloor); endOther > limit {
		t.Errorf("goroutines other than idle connections grew from %d to %d (allowed %d); new stacks at the end:\n%s",
			startOther, endOther, limit, newStacks(start.stacks, end.stacks))
	}
	if limit := start.connGoroutines + 3*maxIdlePerHost; end.connGoroutines > limit {
		t.Errorf("goroutines of HTTP connections grew from %d to %d, more than serve's idle pool holds (allowed %d); new stacks at the end:\n%s",
			start.connGoroutines, end.connGoroutines, limit, newStacks(start.stacks, end.stacks))
	}
}

// --- serve ----------------------------------------------------------

// served is `serve` running in this process.
type served struct {
	socket   string
	httpAddr string
	logPath  string
	client   *http.Client // no keep-alive: scrapes leave no connection behind
}

// startServe runs the serve command as a user would, with its socket in a
// short folder, and waits until /readyz answers.
func startServe(t *testing.T, extra ...string) *served {
	t.Helper()
	sockDir, err := os.MkdirTemp("", "soak")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(sockDir) })
	httpAddr := freeAddr(t)
	logPath := filepath.Join(t.TempDir(), "serve.log")
	logFile, err := os.Create(logPath) // a file: the log must not grow the heap
	if err != nil {
		t.Fatal(err)
	}
	root := plugin.NewRootCommand()
	root.SetArgs(append([]string{"serve",
		"--socket-dir", sockDir,
		"--work-dir", t.TempDir(),
		"--http-addr", httpAddr,
		"--debug-addr", "",
		"--refresh-backend", "none",
		"--log-format", "json",
		"--cache-ttl", cacheTTL.String(),
	}, extra...))
	root.SetOut(logFile)
	root.SetErr(logFile)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- root.ExecuteContext(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil && !errors.Is(err, context.Canceled) {
				t.Errorf("serve: %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Errorf("serve did not stop within 30s of cancellation")
		}
		_ = logFile.Close()
		if t.Failed() {
			t.Logf("--- end of serve's log (%s) ---\n%s", logPath, tail(logPath, 8<<10))
		}
	})

	pluginCfg, err := cmp.LoadPluginConfig("")
	if err != nil {
		t.Fatal(err)
	}
	s := &served{
		socket:   filepath.Join(sockDir, pluginCfg.SocketName()),
		httpAddr: httpAddr,
		logPath:  logPath,
		client:   &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}},
	}
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	deadline := time.NewTimer(60 * time.Second)
	defer deadline.Stop()
	for {
		resp, err := s.client.Get("http://" + httpAddr + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return s
			}
			err = errors.New(resp.Status)
		}
		select {
		case serr := <-done:
			t.Fatalf("serve exited before it was ready: %v\n%s", serr, tail(logPath, 8<<10))
		case <-deadline.C:
			t.Fatalf("serve not ready after 60s: %v\n%s", err, tail(logPath, 8<<10))
		case <-tick.C:
		}
	}
}

// logSummary counts serve's log lines by level and message, most
// frequent first.
func (s *served) logSummary() string {
	data, err := os.ReadFile(s.logPath)
	if err != nil {
		return err.Error()
	}
	counts := map[string]int{}
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		var rec struct{ Level, Msg string }
		if json.Unmarshal([]byte(line), &rec) == nil {
			counts[rec.Level+" "+strconv.Quote(rec.Msg)]++
		}
	}
	keys := make([]string, 0, len(counts))
	for k := range counts {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b string) int { return stdcmp.Compare(counts[b], counts[a]) })
	var parts []string
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%d x %s", counts[k], k))
	}
	return strings.Join(parts, "; ")
}

// scrape is one read of /metrics.
type scrape []string

func (s *served) metrics(t *testing.T) scrape {
	t.Helper()
	resp, err := s.client.Get("http://" + s.httpAddr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var lines scrape
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if line := sc.Text(); !strings.HasPrefix(line, "#") {
			lines = append(lines, line)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return lines
}

// sum adds the samples of metric whose labels contain label ("" for all).
func (s scrape) sum(metric, label string) float64 {
	var total float64
	for _, line := range s {
		name, rest, _ := strings.Cut(line, " ")
		base, labels, _ := strings.Cut(name, "{")
		if base != metric || !strings.Contains(labels, label) {
			continue
		}
		fields := strings.Fields(rest)
		if len(fields) == 0 {
			continue
		}
		if v, err := strconv.ParseFloat(fields[0], 64); err == nil {
			total += v
		}
	}
	return total
}

// --- clients --------------------------------------------------------

// clientSet renders the chart through the socket as the repo-server does:
// a new connection per render, Argo CD's own stream sender.
type clientSet struct {
	socket string
	repo   string
	env    func(app string) []string
	want   []string // image references every render must show
}

// runStats adds up the renders of a run.
type runStats struct {
	renders, failures int
	total, max        time.Duration
	errors            string // the first few errors
}

func (s runStats) mean() time.Duration {
	if s.renders == 0 {
		return 0
	}
	return s.total / time.Duration(s.renders)
}

// once renders once per client, at the same time, and fails the test on
// any error.
func (c *clientSet) once(t *testing.T) {
	t.Helper()
	errs := make([]error, clients)
	var wg sync.WaitGroup
	for i := range clients {
		wg.Go(func() { errs[i] = c.renderOnce(fmt.Sprintf("soak-%d", i)) })
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatalf("first renders without faults: %v", err)
	}
}

// run renders continuously from every client until d has passed, then
// lets each client's last render finish.
func (c *clientSet) run(d time.Duration) runStats {
	var stopped atomic.Bool
	var mu sync.Mutex
	var out runStats
	var wg sync.WaitGroup
	for i := range clients {
		app := fmt.Sprintf("soak-%d", i)
		wg.Go(func() {
			for !stopped.Load() {
				began := time.Now()
				err := c.renderOnce(app)
				took := time.Since(began)
				mu.Lock()
				out.renders++
				out.total += took
				out.max = max(out.max, took)
				if err != nil {
					out.failures++
					if out.failures <= 5 {
						out.errors += fmt.Sprintf("  %s after %s: %v\n", app, took.Round(time.Millisecond), err)
					}
				}
				mu.Unlock()
			}
		})
	}
	timer := time.NewTimer(d) // the run's clock
	<-timer.C
	stopped.Store(true)
	wg.Wait()
	return out
}

// renderOnce sends the chart with a 30 s deadline and checks the images
// of the answer.
func (c *clientSet) renderOnce(app string) error {
	ctx, cancel := context.WithTimeout(context.Background(), renderDeadline)
	defer cancel()
	conn, err := grpc.NewClient("unix://"+c.socket, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return err
	}
	defer conn.Close()
	stream, err := apiclient.NewConfigManagementPluginServiceClient(conn).GenerateManifest(ctx)
	if err != nil {
		return err
	}
	var resp *apiclient.ManifestResponse
	if err := argocmp.SendRepoStream(ctx, filepath.Join(c.repo, "apps/soak"), c.repo, stream, c.env(app), nil); err != nil && !errors.Is(err, io.EOF) {
		if _, rerr := stream.CloseAndRecv(); rerr != nil {
			return rerr
		}
		return err
	}
	if resp, err = stream.CloseAndRecv(); err != nil {
		return err
	}
	all := strings.Join(resp.Manifests, "\n")
	for _, ref := range c.want {
		if !strings.Contains(all, `image: "`+ref+`"`) && !strings.Contains(all, "image: "+ref+"\n") {
			return fmt.Errorf("the manifests do not run %s:\n%s", ref, all)
		}
	}
	return nil
}

// pluginEnv is the env Argo CD sends for the Application app: three
// images, each with its own value paths.
func pluginEnv(t *testing.T, host, app string) []string {
	t.Helper()
	var specs []string
	opts := map[string]string{}
	for _, img := range images {
		spec := img.alias + "=" + host + "/" + img.repo
		if img.constraint != "" {
			spec += ":" + img.constraint
		}
		specs = append(specs, spec)
		opts[img.alias+".helm.image-name"] = img.alias + ".image.repository"
		opts[img.alias+".helm.image-tag"] = img.alias + ".image.tag"
	}
	params := v1alpha1.ApplicationSourcePluginParameters{
		{Name: "images", OptionalArray: &v1alpha1.OptionalArray{Array: specs}},
		{Name: "image-options", OptionalMap: &v1alpha1.OptionalMap{Map: opts}},
	}
	env, err := params.Environ()
	if err != nil {
		t.Fatal(err)
	}
	return append(env, "ARGOCD_APP_NAME="+app, "ARGOCD_APP_NAMESPACE=soak", "ARGOCD_APP_PROJECT_NAME=default", "KUBE_VERSION=1.31")
}

// writeChart writes a repository with one small chart running the three
// images.
func writeChart(t *testing.T) string {
	t.Helper()
	values := ""
	for _, img := range images {
		values += img.alias + ":\n  image:\n    repository: example.invalid/" + img.alias + "\n    tag: \"0.0.0\"\n"
	}
	files := map[string]string{
		"apps/soak/Chart.yaml":  "apiVersion: v2\nname: soak\nversion: 0.1.0\n",
		"apps/soak/values.yaml": values,
		"apps/soak/templates/deployment.yaml": `apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ .Release.Name }}
spec:
  selector:
    matchLabels:
      app: {{ .Release.Name }}
  template:
    metadata:
      labels:
        app: {{ .Release.Name }}
    spec:
      containers:
{{- range $name := list "web" "api" "worker" }}
        - name: {{ $name }}
          image: "{{ (index $.Values $name).image.repository }}:{{ (index $.Values $name).image.tag }}"
{{- end }}
`,
	}
	root := t.TempDir()
	harness.WriteTree(t, root, files)
	return root
}

// --- heap and goroutines --------------------------------------------

// snapshot is the process's heap and goroutines at one quiet moment.
type snapshot struct {
	heap           uint64 // HeapAlloc after GC
	goroutines     int    // runtime.NumGoroutine
	connGoroutines int    // of which idle HTTP keep-alive connections
	stacks         map[string]int
}

// settle waits until the goroutine count has been the same for a second
// (the last renders' connections are torn down asynchronously; polled on
// a ticker, for at most 15 s), then collects garbage and reads the heap.
func settle(t *testing.T) snapshot {
	t.Helper()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	deadline := time.Now().Add(15 * time.Second)
	last, same := -1, 0
	for same < 10 && time.Now().Before(deadline) {
		<-tick.C
		if n := runtime.NumGoroutine(); n == last {
			same++
		} else {
			last, same = n, 0
		}
	}
	// Two collections: the first moves sync.Pool contents to the victim
	// cache, the second frees them.
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	s := snapshot{heap: ms.HeapAlloc, goroutines: runtime.NumGoroutine(), stacks: map[string]int{}}
	for _, g := range goroutineStacks() {
		if isIdleConn(g) {
			s.connGoroutines++
		}
		s.stacks[topFunctions(g)]++
	}
	return s
}

// goroutineStacks is every goroutine's stack, one string each.
func goroutineStacks() []string {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			return strings.Split(strings.TrimSpace(string(buf[:n])), "\n\n")
		}
		buf = make([]byte, 2*len(buf))
	}
}

// isIdleConn tells the goroutines of a kept-alive HTTP/1 connection: the
// client transport's read and write loops and the server's conn.
func isIdleConn(stack string) bool {
	return strings.Contains(stack, "net/http.(*persistConn).readLoop") ||
		strings.Contains(stack, "net/http.(*persistConn).writeLoop") ||
		strings.Contains(stack, "net/http.(*conn).serve")
}

// topFunctions names a goroutine by the functions of its stack (no
// arguments, addresses or goroutine ids), for comparing snapshots.
func topFunctions(stack string) string {
	var fns []string
	for _, line := range strings.Split(stack, "\n")[1:] {
		if strings.HasPrefix(line, "\t") || strings.HasPrefix(line, "created by") {
			continue
		}
		if i := strings.LastIndex(line, "("); i > 0 {
			line = line[:i]
		}
		fns = append(fns, line)
		if len(fns) == 6 {
			break
		}
	}
	return strings.Join(fns, " < ")
}

// newStacks lists the goroutine kinds more numerous at the end.
func newStacks(start, end map[string]int) string {
	var b bytes.Buffer
	keys := make([]string, 0, len(end))
	for k := range end {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		if d := end[k] - start[k]; d > 0 {
			fmt.Fprintf(&b, "  +%d %s\n", d, k)
		}
	}
	return b.String()
}

// --- helpers --------------------------------------------------------

func describeKinds(k [numFaults]int64) string {
	var parts []string
	for i, n := range k {
		parts = append(parts, fmt.Sprintf("%s %d", faultNames[i], n))
	}
	return strings.Join(parts, ", ")
}

func mib(b uint64) float64 { return float64(b) / (1 << 20) }

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// tail is the end of a file, for failure messages.
func tail(path string, n int64) string {
	f, err := os.Open(path)
	if err != nil {
		return err.Error()
	}
	defer f.Close()
	if fi, err := f.Stat(); err == nil && fi.Size() > n {
		_, _ = f.Seek(fi.Size()-n, io.SeekStart)
	}
	b, _ := io.ReadAll(f)
	return string(b)
}
