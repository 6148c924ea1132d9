package worker

import (
	"io"
	"log/slog"
	"os"
	"os/exec"
	"strconv"
	"testing"

	promtestutil "github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/argocd-image-resolver/argocd-image-resolver/test/harness"
)

// childEnv makes this test binary a render worker (TestMain), with the
// output cap in its value.
const childEnv = "WORKER_TEST_CHILD_MAX_OUTPUT"

// TestMain runs the test binary as a worker when the pool started it as
// one: the workers of these tests are real processes speaking the real
// protocol, with this package's Serve.
func TestMain(m *testing.M) {
	if v := os.Getenv(childEnv); v != "" {
		max, _ := strconv.ParseInt(v, 10, 64)
		logger := slog.New(slog.NewTextHandler(os.Stderr, nil))
		if err := Serve(os.NewFile(3, "requests"), os.NewFile(4, "answers"), logger, max); err != nil {
			logger.Error("worker failed", "error", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// testCommand starts this test binary as a worker.
func testCommand(maxOutput int64) func() *exec.Cmd {
	return func() *exec.Cmd {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), childEnv+"="+strconv.FormatInt(maxOutput, 10))
		cmd.Stdout, cmd.Stderr = io.Discard, io.Discard
		return cmd
	}
}

func newTestPool(t *testing.T, maxOutput int64, opts ...Option) *Pool {
	t.Helper()
	base := []Option{WithLogger(slog.New(slog.DiscardHandler)), WithMaxOutput(maxOutput)}
	p, err := New(testCommand(maxOutput), append(base, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	return p
}

// writeChart writes a chart whose deployment renders image.repository:
// image.tag, plus extra templates, and returns its directory.
func writeChart(t *testing.T, extra map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	files := map[string]string{
		"Chart.yaml":  "apiVersion: v2\nname: web\nversion: 0.1.0\n",
		"values.yaml": "image:\n  repository: ghcr.io/acme/web\n  tag: 1.0.0\n",
		"templates/deployment.yaml": `apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  template:
    spec:
      containers:
        - name: web
          image: "{{ .Values.image.repository }}:{{ .Values.image.tag }}"
`,
	}
	for name, body := range extra {
		files[name] = body
	}
	harness.WriteTree(t, dir, files)
	return dir
}

// testutilCount is how many workers the pool killed.
func testutilCount(p *Pool) float64 { return promtestutil.ToFloat64(p.metrics.Killed) }

// idleSnapshot lists the idle workers.
func (p *Pool) idleSnapshot() []*process {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]*process(nil), p.idle...)
}
