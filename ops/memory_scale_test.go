package ops_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/argocd-image-resolver/argocd-image-resolver/ops"
	"github.com/argocd-image-resolver/argocd-image-resolver/refresh"
	"github.com/argocd-image-resolver/argocd-image-resolver/resolve"
)

// Environment of TestMemoryAtScale.
const (
	// envMemoryScale sets how many repositories (and tracked Applications)
	// the test builds; without it a small variant runs.
	envMemoryScale = "MEMORY_SCALE"
	// envScaleRegistry makes the test binary, started again by
	// TestMemoryAtScale, serve the loopback registry (TestScaleRegistry).
	envScaleRegistry = "MEMORY_SCALE_REGISTRY"
	// envScaleProfile names where heap profiles go (optional).
	envScaleProfile = "MEMORY_SCALE_PROFILE"
	// scaleSharedImages is how many images every Application shares one
	// of (a sidecar, a proxy): each Application renders its own image and
	// one of these.
	scaleSharedImages = 10
	smallScale        = 100
)

// scaleTags are the 50 tags of every repository: 45 releases, two
// pre-releases and three tags that are not versions.
func scaleTags() []string {
	tags := make([]string, 0, 50)
	for i := range 45 {
		tags = append(tags, fmt.Sprintf("1.%d.0", i))
	}
	return append(tags, "1.45.0-rc.1", "2.0.0-beta.1", "latest", "main", "sha-0c1d2e3")
}

// TestMemoryAtScale measures what the sidecar holds for N repositories of
// 50 tags each and N tracked Applications (each rendering its own image
// and one of 10 shared ones), in one process, against a registry in
// another process on loopback (so that the registry's own memory is not
// counted): the resolver's heap once every Application rendered, the
// tracker's heap per Application, and the process's RSS before and after
// listing everything through GET /debug/cache and GET /debug/apps.
//
//	MEMORY_SCALE=10000 go test ./ops/ -run '^TestMemoryAtScale$' -v -timeout 30m
//
// Without MEMORY_SCALE it runs with 100 repositories, as a check that the
// measurement works.
func TestMemoryAtScale(t *testing.T) {
	n := smallScale
	if v := os.Getenv(envMemoryScale); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil || n < scaleSharedImages {
			t.Fatalf("%s=%q: want a number of repositories >= %d", envMemoryScale, v, scaleSharedImages)
		}
	}
	host := startScaleRegistry(t, n)

	// As serve builds them, with room for every repository, and a request
	// rate the loopback registry can take (the default is 20/s).
	conf, err := resolve.ParseRegistriesConfig([]byte("registries:\n- name: loopback\n  prefix: " + host +
		"\n  api_url: http://" + host + "\n  limit: 100000\n"))
	if err != nil {
		t.Fatal(err)
	}
	r, err := resolve.New(resolve.WithLogger(quiet()), resolve.WithRegistriesConfig(conf), resolve.WithCacheEntries(2*n))
	if err != nil {
		t.Fatal(err)
	}
	tracker := refresh.NewTracker()
	debug := httptest.NewServer(ops.NewDebugHandler(r, tracker, nil))
	t.Cleanup(debug.Close)

	specsOf := func(i int) []resolve.Spec {
		specs, err := resolve.ParseSpecs([]string{
			fmt.Sprintf("web=%s/acme/svc%05d:^1", host, i),
			fmt.Sprintf("proxy=%s/acme/svc%05d:^1", host, i%scaleSharedImages),
		}, nil)
		if err != nil {
			t.Error(err)
		}
		return specs
	}
	ctx := context.Background()
	render := func(i int) []resolve.Result {
		specs := specsOf(i)
		res, err := r.Resolve(ctx, specs)
		if err != nil || len(res) != 2 || res[0].Tag != "1.44.0" {
			t.Errorf("app %d: %+v %v", i, res, err)
		}
		return res
	}

	heap0 := heapAfterGC()
	start := time.Now()
	// Cold renders, 16 at a time (Resolve runs the specs of one render
	// concurrently; renders come in parallel from Argo CD).
	parallel(n, 16, func(i int) { render(i) })
	coldDuration := time.Since(start)
	heap1 := heapAfterGC()
	writeHeapProfile(t, "resolver")

	// Warm renders record what they rendered, as the CMP server does.
	parallel(n, 16, func(i int) {
		tracker.Record(refresh.App{
			Name: fmt.Sprintf("app-%05d", i), Namespace: "argocd", Project: "default",
			RepoURL: "https://github.com/acme/deploy.git", Path: fmt.Sprintf("apps/app-%05d", i),
		}, specsOf(i), render(i))
	})
	heap2 := heapAfterGC()
	writeHeapProfile(t, "tracker")
	rssBefore := rssBytes(t)

	// Everything the endpoints hold (limit=0; older builds ignore it and
	// list everything anyway).
	cacheBytes := fetchAll(t, debug.URL+"/debug/cache?limit=0")
	appsBytes := fetchAll(t, debug.URL+"/debug/apps?limit=0")
	rssAfter := rssBytes(t)
	runtime.KeepAlive(r)
	runtime.KeepAlive(tracker)

	mb := func(b uint64) string { return fmt.Sprintf("%.1f MB", float64(b)/1e6) }
	t.Logf("repositories=%d tags/repository=%d applications=%d (cold renders took %s)", n, len(scaleTags()), n, coldDuration.Round(time.Millisecond))
	t.Logf("resolver heap (cache and registry clients): %s", mb(heap1-min(heap0, heap1)))
	t.Logf("tracker heap: %s, %d B per Application", mb(heap2-min(heap1, heap2)), int64(heap2-min(heap1, heap2))/int64(n))
	t.Logf("RSS before the debug endpoints: %s, after: %s (x%.2f); /debug/cache %s, /debug/apps %s",
		mb(rssBefore), mb(rssAfter), float64(rssAfter)/float64(rssBefore), mb(uint64(cacheBytes)), mb(uint64(appsBytes)))
}

