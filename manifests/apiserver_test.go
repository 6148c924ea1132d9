package manifests

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	refreshpkg "github.com/argocd-image-resolver/argocd-image-resolver/refresh"
)

const fieldManager = "argocd-image-resolver-manifests-test"

// startAPIServer runs kube-apiserver and etcd from KUBEBUILDER_ASSETS
// (`make test` builds them into .cache/). Without them the test is skipped,
// unless E2E_REQUIRED=1 makes that a failure.
func startAPIServer(t *testing.T) *rest.Config {
	t.Helper()
	assets := os.Getenv("KUBEBUILDER_ASSETS")
	if assets == "" {
		if os.Getenv("E2E_REQUIRED") == "1" {
			t.Fatal("KUBEBUILDER_ASSETS is not set but E2E_REQUIRED=1: run `make test`, which builds kube-apiserver and etcd into .cache/")
		}
		t.Skip("KUBEBUILDER_ASSETS not set: skipping the kube-apiserver dry-run (run `make test`)")
	}
	for _, bin := range []string{"kube-apiserver", "etcd"} {
		if _, err := os.Stat(filepath.Join(assets, bin)); err != nil {
			t.Fatalf("KUBEBUILDER_ASSETS=%s lacks %s: %v", assets, bin, err)
		}
	}
	env := &envtest.Environment{BinaryAssetsDirectory: assets}
	cfg, err := env.Start()
	if err != nil {
		t.Fatalf("starting kube-apiserver from %s: %v", assets, err)
	}
	t.Cleanup(func() {
		if err := env.Stop(); err != nil {
			t.Errorf("stopping kube-apiserver: %v", err)
		}
	})
	return cfg
}

// cluster is a dynamic client with a discovery-backed REST mapper.
type cluster struct {
	dyn    dynamic.Interface
	mapper *restmapper.DeferredDiscoveryRESTMapper
}

func newCluster(t *testing.T, cfg *rest.Config) *cluster {
	t.Helper()
	dc, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return &cluster{dyn: dyn, mapper: restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(dc))}
}

func (c *cluster) resource(o *unstructured.Unstructured) (dynamic.ResourceInterface, error) {
	gvk := o.GroupVersionKind()
	m, err := c.mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	if err != nil {
		return nil, err
	}
	if m.Scope.Name() == meta.RESTScopeNameNamespace {
		return c.dyn.Resource(m.Resource).Namespace(o.GetNamespace()), nil
	}
	return c.dyn.Resource(m.Resource), nil
}

// apply server-side applies o; with dryRun the API server validates and
// admits it without storing it.
func (c *cluster) apply(ctx context.Context, o *unstructured.Unstructured, dryRun bool) error {
	ri, err := c.resource(o)
	if err != nil {
		return err
	}
	opts := metav1.ApplyOptions{FieldManager: fieldManager, Force: true}
	if dryRun {
		opts.DryRun = []string{metav1.DryRunAll}
	}
	_, err = ri.Apply(ctx, o.GetName(), o, opts)
	return err
}

// TestAgainstAPIServer checks the rendered install with a real
// kube-apiserver (one control plane for all subtests): the component over
// the install.yaml of each Argo CD release passes a server-side dry-run,
// and the RBAC, applied for real over the newest release, allows what a
// hard refresh needs and nothing else.
func TestAgainstAPIServer(t *testing.T) {
	cfg := startAPIServer(t)
	admin := newCluster(t, cfg)
	forEachRelease(t, func(t *testing.T, r argoCDRelease) {
		objs := render(t, withComponent, withInstall(t, r, "manifests/install.yaml"))
		// Each release's CRDs replace the previous one's.
		installPrerequisites(t, admin, objs)
		t.Run("DryRunApply", func(t *testing.T) { testDryRunApply(t, admin, objs) })
		if r == argoCDReleases[0] {
			// The HA example: the component over this release's
			// ha/install.yaml.
			t.Run("HAExampleDryRunApply", func(t *testing.T) { testDryRunApply(t, admin, renderHAExample(t)) })
			t.Run("RepoServerAccountCanRefreshOnly", func(t *testing.T) { testRefreshOnly(t, cfg, admin, objs) })
		}
	})
}

// testDryRunApply applies everything the component renders over Argo CD's
// install.yaml with server-side dry-run, so the API server's own validation
// (pod spec, volumes and mounts, probes, RBAC, Service) judges it.
func testDryRunApply(t *testing.T, c *cluster, objs []*unstructured.Unstructured) {
	ctx := t.Context()
	applied := map[string]bool{}
	for _, o := range objs {
		if o.GetKind() == "CustomResourceDefinition" {
			continue
		}
		if err := c.apply(ctx, o, true); err != nil {
			t.Errorf("dry-run apply %s %s/%s: %v", o.GetKind(), o.GetNamespace(), o.GetName(), err)
		}
		applied[o.GetKind()] = true
	}
	for _, kind := range []string{"Deployment", "Role", "RoleBinding", "Service", "ConfigMap", "NetworkPolicy"} {
		if !applied[kind] {
			t.Errorf("no %s was dry-run applied", kind)
		}
	}
}

