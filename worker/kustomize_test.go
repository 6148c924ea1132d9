package worker

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/argoproj/argo-cd/v3/cmpserver/apiclient"
	argocmp "github.com/argoproj/argo-cd/v3/util/cmp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"sigs.k8s.io/kustomize/api/types"
	"sigs.k8s.io/yaml"

	"github.com/argocd-image-resolver/argocd-image-resolver/cmp"
	"github.com/argocd-image-resolver/argocd-image-resolver/kustomization"
	"github.com/argocd-image-resolver/argocd-image-resolver/resolve"
)

// writeFiles writes files (slash paths to contents) under dir.
func writeFiles(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, body := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// diamond is a kustomization at apps/k that names the base apps/l0 2^levels
// times (each level names the one below twice, under two name prefixes);
// the base's ConfigMap carries size bytes of data.
func diamond(levels, size int) map[string]string {
	files := map[string]string{
		"apps/l0/kustomization.yaml": "resources: [cm.yaml]\n",
		"apps/l0/cm.yaml":            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\ndata:\n  x: \"" + strings.Repeat("x", size) + "\"\n",
		"apps/k/kustomization.yaml":  fmt.Sprintf("resources: [../l%d]\n", levels),
	}
	for i := 1; i <= levels; i++ {
		for _, side := range []string{"a", "b"} {
			files[fmt.Sprintf("apps/l%d/%s/kustomization.yaml", i, side)] = fmt.Sprintf("namePrefix: %s-\nresources: [../../l%d]\n", side, i-1)
		}
		files[fmt.Sprintf("apps/l%d/kustomization.yaml", i)] = "resources: [a, b]\n"
	}
	return files
}

// hog is a diamond within the bounds of one build (about 160 reads, 224
// MiB) whose build holds 32 copies of a 7 MiB ConfigMap, each parsed and
// copied by Kustomize: far more memory than a worker may use.
func hog() map[string]string { return diamond(5, 7<<20) }

// build is the Kustomize build of the folder app of the repository at
// root as the pipeline makes it: its kustomization with images set.
func build(t *testing.T, root, app string, images ...types.Image) cmp.KustomizeBuild {
	t.Helper()
	file := app + "/kustomization.yaml"
	data, err := os.ReadFile(filepath.Join(root, filepath.FromSlash(file)))
	if err != nil {
		t.Fatal(err)
	}
	var k types.Kustomization
	if err := k.Unmarshal(data); err != nil {
		t.Fatal(err)
	}
	k.Images = kustomization.SetImages(k.Images, images...)
	if data, err = yaml.Marshal(&k); err != nil {
		t.Fatal(err)
	}
	return cmp.KustomizeBuild{Path: app, File: file, Kustomization: data}
}

// TestKustomizeInAWorkerMatchesInProcess: a Kustomize build through the
// pool, over a repository in memory or on disk, returns the documents of
// the same build in process (the edited kustomization read instead of the
// repository's), and its worker is given back for the next build.
func TestKustomizeInAWorkerMatchesInProcess(t *testing.T) {
	p := newTestPool(t, DefaultMaxOutput, WithSize(1))
	root, err := filepath.Abs(filepath.Join("..", "cmp", "testdata", "repo"))
	if err != nil {
		t.Fatal(err)
	}
	repos := map[string]cmp.Repo{"memory": cmp.MemoryRepo(treeFromDir(t, root, nil)), "disk": cmp.DiskRepo(root)}
	img := types.Image{Name: "ghcr.io/acme/web", NewName: "registry.example.com/acme/web", Digest: "sha256:" + strings.Repeat("a", 64)}
	var pid int
	for name, repo := range repos {
		for _, app := range []string{"kustomize/overlays/prod", "kustomize/overlays/staging"} {
			b := build(t, root, app, img)
			want, err := b.Run(context.Background(), repo)
			if err != nil {
				t.Fatal(err)
			}
			got, err := p.Kustomize(context.Background(), repo, b)
			if err != nil {
				t.Fatalf("%s %s: %v", name, app, err)
			}
			if strings.Join(got, "---\n") != strings.Join(want, "---\n") {
				t.Fatalf("%s %s:\n%s\nwant\n%s", name, app, got, want)
			}
			if !strings.Contains(strings.Join(got, ""), "registry.example.com/acme/web@sha256:") {
				t.Fatalf("%s %s: the edited kustomization was not built:\n%s", name, app, got)
			}
			idle := p.idleSnapshot()
			if len(idle) != 1 || (pid != 0 && idle[0].pid() != pid) {
				t.Fatalf("%s %s: idle workers %v, want the one worker (%d) given back", name, app, idle, pid)
			}
			pid = idle[0].pid()
		}
		// A failed build keeps its type and message.
		b := cmp.KustomizeBuild{Path: "kustomize/overlays/prod", File: "kustomize/overlays/prod/kustomization.yaml", Kustomization: []byte("resources: [nowhere.yaml]\n")}
		_, want := b.Run(context.Background(), repo)
		_, err := p.Kustomize(context.Background(), repo, b)
		var ke *cmp.KustomizeError
		if !errors.As(err, &ke) || ke.Path != b.Path || want == nil || err.Error() != want.Error() {
			t.Fatalf("%s: a failed build: %v, in process %v", name, err, want)
		}
	}
}

// oneIdle waits for the pool's one worker to be idle and returns its pid.
func oneIdle(t *testing.T, p *Pool) int {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if idle := p.idleSnapshot(); len(idle) == 1 {
			return idle[0].pid()
		}
	}
	t.Fatal("no idle worker after 30s")
	return 0
}

