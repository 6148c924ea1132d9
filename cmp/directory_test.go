package cmp

import (
	"context"
	"strings"
	"testing"

	"github.com/argoproj/argo-cd/v3/pkg/apis/application/v1alpha1"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/argocd-image-resolver/argocd-image-resolver/test/registrytest"
	"github.com/argocd-image-resolver/argocd-image-resolver/test/tartest"
)

// plainEnv is the env of a directory Application of testdata's apps/plain
// resolving web (on the test registry; the manifests run it behind a
// registry proxy, mirror.example/cache/) with extra parameters.
func plainEnv(t *testing.T, reg *testRegistry, extra ...v1alpha1.ApplicationSourcePluginParameter) []string {
	params := v1alpha1.ApplicationSourcePluginParameters{arrayParam("images", "web="+reg.host+"/acme/web:~1.6")}
	return pluginEnv(t, "plain", append(params, extra...))
}

const (
	plainResolved = "image: mirror.example/cache/acme/web:1.6.3\n"
	plainOld      = "image: mirror.example/cache/acme/web:0.9.0"
)

// TestDirectoryThroughTheSocket: an application path with no Chart.yaml is
// read as Argo CD reads a directory source (.yaml with several documents,
// .yml, .json; other files and non-Kubernetes YAML left out; sub-folders
// only with directory-recurse), and the resolved image is written into
// every workload container that runs the repository, other images and
// non-workload kinds left alone; two renders are byte-identical.
func TestDirectoryThroughTheSocket(t *testing.T) {
	reg := newTestRegistry(t)
	registrytest.Push(t, reg.host+"/acme/web:1.6.3")
	registrytest.Push(t, reg.host+"/acme/web:1.6.0")
	h := startServer(t, reg)
	for _, c := range []struct {
		name       string
		params     []v1alpha1.ApplicationSourcePluginParameter
		written    int
		kinds      []string
		notKinds   []string
		configMaps int
	}{
		{"defaults", nil, 3, []string{"kind: Deployment", "kind: CronJob", "kind: Pod"}, []string{"kind: Job\n"}, 1},
		{"recurse", []v1alpha1.ApplicationSourcePluginParameter{strParam("directory-recurse", "true")}, 4, []string{"kind: Deployment", "kind: CronJob", "kind: Pod", "kind: Job\n", "name: web-migrate"}, nil, 1},
		{"recurse off", []v1alpha1.ApplicationSourcePluginParameter{strParam("directory-recurse", "false")}, 3, []string{"kind: Deployment"}, []string{"kind: Job\n"}, 1},
		{"include brace glob", []v1alpha1.ApplicationSourcePluginParameter{strParam("directory-include", "{deployment.yaml,pod.json}")}, 2, []string{"kind: Deployment", "kind: Pod"}, []string{"kind: CronJob"}, 1},
		{"exclude", []v1alpha1.ApplicationSourcePluginParameter{strParam("directory-exclude", "*.json")}, 2, []string{"kind: Deployment", "kind: CronJob"}, []string{"kind: Pod"}, 1},
		{"recurse with include across folders", []v1alpha1.ApplicationSourcePluginParameter{strParam("directory-recurse", "true"), strParam("directory-include", "*job.yaml")}, 1, []string{"kind: Job\n"}, []string{"kind: Deployment", "kind: CronJob"}, 0},
		{"exclude wins over include", []v1alpha1.ApplicationSourcePluginParameter{strParam("directory-include", "*.y*ml"), strParam("directory-exclude", "cron.yml")}, 1, []string{"kind: Deployment"}, []string{"kind: CronJob"}, 1},
	} {
		t.Run(c.name, func(t *testing.T) {
			env := plainEnv(t, reg, c.params...)
			first, err := h.generate(context.Background(), t, "apps/plain", env)
			if err != nil {
				t.Fatal(err)
			}
			text := manifestsText(first)
			if n := strings.Count(text, plainResolved); n != c.written {
				t.Errorf("%s is in %d containers, want %d:\n%s", plainResolved, n, c.written, text)
			}
			mustContain(t, text, c.kinds...)
			for _, k := range c.notKinds {
				if strings.Contains(text, k) {
					t.Errorf("%q rendered, want it left out:\n%s", k, text)
				}
			}
			if c.configMaps > 0 {
				// The ConfigMap's data and the other container are not
				// workload images of the alias.
				mustContain(t, text, "data:\n  image: mirror.example/cache/acme/web:0.9.0", "image: docker.io/library/busybox:1.36")
			}
			if strings.Contains(text, "owners") || strings.Contains(text, "Plain manifests") {
				t.Errorf("a file that is no manifest was rendered:\n%s", text)
			}
			if strings.Contains(text, "kind: Pod") && !strings.Contains(text, "memory: 134217728\n") {
				t.Errorf("the Pod's numbers are not kept as written:\n%s", text)
			}
			second, err := h.generate(context.Background(), t, "apps/plain", env)
			if err != nil {
				t.Fatal(err)
			}
			if again := manifestsText(second); again != text {
				t.Errorf("two renders differ:\n%s\n---\n%s", text, again)
			}
		})
	}
	h.assertNoLeftovers(t)
}