// writeHeapProfile writes a heap profile to $MEMORY_SCALE_PROFILE.<what>
// when that is set.
func writeHeapProfile(t *testing.T, what string) {
	base := os.Getenv(envScaleProfile)
	if base == "" {
		return
	}
	f, err := os.Create(base + "." + what)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := pprof.Lookup("heap").WriteTo(f, 0); err != nil {
		t.Fatal(err)
	}
}

func heapAfterGC() uint64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// rssBytes is the process's resident set (VmRSS).
func rssBytes(t *testing.T) uint64 {
	t.Helper()
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Skipf("no /proc/self/status: %v", err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			if err != nil {
				t.Fatalf("VmRSS %q: %v", rest, err)
			}
			return kb * 1024
		}
	}
	t.Fatal("no VmRSS in /proc/self/status")
	return 0
}

func fetchAll(t *testing.T, url string) int64 {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	n, err := io.Copy(io.Discard, resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d, %v", url, resp.StatusCode, err)
	}
	return n
}

// parallel calls fn(0..n-1), workers at a time.
func parallel(n, workers int, fn func(i int)) {
	next := make(chan int)
	done := make(chan struct{})
	for range workers {
		go func() {
			defer func() { done <- struct{}{} }()
			for i := range next {
				fn(i)
			}
		}()
	}
	for i := range n {
		next <- i
	}
	close(next)
	for range workers {
		<-done
	}
}

// startScaleRegistry starts this test binary again as a registry holding
// n repositories of 50 tags, and returns its host:port. The registry
// lives until the test ends (its stdin closes).
func startScaleRegistry(t *testing.T, n int) string {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, "-test.run=^TestScaleRegistry$")
	cmd.Env = append(os.Environ(), envScaleRegistry+"="+strconv.Itoa(n))
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		stdin.Close()
		_ = cmd.Wait()
	})
	lines := bufio.NewScanner(stdout)
	for lines.Scan() {
		if host, ok := strings.CutPrefix(lines.Text(), "registry "); ok {
			go func() { _, _ = io.Copy(io.Discard, stdout) }()
			return host
		}
	}
	t.Fatalf("the registry process ended without an address: %v", lines.Err())
	return ""
}

// TestScaleRegistry is the registry process of TestMemoryAtScale; it
// skips unless started by it.
func TestScaleRegistry(t *testing.T) {
	v := os.Getenv(envScaleRegistry)
	if v == "" {
		t.Skip("started by TestMemoryAtScale only")
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		t.Fatal(err)
	}
	h := registry.New(registry.Logger(log.New(io.Discard, "", 0)))
	srv := httptest.NewServer(h)
	defer srv.Close()
	host := strings.TrimPrefix(srv.URL, "http://")

	// One image pushed for real; its manifest is then written under every
	// tag of every repository (the registry keeps blobs once for all).
	img, err := random.Image(512, 1)
	if err != nil {
		t.Fatal(err)
	}
	ref, err := name.ParseReference(host + "/acme/base:seed")
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(ref, img); err != nil {
		t.Fatal(err)
	}
	raw, err := img.RawManifest()
	if err != nil {
		t.Fatal(err)
	}
	mt, err := img.MediaType()
	if err != nil {
		t.Fatal(err)
	}
	tags := scaleTags()
	for i := range n {
		for _, tag := range tags {
			req := httptest.NewRequest(http.MethodPut, fmt.Sprintf("/v2/acme/svc%05d/manifests/%s", i, tag), bytes.NewReader(raw))
			req.Header.Set("Content-Type", string(mt))
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != http.StatusCreated {
				t.Fatalf("PUT manifest: %d %s", rec.Code, rec.Body)
			}
		}
	}
	fmt.Printf("registry %s\n", host)
	// Serve until the parent closes stdin.
	_, _ = io.Copy(io.Discard, os.Stdin)
}