// TestKustomizeBuildIsStopped: a build that multiplies a large base, within
// the read bounds of one build, is stopped by killing its worker when its
// memory passes the limit, or when its context ends; the worker is gone
// when the error returns, and the next build runs on a new one.
func TestKustomizeBuildIsStopped(t *testing.T) {
	repoDir := t.TempDir()
	writeFiles(t, repoDir, hog())
	writeFiles(t, repoDir, map[string]string{
		"apps/fine/kustomization.yaml": "resources: [cm.yaml]\n",
		"apps/fine/cm.yaml":            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: fine\n",
	})
	repo := cmp.MemoryRepo(treeFromDir(t, repoDir, nil))
	fine := build(t, repoDir, "apps/fine")
	for _, c := range []struct {
		name    string
		opts    []Option
		within  time.Duration
		check   func(error) bool
		message string
	}{
		{"memory limit", []Option{WithMemoryLimit(256 << 20)}, 30 * time.Second,
			func(err error) bool {
				var mem *MemoryLimitError
				return errors.As(err, &mem) && errors.Is(err, cmp.ErrRenderLimit)
			},
			"--render-memory-limit"},
		{"deadline", nil, time.Second,
			func(err error) bool { return errors.Is(err, context.DeadlineExceeded) },
			"its worker was stopped (a Kustomize build cannot be interrupted)"},
	} {
		t.Run(c.name, func(t *testing.T) {
			p := newTestPool(t, DefaultMaxOutput, append([]Option{WithSize(1)}, c.opts...)...)
			pid := oneIdle(t, p)
			ctx, cancel := context.WithTimeout(context.Background(), c.within)
			defer cancel()
			start := time.Now()
			_, err := p.Kustomize(ctx, repo, build(t, repoDir, "apps/k"))
			t.Logf("stopped after %v: %v", time.Since(start).Round(time.Millisecond), err)
			if !c.check(err) || !strings.Contains(err.Error(), c.message) {
				t.Fatalf("err = %v, want it stopped (%s)", err, c.message)
			}
			if !gone(pid) {
				t.Fatalf("worker %d still exists after the build returned", pid)
			}
			docs, err := p.Kustomize(context.Background(), repo, fine)
			if err != nil || len(docs) != 1 || !strings.Contains(docs[0], "name: fine") {
				t.Fatalf("the next build: %v %v", docs, err)
			}
			if pid2 := oneIdle(t, p); pid2 == pid {
				t.Fatalf("the next build ran on the stopped worker %d", pid)
			}
			if got := testutilCount(p); got != 1 {
				t.Fatalf("%v workers killed, want 1", got)
			}
		})
	}
}

