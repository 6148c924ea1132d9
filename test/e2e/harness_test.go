package e2e

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/argocd-image-resolver/argocd-image-resolver/examples"
)

// startupTimeout bounds how long a component may take to accept
// connections; a cold argocd-repo-server on a busy machine needs seconds.
const startupTimeout = 90 * time.Second

// requireBinary returns the path named by the environment variable env. It
// skips the test when the variable is unset, unless E2E_REQUIRED=1, which
// turns the missing binary into a failure.
func requireBinary(t testing.TB, env string) string {
	t.Helper()
	path := os.Getenv(env)
	if path == "" {
		if os.Getenv("E2E_REQUIRED") == "1" {
			t.Fatalf("%s is not set but E2E_REQUIRED=1: run `make test`, which builds it", env)
		}
		t.Skipf("%s is not set: skipping the end-to-end test (run `make test` to build the binary and run it)", env)
	}
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("%s=%s: %v (run `make e2e-tools`)", env, path, err)
	}
	return path
}

// requireTool finds a program on PATH or fails the test with a hint.
func requireTool(t testing.TB, name, hint string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("E2E_REQUIRED") != "1" {
			t.Skipf("%s not found on PATH (%s): skipping the end-to-end test", name, hint)
		}
		t.Fatalf("%s not found on PATH: %s", name, hint)
	}
	return path
}

// shortTempDir returns a fresh directory under /tmp whose path is short
// enough for unix sockets (about 108 bytes at most); t.TempDir embeds the
// test name and can exceed that.
func shortTempDir(t testing.TB, prefix string) string {
	t.Helper()
	dir, err := os.MkdirTemp("/tmp", prefix)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	return dir
}

// freePort asks the kernel for a free TCP port on loopback.
func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	return port
}

// process is a third-party program started for one test. Its output goes
// to a log file that is printed when the test fails.
type process struct {
	name    string
	cmd     *exec.Cmd
	logPath string
	done    chan struct{}
	err     error
}

// startProcess starts cmd and registers a cleanup that stops it with
// SIGKILL (argocd-cmp-server ignores SIGTERM; nothing here keeps state worth
// a graceful stop) and waits for it.
func startProcess(t testing.TB, name string, cmd *exec.Cmd) *process {
	t.Helper()
	logFile, err := os.CreateTemp(t.TempDir(), name+"-*.log")
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout = logFile
	cmd.Stderr = logFile
	if err := cmd.Start(); err != nil {
		_ = logFile.Close()
		t.Fatalf("start %s: %v", name, err)
	}
	p := &process{name: name, cmd: cmd, logPath: logFile.Name(), done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		_ = logFile.Close()
		close(p.done)
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-p.done
		if t.Failed() {
			t.Logf("--- %s output (%s) ---\n%s", name, p.logPath, p.tail(16<<10))
		}
	})
	return p
}

// tail returns the last n bytes of the process log.
func (p *process) tail(n int64) string {
	data, err := os.ReadFile(p.logPath)
	if err != nil {
		return err.Error()
	}
	if int64(len(data)) > n {
		data = data[int64(len(data))-n:]
	}
	return string(data)
}

// waitListening polls a dial to network/addr until it succeeds, the process
// exits, or the startup timeout passes.
func (p *process) waitListening(t testing.TB, network, addr string) {
	t.Helper()
	waitFor(t, p.name+" listening on "+addr, p.done, func() error {
		c, err := net.DialTimeout(network, addr, time.Second)
		if err != nil {
			return err
		}
		return c.Close()
	})
}

// waitFor polls ready until it returns nil. It fails the test when exited
// is closed first (a process died) or when startupTimeout passes.
func waitFor(t testing.TB, what string, exited <-chan struct{}, ready func() error) {
	t.Helper()
	deadline := time.NewTimer(startupTimeout)
	defer deadline.Stop()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		err := ready()
		if err == nil {
			return
		}
		select {
		case <-exited:
			t.Fatalf("waiting for %s: the process exited: %v", what, err)
		case <-deadline.C:
			t.Fatalf("waiting for %s: not ready after %s: %v", what, startupTimeout, err)
		case <-tick.C:
		}
	}
}

// startRedis runs a throwaway redis-server on a free loopback port and
// returns its address.
func startRedis(t testing.TB) string {
	t.Helper()
	bin := requireTool(t, "redis-server", "install the Debian package redis-server")
	port := strconv.Itoa(freePort(t))
	cmd := exec.Command(bin, "--port", port, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
		"--dir", t.TempDir())
	p := startProcess(t, "redis-server", cmd)
	addr := "127.0.0.1:" + port
	p.waitListening(t, "tcp", addr)
	return addr
}

// repoServer is a running argocd-repo-server.
type repoServer struct {
	addr string
	argo argoCD // the release it runs
}