// TestDirectoryPinModes: the reference is written in the alias's pin
// form, as with the rewrite option of a chart.
func TestDirectoryPinModes(t *testing.T) {
	reg := newTestRegistry(t)
	d := registrytest.Push(t, reg.host+"/acme/web:1.6.3")
	h := startServer(t, reg)
	for pin, want := range map[string]string{
		"digest":     "image: mirror.example/cache/acme/web@" + d.String() + "\n",
		"tag+digest": "image: mirror.example/cache/acme/web:1.6.3@" + d.String() + "\n",
	} {
		env := plainEnv(t, reg, mapParam("image-options", map[string]string{"web.pin": pin}))
		resp, err := h.generate(context.Background(), t, "apps/plain", env)
		if err != nil {
			t.Fatalf("pin %s: %v", pin, err)
		}
		if n := strings.Count(manifestsText(resp), want); n != 3 {
			t.Errorf("pin %s: %q in %d containers, want 3", pin, want, n)
		}
	}
}

// TestDirectoryNoWorkloadRunsTheAlias: the rendered check holds for plain
// manifests: an alias that no workload runs fails the render, naming it.
func TestDirectoryNoWorkloadRunsTheAlias(t *testing.T) {
	reg := newTestRegistry(t)
	registrytest.Push(t, reg.host+"/acme/web:1.6.3")
	registrytest.Push(t, reg.host+"/acme/api:2.0.0")
	h := startServer(t, reg)
	env := pluginEnv(t, "plain", v1alpha1.ApplicationSourcePluginParameters{
		arrayParam("images", "web="+reg.host+"/acme/web:~1.6", "api="+reg.host+"/acme/api:^2"),
	})
	_, err := h.generate(context.Background(), t, "apps/plain", env)
	st, _ := status.FromError(err)
	if st.Code() != codes.InvalidArgument || !strings.Contains(st.Message(), `image "api": no workload in the manifests at path "apps/plain" runs `+reg.host+"/acme/api") {
		t.Fatalf("err = %v, want InvalidArgument naming alias api", err)
	}
	// Excluding every file that runs web fails the same way.
	_, err = h.generate(context.Background(), t, "apps/plain", plainEnv(t, reg, strParam("directory-include", "deployment.yaml"), strParam("directory-exclude", "deployment.yaml")))
	if err == nil || !strings.Contains(err.Error(), "no Kubernetes manifests in it") {
		t.Fatalf("err = %v, want the empty directory named", err)
	}
}

// TestDirectoryRefused: broken manifests and bad globs
// are refused with a message naming the cause.
func TestDirectoryRefused(t *testing.T) {
	reg := newTestRegistry(t)
	h := startServer(t, reg)
	deploy := "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n"
	for _, c := range []struct {
		name  string
		files []tartest.Entry
		env   []string
		want  string
	}{
		{"broken manifest", []tartest.Entry{tartest.File("apps/k/d.yaml", deploy+"spec: [\n")}, nil, `manifests at path "apps/k": d.yaml: document 1`},
		{"bad document after a good one", []tartest.Entry{tartest.File("apps/k/d.yaml", deploy+"---\nowners: [a]\n")}, nil, "d.yaml: document 2: not a Kubernetes object"},
		{"two JSON objects", []tartest.Entry{tartest.File("apps/k/d.json", `{"kind":"Pod"}{"kind":"Pod"}`)}, nil, "d.json: a JSON file holds one object"},
		{"bad glob", []tartest.Entry{tartest.File("apps/k/d.yaml", deploy)}, []string{`ARGOCD_APP_PARAMETERS=[{"name":"directory-include","string":"{a.yaml"}]`}, "parameter directory-include"},
		{"bad recurse", []tartest.Entry{tartest.File("apps/k/d.yaml", deploy)}, []string{`ARGOCD_APP_PARAMETERS=[{"name":"directory-recurse","string":"yes please"}]`}, `parameter "directory-recurse": want "true" or "false"`},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := h.sendRaw(context.Background(), t, rawStream{appRelPath: "apps/k", data: tartest.Tgz(t, c.files...), env: c.env})
			st, _ := status.FromError(err)
			if st.Code() != codes.InvalidArgument || !strings.Contains(st.Message(), c.want) {
				t.Errorf("got %v %q, want InvalidArgument containing %q", st.Code(), st.Message(), c.want)
			}
		})
	}
}

// TestDirectoryNoImages: with no image configured, the manifests are
// returned as read (a List gives its items, skipped files stay out).
func TestDirectoryNoImages(t *testing.T) {
	reg := newTestRegistry(t)
	h := startServer(t, reg)
	files := []tartest.Entry{
		tartest.File("apps/k/list.yaml", "apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: ConfigMap\n  metadata:\n    name: a\n- apiVersion: v1\n  kind: ConfigMap\n  metadata:\n    name: b\n"),
		tartest.File("apps/k/skipped.yaml", "# +argocd:skip-file-rendering\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: skipped\n"),
		tartest.File("apps/k/"+RepoConfigFile, "values: \"x: 1\"\n"),
	}
	resp, err := h.sendRaw(context.Background(), t, rawStream{appRelPath: "apps/k", data: tartest.Tgz(t, files...)})
	if err != nil {
		t.Fatal(err)
	}
	if got := resp.GetManifests(); len(got) != 2 || !strings.Contains(got[0], "name: a") || !strings.Contains(got[1], "name: b") {
		t.Errorf("manifests = %q, want the two items of the List", got)
	}
}
