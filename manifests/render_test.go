package manifests

import (
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
)

const (
	argoCDNamespace = "argocd"
	sidecarName     = "image-resolver"
	repoServer      = "argocd-repo-server"
	configMapName   = "argocd-image-resolver-config"
	// overlayDir and componentDir are where render lays files out in the
	// in-memory file system, mirroring a user's repository.
	overlayDir   = "/repo/argocd"
	componentDir = "/repo/argocd-image-resolver/manifests/sidecar"
)

// baseKustomization is what a user writes: Argo CD's install manifest in
// the argocd namespace, plus the component.
const baseKustomization = `apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
namespace: argocd
resources:
  - install.yaml
`

const withComponent = baseKustomization + `components:
  - ../argocd-image-resolver/manifests/sidecar
`

// argoCDRelease is an Argo CD release whose install manifests the component
// must fit: its argo-cd module, as required by a module of this repository
// (the main module builds against v3; hack/argocd-v2 builds the v2.14
// binary for the end-to-end tests).
type argoCDRelease struct {
	module   string
	requirer string // the requiring module's folder, relative to this package
}

// argoCDReleases are the releases the tests cover, the one the main module
// builds against first.
var argoCDReleases = []argoCDRelease{
	{module: "github.com/argoproj/argo-cd/v3", requirer: ".."},
	{module: "github.com/argoproj/argo-cd/v2", requirer: "../hack/argocd-v2"},
}

// moduleDir is where a module lives in the module cache.
type moduleDir struct {
	dir, version string
}

// locate runs `go mod download -json` in the requiring module, which finds
// the version that module selects and fetches it into the module cache
// when it is not there yet (after `make e2e-tools` both are).
func (r argoCDRelease) locate() (moduleDir, error) {
	moduleDirsMu.Lock()
	defer moduleDirsMu.Unlock()
	if d, ok := moduleDirs[r.module]; ok {
		return d, nil
	}
	cmd := exec.Command("go", "mod", "download", "-json", r.module)
	cmd.Dir = r.requirer
	out, err := cmd.Output()
	if err != nil {
		if ee, ok := err.(*exec.ExitError); ok {
			err = fmt.Errorf("%w: %s", err, ee.Stderr)
		}
		return moduleDir{}, fmt.Errorf("go mod download -json %s in %s: %w", r.module, r.requirer, err)
	}
	var info struct {
		Dir, Version, Error string
	}
	if err := json.Unmarshal(out, &info); err != nil {
		return moduleDir{}, fmt.Errorf("go mod download -json %s: %w", r.module, err)
	}
	if info.Error != "" || info.Dir == "" {
		return moduleDir{}, fmt.Errorf("go mod download %s in %s: %s", r.module, r.requirer, info.Error)
	}
	d := moduleDir{dir: info.Dir, version: info.Version}
	moduleDirs[r.module] = d
	return d, nil
}

var (
	moduleDirsMu sync.Mutex
	moduleDirs   = map[string]moduleDir{}
)

// version is the release's version, e.g. "v2.14.21".
func (r argoCDRelease) version(t *testing.T) string {
	t.Helper()
	d, err := r.locate()
	if err != nil {
		t.Fatalf("locating Argo CD's manifests: %v", err)
	}
	return d.version
}

// file reads a file of the release's argo-cd module from the module cache.
func (r argoCDRelease) file(t *testing.T, rel string) []byte {
	t.Helper()
	d, err := r.locate()
	if err != nil {
		t.Fatalf("locating Argo CD's manifests: %v", err)
	}
	data, err := os.ReadFile(filepath.Join(d.dir, rel))
	if err != nil {
		t.Fatalf("reading Argo CD %s's %s: %v", d.version, rel, err)
	}
	return data
}

// forEachRelease runs fn as a subtest per release, named by its version.
func forEachRelease(t *testing.T, fn func(t *testing.T, r argoCDRelease)) {
	t.Helper()
	for _, r := range argoCDReleases {
		t.Run(r.version(t), func(t *testing.T) { fn(t, r) })
	}
}

// argoCDFile reads a file of the argo-cd module this repository builds
// against, from the module cache.
func argoCDFile(t *testing.T, rel string) []byte {
	t.Helper()
	return argoCDReleases[0].file(t, rel)
}

// withInstall returns extra files for render that replace Argo CD's
// install.yaml by the given manifest of release r.
func withInstall(t *testing.T, r argoCDRelease, rel string) map[string]string {
	t.Helper()
	return map[string]string{"install.yaml": string(r.file(t, rel))}
}

