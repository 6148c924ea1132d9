// Package harness holds what the end-to-end test packages (test/e2e,
// test/loop) share to run real programs beside a test: required binaries
// and tools, short socket folders, free ports, processes whose output is
// printed when the test fails, in-process commands stopped at cleanup, and
// waiting for something to become ready.
//
// Binaries and tools are skipped when missing, unless E2E_REQUIRED=1 (as in
// `make test`), where a missing one fails the test.
package harness

import (
	"bytes"
	"context"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// StartupTimeout bounds how long a component may take to accept
// connections; a cold argocd binary on a busy machine needs seconds.
const StartupTimeout = 90 * time.Second

// RequireBinary returns the path named by the environment variable env. It
// skips the test when the variable is unset, unless E2E_REQUIRED=1, which
// turns the missing binary into a failure.
func RequireBinary(tb testing.TB, env string) string {
	tb.Helper()
	path := os.Getenv(env)
	if path == "" {
		if os.Getenv("E2E_REQUIRED") == "1" {
			tb.Fatalf("%s is not set but E2E_REQUIRED=1: run `make test`, which builds it", env)
		}
		tb.Skipf("%s is not set: skipping (run `make test` to build the binaries and run this test)", env)
	}
	if _, err := os.Stat(path); err != nil {
		tb.Fatalf("%s=%s: %v (run `make e2e-tools`)", env, path, err)
	}
	return path
}

// RequireTool finds a program on PATH, or skips the test with the hint
// (fails it under E2E_REQUIRED=1).
func RequireTool(tb testing.TB, name, hint string) string {
	tb.Helper()
	path, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("E2E_REQUIRED") != "1" {
			tb.Skipf("%s not found on PATH (%s): skipping", name, hint)
		}
		tb.Fatalf("%s not found on PATH: %s", name, hint)
	}
	return path
}

// ShortTempDir returns a fresh directory under /tmp whose path is short
// enough for unix sockets (about 108 bytes at most); TempDir embeds the
// test name and can exceed that.
func ShortTempDir(tb testing.TB, prefix string) string {
	tb.Helper()
	dir, err := os.MkdirTemp("/tmp", prefix)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = os.RemoveAll(dir) })
	return dir
}

// FreePort asks the kernel for a free TCP port on loopback.
func FreePort(tb testing.TB) int {
	tb.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	if err := l.Close(); err != nil {
		tb.Fatal(err)
	}
	return port
}

// Process is a program started for one test. Its output goes to a log file
// that is printed when the test fails.
type Process struct {
	name    string
	cmd     *exec.Cmd
	logPath string
	done    chan struct{}
}

// StartProcess starts cmd and registers a cleanup that stops it with
// SIGKILL (argocd-cmp-server ignores SIGTERM; nothing here keeps state
// worth a graceful stop) and waits for it.
func StartProcess(tb testing.TB, name string, cmd *exec.Cmd) *Process {
	tb.Helper()
	logFile, err := os.CreateTemp(tb.TempDir(), name+"-*.log")
	if err != nil {
		tb.Fatal(err)
	}
	cmd.Stdout = logFile
	cmd.Stderr = logFile
	if err := cmd.Start(); err != nil {
		_ = logFile.Close()
		tb.Fatalf("start %s: %v", name, err)
	}
	p := &Process{name: name, cmd: cmd, logPath: logFile.Name(), done: make(chan struct{})}
	go func() {
		_ = cmd.Wait()
		_ = logFile.Close()
		close(p.done)
	}()
	tb.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-p.done
		if tb.Failed() {
			tb.Logf("--- %s output (%s) ---\n%s", name, p.logPath, p.Tail(24<<10))
		}
	})
	return p
}

// Done is closed when the process has exited.
func (p *Process) Done() <-chan struct{} { return p.done }

// Signal sends sig to the process (SIGTERM, to stop it as Kubernetes
// does).
func (p *Process) Signal(sig os.Signal) error { return p.cmd.Process.Signal(sig) }

// Tail returns the last n bytes of the process's output.
func (p *Process) Tail(n int64) string {
	data, err := os.ReadFile(p.logPath)
	if err != nil {
		return err.Error()
	}
	if int64(len(data)) > n {
		data = data[int64(len(data))-n:]
	}
	return string(data)
}

// WaitListening waits until something accepts connections on
// network/addr, failing the test when the process exits first or
// StartupTimeout passes.
func (p *Process) WaitListening(tb testing.TB, network, addr string) {
	tb.Helper()
	WaitFor(tb, p.name+" listening on "+addr, p.done, func() error { return Dial(network, addr) })
}

// Dial succeeds when something accepts connections on network/addr.
func Dial(network, addr string) error {
	c, err := net.DialTimeout(network, addr, time.Second)
	if err != nil {
		return err
	}
	return c.Close()
}

// WaitFor polls ready until it returns nil. It fails the test when exited
// is closed first (a process died) or when StartupTimeout passes.
func WaitFor(tb testing.TB, what string, exited <-chan struct{}, ready func() error) {
	tb.Helper()
	deadline := time.NewTimer(StartupTimeout)
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
			tb.Fatalf("waiting for %s: the process exited: %v", what, err)
		case <-deadline.C:
			tb.Fatalf("waiting for %s: not ready after %s: %v", what, StartupTimeout, err)
		case <-tick.C:
		}
	}
}

// Poll checks cond every 50 ms until it returns nil, and fails the test
// with its last error after timeout.
func Poll(tb testing.TB, what string, timeout time.Duration, cond func() error) {
	tb.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		err := cond()
		if err == nil {
			return
		}
		select {
		case <-deadline.C:
			tb.Fatalf("waiting %s for %s: %v", timeout, what, err)
		case <-tick.C:
		}
	}
}

// RunInProcess runs fn in a goroutine with a context cancelled at cleanup,
// and waits for it to return then; an error other than the cancellation
// fails the test. The returned channel is closed when fn returns.
func RunInProcess(tb testing.TB, what string, fn func(ctx context.Context) error) <-chan struct{} {
	tb.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	var runErr error
	go func() {
		defer close(done)
		runErr = fn(ctx)
	}()
	tb.Cleanup(func() {
		cancel()
		select {
		case <-done:
			if runErr != nil && !errors.Is(runErr, context.Canceled) {
				tb.Errorf("%s: %v", what, runErr)
			}
		case <-time.After(30 * time.Second):
			tb.Errorf("%s did not stop within 30s of cancellation", what)
		}
	})
	return done
}

// SyncBuffer is a bytes.Buffer safe for concurrent writers, such as the
// loggers of a server running in the test process.
type SyncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *SyncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *SyncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// WriteTree writes files (slash-separated path under root: content),
// making the folders they need.
func WriteTree(t testing.TB, root string, files map[string]string) {
	t.Helper()
	for p, body := range files {
		full := filepath.Join(root, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