// testRefreshOnly applies the RBAC for real and acts as the repo-server
// ServiceAccount (the identity of the sidecar's projected token): it may
// read, watch and patch Applications in the Argo CD namespace, which a hard
// refresh needs, post Events on them, and hold the refresher's Lease
// there, and nothing else.
func testRefreshOnly(t *testing.T, cfg *rest.Config, admin *cluster, objs []*unstructured.Unstructured) {
	ctx := t.Context()
	for _, o := range []*unstructured.Unstructured{
		find(t, objs, "ServiceAccount", repoServer),
		find(t, objs, "Role", "argocd-image-resolver"),
		find(t, objs, "RoleBinding", "argocd-image-resolver"),
	} {
		if err := admin.apply(ctx, o, false); err != nil {
			t.Fatalf("apply %s %s: %v", o.GetKind(), o.GetName(), err)
		}
	}
	app := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "argoproj.io/v1alpha1",
		"kind":       "Application",
		"metadata":   map[string]any{"name": "web", "namespace": argoCDNamespace},
		"spec": map[string]any{
			"project":     "default",
			"destination": map[string]any{"server": "https://kubernetes.default.svc", "namespace": "web"},
			"source": map[string]any{
				"repoURL": "https://git.example.com/web.git",
				"path":    "chart",
				"plugin":  map[string]any{"name": "image-resolver"},
			},
		},
	}}
	if err := admin.apply(ctx, app, false); err != nil {
		t.Fatalf("creating Application: %v", err)
	}

	sa := rest.CopyConfig(cfg)
	sa.Impersonate = rest.ImpersonationConfig{
		UserName: fmt.Sprintf("system:serviceaccount:%s:%s", argoCDNamespace, repoServer),
		Groups:   []string{"system:serviceaccounts", "system:serviceaccounts:" + argoCDNamespace, "system:authenticated"},
	}
	dyn, err := dynamic.NewForConfig(sa)
	if err != nil {
		t.Fatal(err)
	}
	apps := schema.GroupVersionResource{Group: "argoproj.io", Version: "v1alpha1", Resource: "applications"}
	secrets := schema.GroupVersionResource{Version: "v1", Resource: "secrets"}
	leases := schema.GroupVersionResource{Group: "coordination.k8s.io", Version: "v1", Resource: "leases"}
	refresh := []byte(`{"metadata":{"annotations":{"argocd.argoproj.io/refresh":"hard"}}}`)

	allowed := map[string]func() error{
		"get application": func() error {
			_, err := dyn.Resource(apps).Namespace(argoCDNamespace).Get(ctx, "web", metav1.GetOptions{})
			return err
		},
		"list applications": func() error {
			_, err := dyn.Resource(apps).Namespace(argoCDNamespace).List(ctx, metav1.ListOptions{})
			return err
		},
		"merge-patch the refresh annotation": func() error {
			_, err := dyn.Resource(apps).Namespace(argoCDNamespace).Patch(ctx, "web", types.MergePatchType, refresh, metav1.PatchOptions{})
			return err
		},
		"watch applications": func() error {
			w, err := dyn.Resource(apps).Namespace(argoCDNamespace).Watch(ctx, metav1.ListOptions{})
			if err == nil {
				w.Stop()
			}
			return err
		},
		"lead the refresher on its Lease": func() error {
			return leadOnce(ctx, sa)
		},
		"post an image Event on the Application": func() error {
			return refreshpkg.NewKubernetes(dyn).PostEvents(ctx, refreshpkg.App{Name: "web", Namespace: argoCDNamespace},
				[]refreshpkg.HistoryEntry{{Time: time.Now(), Kind: refreshpkg.HistoryResolved, Alias: "web", Tag: "1.0.0"}})
		},
	}
	for name, call := range allowed {
		if err := call(); err != nil {
			t.Errorf("%s as the repo-server ServiceAccount: %v", name, err)
		}
	}
	got, err := admin.dyn.Resource(apps).Namespace(argoCDNamespace).Get(ctx, "web", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got.GetAnnotations()["argocd.argoproj.io/refresh"] != "hard" {
		t.Errorf("refresh annotation not set: %v", got.GetAnnotations())
	}

	denied := map[string]func() error{
		"delete application": func() error {
			return dyn.Resource(apps).Namespace(argoCDNamespace).Delete(ctx, "web", metav1.DeleteOptions{DryRun: []string{metav1.DryRunAll}})
		},
		"update application": func() error {
			_, err := dyn.Resource(apps).Namespace(argoCDNamespace).Update(ctx, got, metav1.UpdateOptions{DryRun: []string{metav1.DryRunAll}})
			return err
		},
		"create application": func() error {
			o := app.DeepCopy()
			o.SetName("other")
			_, err := dyn.Resource(apps).Namespace(argoCDNamespace).Create(ctx, o, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
			return err
		},
		"list applications in another namespace": func() error {
			_, err := dyn.Resource(apps).Namespace("default").List(ctx, metav1.ListOptions{})
			return err
		},
		"list events": func() error {
			_, err := dyn.Resource(schema.GroupVersionResource{Version: "v1", Resource: "events"}).Namespace(argoCDNamespace).List(ctx, metav1.ListOptions{})
			return err
		},
		"list secrets": func() error {
			_, err := dyn.Resource(secrets).Namespace(argoCDNamespace).List(ctx, metav1.ListOptions{})
			return err
		},
		"update another Lease": func() error {
			l := &unstructured.Unstructured{Object: map[string]any{
				"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
				"metadata": map[string]any{"name": "kube-controller-manager", "namespace": argoCDNamespace},
			}}
			if err := admin.apply(ctx, l, false); err != nil {
				t.Fatalf("creating a Lease as admin: %v", err)
			}
			_, err := dyn.Resource(leases).Namespace(argoCDNamespace).Update(ctx, l, metav1.UpdateOptions{DryRun: []string{metav1.DryRunAll}})
			return err
		},
		"delete the refresher Lease": func() error {
			return dyn.Resource(leases).Namespace(argoCDNamespace).Delete(ctx, resolverLease, metav1.DeleteOptions{DryRun: []string{metav1.DryRunAll}})
		},
	}
	for name, call := range denied {
		if err := call(); !apierrors.IsForbidden(err) {
			t.Errorf("%s as the repo-server ServiceAccount: got %v, want Forbidden", name, err)
		}
	}
}

// resolverLease is the Lease the refresher's replicas compete for.
const resolverLease = "argocd-image-resolver-refresher"

// leadOnce runs the refresher's real election with cfg's identity until it
// leads (client-go creates, reads and updates the Lease), then steps down.
func leadOnce(ctx context.Context, cfg *rest.Config) error {
	if resolverLease != refreshpkg.LeaseName {
		return fmt.Errorf("the Role names Lease %s, the refresher uses %s", resolverLease, refreshpkg.LeaseName)
	}
	el, err := refreshpkg.NewKubernetesLease(cfg, argoCDNamespace, "rbac-test", refreshpkg.DefaultLeaseTimings(), slog.New(slog.DiscardHandler))
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	led := false
	_ = el.Run(ctx, func(lctx context.Context) {
		led = true
		cancel()
		<-lctx.Done()
	})
	if !led {
		return fmt.Errorf("did not lead within 30 s (see the Lease's events)")
	}
	return nil
}

// installPrerequisites creates what the dry-run cannot: the argocd
// namespace and the CRDs of the rendered output, waiting until they serve.
func installPrerequisites(t *testing.T, c *cluster, objs []*unstructured.Unstructured) {
	t.Helper()
	ctx := t.Context()
	ns := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "v1", "kind": "Namespace", "metadata": map[string]any{"name": argoCDNamespace},
	}}
	if err := c.apply(ctx, ns, false); err != nil {
		t.Fatalf("creating namespace %s: %v", argoCDNamespace, err)
	}
	crds := schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}
	var names []string
	for _, o := range objs {
		if o.GetKind() != "CustomResourceDefinition" {
			continue
		}
		if err := c.apply(ctx, o, false); err != nil {
			t.Fatalf("creating CRD %s: %v", o.GetName(), err)
		}
		names = append(names, o.GetName())
	}
	if len(names) == 0 {
		t.Fatal("rendered output holds no CRDs; Argo CD's install.yaml changed shape")
	}
	err := wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		for _, name := range names {
			crd, err := c.dyn.Resource(crds).Get(ctx, name, metav1.GetOptions{})
			if err != nil {
				return false, err
			}
			conds, _, _ := unstructured.NestedSlice(crd.Object, "status", "conditions")
			established := false
			for _, cond := range conds {
				m, _ := cond.(map[string]any)
				if m["type"] == "Established" && m["status"] == "True" {
					established = true
				}
			}
			if !established {
				return false, nil
			}
		}
		return true, nil
	})
	if err != nil {
		t.Fatalf("waiting for CRDs %v to be established: %v", names, err)
	}
	c.mapper.Reset()
}