// TestKustomizeErrorsThroughTheSocket: through the CMP socket, with the
// pool building the kustomizations of repositories in memory and on disk,
// what a build refuses fails with InvalidArgument and the message of the
// build in process (the same message, for a repository in memory); a build
// over the memory limit fails with ResourceExhausted.
func TestKustomizeErrorsThroughTheSocket(t *testing.T) {
	pool := newTestPool(t, DefaultMaxOutput, WithSize(2), WithMemoryLimit(256<<20))
	clients := map[string]apiclient.ConfigManagementPluginServiceClient{
		"in process": startSocketServer(t),
		"memory":     startSocketServer(t, cmp.WithRenderer(pool), cmp.WithKustomizer(pool)),
		"disk":       startSocketServer(t, cmp.WithRenderer(pool), cmp.WithKustomizer(pool), cmp.WithMaxMemoryRepo(0)),
	}
	k := func(body string) map[string]string { return map[string]string{"apps/k/kustomization.yaml": body} }
	cm := "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: local\n"
	cases := []struct {
		name  string
		files map[string]string
		want  string
		// only: where the case runs, when not everywhere (a build
		// that reaches the read bounds takes seconds).
		only string
	}{
		{"remote in a base", map[string]string{"apps/k/kustomization.yaml": "resources: [base]\n", "apps/k/base/kustomization.yaml": "resources: [https://example.com/cm.yaml]\n"},
			"apps/k/base/kustomization.yaml: resources entry", ""},
		{"duplicate key in a base", map[string]string{"apps/k/kustomization.yaml": "resources: [base]\n", "apps/k/base/cm.yaml": cm,
			"apps/k/base/kustomization.yaml": "resources: [cm.yaml]\nresources: [https://example.com/cm.yaml]\n"}, "is a remote reference", ""},
		{"helm generator config", map[string]string{"apps/k/kustomization.yaml": "generators: [g.yaml]\n",
			"apps/k/g.yaml": "apiVersion: builtin\nkind: HelmChartInflationGenerator\nmetadata:\n  name: h\nchartName: web\n"}, "helmCharts are not supported", ""},
		{"base outside the repository", k("resources: [../../../../../../../../etc]\n"), "accumulating resources from '../../../../../../../../etc'", ""},
		{"missing resource", k("resources: [nowhere.yaml]\n"), "nowhere.yaml", ""},
		{"image name Kustomize panics on", map[string]string{"apps/k/kustomization.yaml": "resources: [pod.yaml]\nimages:\n- name: \"(\"\n  newTag: \"2\"\n",
			"apps/k/pod.yaml": "apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\nspec:\n  containers:\n  - name: c\n    image: web:1\n"},
			"Kustomize stopped on something in the kustomization it does not check", ""},
		{"base named many times over", diamond(10, 0), "the build read more than", "memory"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			repo := t.TempDir()
			writeFiles(t, repo, c.files)
			var inProcess string
			for _, where := range []string{"in process", "memory", "disk"} {
				if c.only != "" && c.only != where {
					continue
				}
				_, err := generateFrom(t, clients[where], repo, "apps/k", 30*time.Second)
				st, _ := status.FromError(err)
				if st.Code() != codes.InvalidArgument || !strings.Contains(st.Message(), c.want) {
					t.Fatalf("%s: got %v %q, want InvalidArgument containing %q", where, st.Code(), st.Message(), c.want)
				}
				switch where {
				case "in process":
					inProcess = st.Message()
				case "memory":
					if inProcess != "" && st.Message() != inProcess {
						t.Errorf("through a worker:\n%s\nin process:\n%s", st.Message(), inProcess)
					}
				}
			}
		})
	}

	repo := t.TempDir()
	writeFiles(t, repo, hog())
	_, err := generateFrom(t, clients["memory"], repo, "apps/k", 30*time.Second)
	if st, _ := status.FromError(err); st.Code() != codes.ResourceExhausted || !strings.Contains(st.Message(), "--render-memory-limit") {
		t.Fatalf("a build over the memory limit: %v, want ResourceExhausted", err)
	}
}

// startSocketServer serves the CMP socket with opts and returns a client
// of it.
func startSocketServer(t *testing.T, opts ...cmp.Option) apiclient.ConfigManagementPluginServiceClient {
	t.Helper()
	resolver, err := resolve.New(resolve.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		t.Fatal(err)
	}
	sockDir, err := os.MkdirTemp("", "wk")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(sockDir) })
	srv, err := cmp.New(resolver, append([]cmp.Option{cmp.WithSocketDir(sockDir), cmp.WithWorkDir(t.TempDir()),
		cmp.WithParallelism(1), cmp.WithLogger(slog.New(slog.DiscardHandler))}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Listen(); err != nil { // the socket exists before the first dial
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

// generateFrom sends the repository at repo, for the application path app,
// as the repo-server does, with Argo CD's own client.
func generateFrom(t *testing.T, client apiclient.ConfigManagementPluginServiceClient, repo, app string, within time.Duration) (*apiclient.ManifestResponse, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	stream, err := client.GenerateManifest(ctx)
	if err != nil {
		return nil, err
	}
	env := []string{"ARGOCD_APP_NAME=" + filepath.Base(app), "ARGOCD_APP_NAMESPACE=default", "KUBE_VERSION=1.31.0"}
	if err := argocmp.SendRepoStream(ctx, filepath.Join(repo, filepath.FromSlash(app)), repo, stream, env, nil); err != nil && !errors.Is(err, io.EOF) {
		return nil, err
	}
	return stream.CloseAndRecv()
}
