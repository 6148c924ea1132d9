package render

import (
	"context"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// BenchmarkRenderVsHelmTemplate renders the `helm create` scaffold in
// process and with a `helm template` process in the same run, alternating
// the two, and reports both times and their ratio.
//
//	HELM_BIN=$PWD/.cache/helm-v3.22.0/helm go test ./render/ -run '^$' -bench RenderVsHelmTemplate -benchtime 20x
func BenchmarkRenderVsHelmTemplate(b *testing.B) {
	bin := helmBin(b)
	root := copyCharts(b)
	req := Request{
		RepoRoot: root, ChartDir: filepath.Join(root, "scaffold"), Dependencies: testDeps(b),
		ReleaseName: "web", Namespace: "shop", KubeVersion: "1.31",
		Images: []Image{{Alias: "web", Repository: "nginx", Tag: "1.27.3"}},
	}
	out, err := Render(context.Background(), req)
	if err != nil {
		b.Fatal(err)
	}
	args := cliArgs(b, req, req.ChartDir, out)
	env := helmEnv(b, testDeps(b))

	var inProcess, process time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		start := time.Now()
		if _, err := Render(context.Background(), req); err != nil {
			b.Fatal(err)
		}
		inProcess += time.Since(start)

		start = time.Now()
		cmd := exec.Command(bin, args...)
		cmd.Env = env
		if err := cmd.Run(); err != nil {
			b.Fatal(err)
		}
		process += time.Since(start)
	}
	b.StopTimer()
	n := float64(b.N)
	b.ReportMetric(float64(inProcess.Microseconds())/n, "inprocess-µs/op")
	b.ReportMetric(float64(process.Microseconds())/n, "helm-template-µs/op")
	b.ReportMetric(float64(process)/float64(inProcess), "helm/inprocess")
}

// BenchmarkRender measures the in-process render alone.
func BenchmarkRender(b *testing.B) {
	root := copyCharts(b)
	req := Request{
		RepoRoot: root, ChartDir: filepath.Join(root, "scaffold"), Dependencies: testDeps(b),
		ReleaseName: "web", Namespace: "shop", KubeVersion: "1.31",
		Images: []Image{{Alias: "web", Repository: "nginx", Tag: "1.27.3"}},
	}
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if _, err := Render(context.Background(), req); err != nil {
			b.Fatal(err)
		}
	}
}