// render builds kustomization (placed next to Argo CD's install.yaml) with
// the sidecar component available at its relative path, plus any extra
// files for the overlay directory, and returns the objects.
//
// Builds are memoised (Argo CD's install.yaml is large): callers must not
// modify the returned objects.
func render(t *testing.T, kustomization string, extra map[string]string) []*unstructured.Unstructured {
	t.Helper()
	key := kustomization
	for _, name := range slices.Sorted(maps.Keys(extra)) {
		key += "\x00" + name + "\x00" + extra[name]
	}
	renderMu.Lock()
	defer renderMu.Unlock()
	if objs, ok := rendered[key]; ok {
		return objs
	}
	objs := build(t, kustomization, extra)
	rendered[key] = objs
	return objs
}

var (
	renderMu sync.Mutex
	rendered = map[string][]*unstructured.Unstructured{}
)

func build(t *testing.T, kustomization string, extra map[string]string) []*unstructured.Unstructured {
	t.Helper()
	fs := filesys.MakeFsInMemory()
	write := func(path string, data []byte) {
		if err := fs.MkdirAll(filepath.Dir(path)); err != nil {
			t.Fatal(err)
		}
		if err := fs.WriteFile(path, data); err != nil {
			t.Fatal(err)
		}
	}
	write(filepath.Join(overlayDir, "install.yaml"), argoCDFile(t, "manifests/install.yaml"))
	write(filepath.Join(overlayDir, "kustomization.yaml"), []byte(kustomization))
	for name, data := range extra {
		write(filepath.Join(overlayDir, name), []byte(data))
	}
	entries, err := os.ReadDir("sidecar")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		data, err := os.ReadFile(filepath.Join("sidecar", e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		write(filepath.Join(componentDir, e.Name()), data)
	}
	rm, err := krusty.MakeKustomizer(krusty.MakeDefaultOptions()).Run(fs, overlayDir)
	if err != nil {
		t.Fatalf("kustomize build: %v", err)
	}
	var objs []*unstructured.Unstructured
	for _, r := range rm.Resources() {
		m, err := r.Map()
		if err != nil {
			t.Fatal(err)
		}
		objs = append(objs, &unstructured.Unstructured{Object: m})
	}
	return objs
}

// find returns the object of that kind and name, failing the test when
// there is none.
func find(t *testing.T, objs []*unstructured.Unstructured, kind, name string) *unstructured.Unstructured {
	t.Helper()
	for _, o := range objs {
		if o.GetKind() == kind && o.GetName() == name {
			return o
		}
	}
	t.Fatalf("rendered output has no %s %q", kind, name)
	return nil
}

// findPrefix is find for generated names that carry a hash suffix.
func findPrefix(t *testing.T, objs []*unstructured.Unstructured, kind, prefix string) *unstructured.Unstructured {
	t.Helper()
	for _, o := range objs {
		if o.GetKind() == kind && strings.HasPrefix(o.GetName(), prefix+"-") {
			return o
		}
	}
	t.Fatalf("rendered output has no %s named %s-<hash>", kind, prefix)
	return nil
}

// as converts an unstructured object to its typed form.
func as[T any](t *testing.T, o *unstructured.Unstructured) *T {
	t.Helper()
	v := new(T)
	if err := runtime.DefaultUnstructuredConverter.FromUnstructuredWithValidation(o.Object, v, true); err != nil {
		t.Fatalf("%s %s: %v", o.GetKind(), o.GetName(), err)
	}
	return v
}

func repoServerDeployment(t *testing.T, objs []*unstructured.Unstructured) *appsv1.Deployment {
	t.Helper()
	return as[appsv1.Deployment](t, find(t, objs, "Deployment", repoServer))
}

func container(t *testing.T, spec *corev1.PodSpec, name string) *corev1.Container {
	t.Helper()
	for i := range spec.Containers {
		if spec.Containers[i].Name == name {
			return &spec.Containers[i]
		}
	}
	t.Fatalf("pod has no container %q", name)
	return nil
}

func volume(t *testing.T, spec *corev1.PodSpec, name string) *corev1.Volume {
	t.Helper()
	for i := range spec.Volumes {
		if spec.Volumes[i].Name == name {
			return &spec.Volumes[i]
		}
	}
	t.Fatalf("pod has no volume %q", name)
	return nil
}

// mountAt returns the mount of c at path, or nil.
func mountAt(c *corev1.Container, path string) *corev1.VolumeMount {
	for i := range c.VolumeMounts {
		if c.VolumeMounts[i].MountPath == path {
			return &c.VolumeMounts[i]
		}
	}
	return nil
}