// startRepoServer runs argocd-repo-server from the multi-call argocd binary
// (v2.14 or v3, told apart by the binary's build info), without TLS,
// looking for plugin sockets in sockDir. When HELM_BIN is set, that helm is
// on its PATH for native Helm sources, as in Argo CD's image.
func startRepoServer(t testing.TB, argocdBin, redisAddr, sockDir string) *repoServer {
	t.Helper()
	requireTool(t, "git", "install git")
	argo := argoCDOf(t, argocdBin)
	home := t.TempDir()
	binDir := filepath.Join(home, "bin")
	if err := os.MkdirAll(binDir, 0o755); err != nil {
		t.Fatal(err)
	}
	// The repo-server runs this wrapper around `git verify-*`; GPG is off,
	// so a stub that succeeds is enough.
	if err := os.WriteFile(filepath.Join(binDir, "git-verify-wrapper.sh"), []byte("#!/bin/sh\nexit 0\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if helm := os.Getenv("HELM_BIN"); helm != "" {
		abs, err := filepath.Abs(helm)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(abs, filepath.Join(binDir, "helm")); err != nil {
			t.Fatal(err)
		}
	}
	port := strconv.Itoa(freePort(t))
	metricsPort := strconv.Itoa(freePort(t))
	args := append([]string{
		"--redis", redisAddr,
		"--address", "127.0.0.1",
		"--port", port,
		"--metrics-port", metricsPort,
		"--disable-tls",
		"--logformat", "text",
	}, argo.repoServerFlags()...)
	cmd := exec.Command(argocdBin, args...)
	cmd.Env = append(os.Environ(),
		"ARGOCD_BINARY_NAME=argocd-repo-server",
		"ARGOCD_GPG_ENABLED=false",
		"ARGOCD_PLUGINSOCKFILEPATH="+sockDir,
		"PATH="+binDir+string(os.PathListSeparator)+os.Getenv("PATH"),
		"HOME="+home,
		"TMPDIR="+t.TempDir(),
		"GIT_CONFIG_NOSYSTEM=1",
	)
	p := startProcess(t, "argocd-repo-server", cmd)
	addr := "127.0.0.1:" + port
	p.waitListening(t, "tcp", addr)
	return &repoServer{addr: addr, argo: argo}
}

// startCMPServer runs Argo CD's own argocd-cmp-server with the plugin.yaml
// in configDir. It creates its socket in sockDir; extraPath is put first on
// its PATH so that the plugin's generate command finds our binary.
func startCMPServer(t testing.TB, argocdBin, configDir, sockDir, socketName, extraPath string) {
	t.Helper()
	home := t.TempDir()
	cmd := exec.Command(argocdBin, "--config-dir-path", configDir, "--logformat", "text", "--loglevel", "debug")
	cmd.Env = append(os.Environ(),
		"ARGOCD_BINARY_NAME=argocd-cmp-server",
		"ARGOCD_PLUGINSOCKFILEPATH="+sockDir,
		"PATH="+extraPath+string(os.PathListSeparator)+os.Getenv("PATH"),
		"HOME="+home,
		"TMPDIR="+t.TempDir(),
	)
	p := startProcess(t, "argocd-cmp-server", cmd)
	p.waitListening(t, "unix", filepath.Join(sockDir, socketName))
}

// gitRepo commits the example chart under examples/web of a fresh local
// repository and returns its file:// URL and the chart's path in it.
func gitRepo(t testing.TB) (url, path string) {
	t.Helper()
	return gitRepoWith(t, nil)
}

// gitRepoWith is gitRepo with more files, keyed by their slash-separated
// path in the repository.
func gitRepoWith(t testing.TB, files map[string]string) (url, path string) {
	t.Helper()
	requireTool(t, "git", "install git")
	dir := filepath.Join(t.TempDir(), "repo")
	if _, err := examples.WriteChart(filepath.Join(dir, "examples")); err != nil {
		t.Fatal(err)
	}
	for name, data := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	git := func(args ...string) {
		t.Helper()
		cmd := exec.Command("git", args...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "GIT_CONFIG_NOSYSTEM=1", "HOME="+dir,
			"GIT_AUTHOR_NAME=e2e", "GIT_AUTHOR_EMAIL=e2e@example.invalid",
			"GIT_COMMITTER_NAME=e2e", "GIT_COMMITTER_EMAIL=e2e@example.invalid")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	git("init", "-q", "-b", "main")
	git("add", ".")
	git("commit", "-q", "-m", "example chart")
	return "file://" + dir, "examples/" + examples.ChartDir
}

// containerImages returns the image of every container in the rendered
// manifests, which may hold several YAML documents each.
func containerImages(manifests []string) []string {
	var images []string
	for _, m := range manifests {
		for _, line := range strings.Split(m, "\n") {
			line = strings.TrimSpace(line)
			if rest, ok := strings.CutPrefix(line, "image:"); ok {
				images = append(images, strings.Trim(strings.TrimSpace(rest), `"`))
			}
		}
		// Manifests from the repo-server are JSON objects.
		images = append(images, jsonImages(m)...)
	}
	return images
}

// jsonImages finds "image":"..." pairs in a JSON document.
func jsonImages(doc string) []string {
	var images []string
	const key = `"image":"`
	for {
		i := strings.Index(doc, key)
		if i < 0 {
			return images
		}
		doc = doc[i+len(key):]
		j := strings.IndexByte(doc, '"')
		if j < 0 {
			return images
		}
		images = append(images, doc[:j])
		doc = doc[j:]
	}
}

// dialUnix succeeds when something accepts connections on the socket.
func dialUnix(path string) error {
	c, err := net.DialTimeout("unix", path, time.Second)
	if err != nil {
		return err
	}
	return c.Close()
}

// runInProcess runs fn in a goroutine with a context cancelled at cleanup,
// and waits for it to return then. The returned channel is closed when fn
// returns; its error is reported through the test.
func runInProcess(t testing.TB, what string, fn func(ctx context.Context) error) <-chan struct{} {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	var runErr error
	go func() {
		defer close(done)
		runErr = fn(ctx)
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
			if runErr != nil && !errors.Is(runErr, context.Canceled) {
				t.Errorf("%s: %v", what, runErr)
			}
		case <-time.After(30 * time.Second):
			t.Errorf("%s did not stop within 30s of cancellation", what)
		}
	})
	return done
}

// dump formats manifests for failure messages.
func dump(manifests []string) string {
	var b bytes.Buffer
	for i, m := range manifests {
		fmt.Fprintf(&b, "--- manifest %d\n%s\n", i, m)
	}
	return b.String()
}
