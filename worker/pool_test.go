package worker

import (
	"context"
	"errors"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/argocd-image-resolver/argocd-image-resolver/cmp"
	"github.com/argocd-image-resolver/argocd-image-resolver/egress"
	"github.com/argocd-image-resolver/argocd-image-resolver/render"
)

func webImage(tag string) render.Image {
	return render.Image{Alias: "web", Repository: "ghcr.io/acme/web", Tag: tag}
}

// prepareAndRender is one render through the pool, as the pipeline does it.
func prepareAndRender(ctx context.Context, p *Pool, req render.Request) (*render.Output, int, error) {
	prep, err := p.Prepare(ctx, req)
	if err != nil {
		return nil, 0, err
	}
	defer prep.Close()
	pid := prep.(*lease).w.pid()
	if _, err := prep.Pins(); err != nil {
		return nil, pid, err
	}
	out, err := prep.Render(ctx, req.Images)
	return out, pid, err
}

// TestRenderInAWorkerMatchesInProcess: the manifests and the report of
// what was written are the in-process render's, and the pins too.
func TestRenderInAWorkerMatchesInProcess(t *testing.T) {
	p := newTestPool(t, DefaultMaxOutput, WithSize(1))
	dir := writeChart(t, nil)
	req := render.Request{ChartDir: dir, ReleaseName: "web", Images: []render.Image{webImage("1.6.3")}}
	want, err := render.Render(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 { // the worker is reused
		got, _, err := prepareAndRender(context.Background(), p, req)
		if err != nil {
			t.Fatalf("render %d: %v", i, err)
		}
		if strings.Join(got.Manifests, "---\n") != strings.Join(want.Manifests, "---\n") {
			t.Fatalf("render %d:\n%s\nwant\n%s", i, got.Manifests, want.Manifests)
		}
		if len(got.Injections) != 1 || got.Injections[0].Values["image.tag"] != "1.6.3" {
			t.Fatalf("injections %+v", got.Injections)
		}
	}
	pinned := req
	pinned.Parameters = map[string]string{"image.overrideTag": "1.2.3"}
	pinned.Values = "image:\n  overrideTag: \"\"\n"
	prep, err := p.Prepare(context.Background(), pinned)
	if err != nil {
		t.Fatal(err)
	}
	defer prep.Close()
	if pins, err := prep.Pins(); err != nil || pins["web"] != "1.2.3" {
		t.Fatalf("pins %v %v, want web pinned to 1.2.3", pins, err)
	}
}

// gone reports whether no process with pid exists any more.
func gone(pid int) bool { return errors.Is(syscall.Kill(pid, 0), syscall.ESRCH) }

// TestRunawayTemplateIsStopped: a template that loops for minutes fails at
// its deadline, and its worker no longer exists when the error returns (no
// CPU is used after the answer); the next render gets a fresh worker.
func TestRunawayTemplateIsStopped(t *testing.T) {
	p := newTestPool(t, DefaultMaxOutput, WithSize(1))
	runaway := writeChart(t, map[string]string{
		"templates/loop.yaml": "{{- range $i := until 100000 }}{{- range $j := until 100000 }}{{- end }}{{- end }}\n",
	})
	req := render.Request{ChartDir: runaway, Images: []render.Image{webImage("1.6.3")}}
	prep, err := p.Prepare(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	pid := prep.(*lease).w.pid()
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_, err = prep.Render(ctx, req.Images)
	deadline, _ := ctx.Deadline()
	t.Logf("the render returned %v after its deadline, its worker already gone", time.Since(deadline).Round(time.Millisecond))
	prep.Close()
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want the deadline", err)
	}
	if !strings.Contains(err.Error(), "worker was stopped") {
		t.Errorf("err = %v; want it to say the worker was stopped", err)
	}
	if !gone(pid) {
		t.Fatalf("worker %d still exists after the render returned", pid)
	}
	out, pid2, err := prepareAndRender(context.Background(), p, render.Request{ChartDir: writeChart(t, nil), Images: []render.Image{webImage("1.6.4")}})
	if err != nil {
		t.Fatalf("render after a stopped one: %v", err)
	}
	if pid2 == pid || !strings.Contains(out.Manifests[0], "ghcr.io/acme/web:1.6.4") {
		t.Fatalf("second render by worker %d (first %d): %v", pid2, pid, out.Manifests)
	}
}

// TestMemoryLimitStopsARender: a template that builds a 1 GiB string is
// stopped when its worker passes the memory limit.
func TestMemoryLimitStopsARender(t *testing.T) {
	// The limit leaves room for a worker built with -race.
	p := newTestPool(t, DefaultMaxOutput, WithSize(1), WithMemoryLimit(384<<20))
	hog := writeChart(t, map[string]string{
		"templates/hog.yaml": `{{- $s := "0123456789abcdef" }}{{- range until 26 }}{{- $s = print $s $s }}{{- end }}# {{ len $s }}` + "\n",
	})
	_, pid, err := prepareAndRender(context.Background(), p, render.Request{ChartDir: hog, Images: []render.Image{webImage("1.6.3")}})
	var mem *MemoryLimitError
	if !errors.As(err, &mem) || !errors.Is(err, cmp.ErrRenderLimit) {
		t.Fatalf("err = %v, want a memory limit error", err)
	}
	if pid == 0 {
		t.Fatalf("the worker was stopped while loading the chart, before the template ran: %v", err)
	}
	if !gone(pid) {
		t.Fatalf("worker %d still exists", pid)
	}
}

// TestOutputCap: manifests over the cap are refused by the worker, which
// stays in service.
func TestOutputCap(t *testing.T) {
	p := newTestPool(t, 2048, WithSize(1))
	big := writeChart(t, map[string]string{
		"templates/big.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: big\ndata:\n  x: {{ repeat 4096 \"x\" | quote }}\n",
	})
	_, pid, err := prepareAndRender(context.Background(), p, render.Request{ChartDir: big, Images: []render.Image{webImage("1.6.3")}})
	if !errors.Is(err, cmp.ErrRenderLimit) || !strings.Contains(err.Error(), "--render-max-output") {
		t.Fatalf("err = %v, want the output cap", err)
	}
	_, pid2, err := prepareAndRender(context.Background(), p, render.Request{ChartDir: writeChart(t, nil), Images: []render.Image{webImage("1.6.3")}})
	if err != nil || pid2 != pid {
		t.Fatalf("after a refused output: err %v, worker %d (was %d); want the same worker to render", err, pid2, pid)
	}
}

// TestErrorsKeepTheirKind: what the server decides on crosses the process
// boundary: the stage a render failed in and a connection the rules
// refused, with the message of the in-process render.
func TestErrorsKeepTheirKind(t *testing.T) {
	p := newTestPool(t, DefaultMaxOutput, WithSize(1))
	typo := render.Request{ChartDir: writeChart(t, nil), Images: []render.Image{{Alias: "web", Tag: "1.6.3", TagPath: "image.tg"}}}
	_, inErr := render.Render(context.Background(), typo)
	_, _, err := prepareAndRender(context.Background(), p, typo)
	if err == nil || inErr == nil || err.Error() != inErr.Error() {
		t.Fatalf("worker error %q, in process %q", err, inErr)
	}
	var se *render.StageError
	if !errors.As(err, &se) {
		t.Fatalf("%v: the stage is lost", err)
	}

	rules := egress.Restricted("test `allowed`", nil, nil)
	deps := writeChart(t, map[string]string{
		"Chart.yaml": "apiVersion: v2\nname: web\nversion: 0.1.0\ndependencies:\n  - name: lib\n    version: 1.0.0\n    repository: oci://registry.example.com/charts\n",
	})
	_, _, err = prepareAndRender(context.Background(), p, render.Request{ChartDir: deps, Images: []render.Image{webImage("1.6.3")},
		Dependencies: render.DependencyOptions{Policy: rules, MaxBytes: 1 << 20}})
	var refused *egress.RefusedError
	if !errors.As(err, &refused) {
		t.Fatalf("err = %v, want a refusal by the rules", err)
	}
}

// TestIdleWorkerThatDiedIsReplaced: a worker killed from outside while
// idle is noticed and replaced at the next render.
func TestIdleWorkerThatDiedIsReplaced(t *testing.T) {
	p := newTestPool(t, DefaultMaxOutput, WithSize(1))
	req := render.Request{ChartDir: writeChart(t, nil), Images: []render.Image{webImage("1.6.3")}}
	_, pid, err := prepareAndRender(context.Background(), p, req)
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, pid2, err := prepareAndRender(ctx, p, req); err != nil || pid2 == pid {
		t.Fatalf("after the worker was killed: err %v, worker %d (was %d)", err, pid2, pid)
	}
}

// TestPreparedButNotRenderedIsGivenBack: a lease closed without a render
// (the parameters announcement) frees its worker for the next one.
func TestPreparedButNotRenderedIsGivenBack(t *testing.T) {
	p := newTestPool(t, DefaultMaxOutput, WithSize(1))
	req := render.Request{ChartDir: writeChart(t, nil), Images: []render.Image{webImage("1.6.3")}}
	for range 3 {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		prep, err := p.Prepare(ctx, req)
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		prep.Close()
	}
}

// TestWorkersRunNoProgram: workers start with an empty PATH, so that
// nothing they render can find a program to run (Kustomize looks up git
// for remote bases).
func TestWorkersRunNoProgram(t *testing.T) {
	for _, limit := range []int64{0, 256 << 20} {
		env := (&Pool{memLimit: limit}).env()
		if !slices.Contains(env, "PATH=") {
			t.Errorf("memory limit %d: worker env %q keeps PATH", limit, env)
		}
	}
}
