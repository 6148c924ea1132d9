package refresh

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/dynamic/dynamicinformer"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/clientcmd"
)

// ApplicationResource is Argo CD's Application custom resource.
var ApplicationResource = schema.GroupVersionResource{Group: "argoproj.io", Version: "v1alpha1", Resource: "applications"}

var hardRefreshPatch = []byte(`{"metadata":{"annotations":{"` + RefreshAnnotation + `":"hard"}}}`)

// Kubernetes triggers hard refreshes by annotating the Application through
// the Kubernetes API. While the refresher leads it watches the Applications
// of the listed namespaces, so that a hard refresh is one PATCH: the
// pending-refresh check and the start-up listing read the watched cache.
// Its service account needs get, list, watch and patch on
// applications.argoproj.io.
type Kubernetes struct {
	client     dynamic.Interface
	namespaces []string

	mu        sync.RWMutex
	watched   map[string]informers.GenericInformer // namespace ("" all) -> informer
	watchedBy context.Context                      // the Watch call they run for
}

// KubernetesOption configures the Kubernetes backend.
type KubernetesOption func(*Kubernetes)

// WithListNamespaces restricts the watched cache and the start-up listing
// to these namespaces (default: all namespaces, which needs a cluster-wide
// list and watch permission).
func WithListNamespaces(ns ...string) KubernetesOption {
	return func(k *Kubernetes) { k.namespaces = ns }
}

// NewKubernetes returns the backend over a dynamic client.
func NewKubernetes(client dynamic.Interface, opts ...KubernetesOption) *Kubernetes {
	k := &Kubernetes{client: client}
	for _, o := range opts {
		o(k)
	}
	return k
}

// RESTConfig loads the Kubernetes client configuration: the kubeconfig file
// when one is named, otherwise the in-cluster service account, otherwise
// the usual KUBECONFIG / ~/.kube/config lookup.
func RESTConfig(kubeconfig string) (*rest.Config, error) {
	if kubeconfig != "" {
		cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
		if err != nil {
			return nil, fmt.Errorf("load kubeconfig %s: %w", kubeconfig, err)
		}
		return cfg, nil
	}
	cfg, err := rest.InClusterConfig()
	if err == nil {
		return cfg, nil
	}
	if !errors.Is(err, rest.ErrNotInCluster) {
		return nil, fmt.Errorf("in-cluster Kubernetes config: %w (mount a service account token in the sidecar, or pass --kubeconfig)", err)
	}
	cc := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(clientcmd.NewDefaultClientConfigLoadingRules(), nil)
	cfg, err = cc.ClientConfig()
	if clientcmd.IsEmptyConfig(err) {
		return nil, errors.New("no Kubernetes configuration: not in a cluster (no service account token mounted) and no kubeconfig (KUBECONFIG, ~/.kube/config); pass --kubeconfig, or use --refresh-backend argocd-api")
	}
	if err != nil {
		return nil, fmt.Errorf("not in a cluster, and the kubeconfig cannot be used: %w (pass --kubeconfig, or use --refresh-backend argocd-api)", err)
	}
	return cfg, nil
}

// NewKubernetesFromConfig builds the backend on cfg. Its requests are paced
// by cfg.QPS and cfg.Burst; set them to the refresher's rate, since
// client-go's default (5 per second) would pace the hard refreshes.
func NewKubernetesFromConfig(cfg *rest.Config, opts ...KubernetesOption) (*Kubernetes, error) {
	client, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("kubernetes client: %w", err)
	}
	return NewKubernetes(client, opts...), nil
}

// Name implements Backend.
func (k *Kubernetes) Name() string { return "kubernetes" }

// Refresh skips the Application while a refresh annotation is on it (Argo
// CD has not acted on the previous request) and otherwise merge-patches the
// hard-refresh annotation. The annotation is read from the watched cache;
// an Application the cache does not cover is read from the API first.
func (k *Kubernetes) Refresh(ctx context.Context, app App) error {
	apps := k.client.Resource(ApplicationResource).Namespace(app.Namespace)
	obj, cached := k.cached(app)
	if !cached {
		got, err := apps.Get(ctx, app.Name, metav1.GetOptions{})
		if err != nil {
			return k.wrap("read", app, err)
		}
		obj = got.Object
	}
	// Not in a synced cache: a PATCH of a missing Application answers 404.
	if obj != nil && hasRefreshAnnotation(obj) {
		return fmt.Errorf("application %s: %w", app.Key(), ErrRefreshPending)
	}
	if _, err := apps.Patch(ctx, app.Name, types.MergePatchType, hardRefreshPatch, metav1.PatchOptions{}); err != nil {
		return k.wrap("patch", app, err)
	}
	return nil
}

// informerFor returns the synced informer covering namespace, if any.
func (k *Kubernetes) informerFor(namespace string) (informers.GenericInformer, bool) {
	k.mu.RLock()
	defer k.mu.RUnlock()
	if k.watchedBy == nil || k.watchedBy.Err() != nil {
		return nil, false
	}
	inf, ok := k.watched[namespace]
	if !ok {
		inf, ok = k.watched[metav1.NamespaceAll]
	}
	if !ok || !inf.Informer().HasSynced() {
		return nil, false
	}
	return inf, true
}

// cached returns the watched copy of app (nil when the cache has none) and
// whether the cache covers app's namespace.
func (k *Kubernetes) cached(app App) (map[string]any, bool) {
	inf, ok := k.informerFor(app.Namespace)
	if !ok {
		return nil, false
	}
	o, err := inf.Lister().ByNamespace(app.Namespace).Get(app.Name)
	if err != nil {
		return nil, true
	}
	u, ok := o.(*unstructured.Unstructured)
	if !ok {
		return nil, false
	}
	return u.Object, true
}

// Watch implements Watcher: it starts one informer per listed namespace
// (or one for all) and waits until they have synced, for a minute at most.
// The cache keeps only what the refresher reads (name, namespace,
// annotations, spec), not the Applications' status. While a cache started
// by an earlier call runs, Watch only waits for it.
func (k *Kubernetes) Watch(ctx context.Context) error {
	namespaces := k.namespaces
	if len(namespaces) == 0 {
		namespaces = []string{metav1.NamespaceAll}
	}
	var synced []cache.InformerSynced
	k.mu.Lock()
	if k.watchedBy != nil && k.watchedBy.Err() == nil {
		for _, inf := range k.watched {
			synced = append(synced, inf.Informer().HasSynced)
		}
	} else {
		watched := map[string]informers.GenericInformer{}
		for _, ns := range namespaces {
			f := dynamicinformer.NewFilteredDynamicSharedInformerFactory(k.client, 0, ns, nil)
			inf := f.ForResource(ApplicationResource)
			if err := inf.Informer().SetTransform(slimApplication); err != nil {
				k.mu.Unlock()
				return fmt.Errorf("watch Applications: %w", err)
			}
			f.Start(ctx.Done())
			watched[ns] = inf
			synced = append(synced, inf.Informer().HasSynced)
		}
		k.watched, k.watchedBy = watched, ctx
		context.AfterFunc(ctx, func() {
			k.mu.Lock()
			defer k.mu.Unlock()
			if k.watchedBy == ctx {
				k.watched, k.watchedBy = nil, nil // stopped: a stale copy must not answer
			}
		})
	}
	k.mu.Unlock()
	wctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if !cache.WaitForCacheSync(wctx.Done(), synced...) && ctx.Err() == nil {
		return fmt.Errorf("the cache of Applications in %s did not sync within a minute (grant list and watch on applications.argoproj.io there, or restrict --refresh-namespaces)", where(namespaces))
	}
	return nil
}

func where(namespaces []string) string {
	if len(namespaces) == 1 && namespaces[0] == metav1.NamespaceAll {
		return "all namespaces"
	}
	return "namespaces " + strings.Join(namespaces, ", ")
}

// slimApplication keeps the fields the refresher reads.
func slimApplication(obj any) (any, error) {
	u, ok := obj.(*unstructured.Unstructured)
	if !ok {
		return obj, nil // a tombstone
	}
	meta := map[string]any{
		"name":            u.GetName(),
		"namespace":       u.GetNamespace(),
		"resourceVersion": u.GetResourceVersion(),
		"uid":             string(u.GetUID()),
	}
	if ann := u.GetAnnotations(); ann != nil {
		m := make(map[string]any, len(ann))
		for k, v := range ann {
			m[k] = v
		}
		meta["annotations"] = m
	}
	slim := map[string]any{"apiVersion": u.GetAPIVersion(), "kind": u.GetKind(), "metadata": meta}
	if spec, ok := u.Object["spec"]; ok {
		slim["spec"] = spec
	}
	return &unstructured.Unstructured{Object: slim}, nil
}

func (k *Kubernetes) wrap(verb string, app App, err error) error {
	switch {
	case apierrors.IsNotFound(err):
		return fmt.Errorf("application %s: %w", app.Key(), ErrAppNotFound)
	case apierrors.IsForbidden(err):
		return fmt.Errorf("%s Application %s: %w (grant the plugin's service account get and patch on applications.argoproj.io in namespace %s)", verb, app.Key(), err, app.Namespace)
	default:
		return fmt.Errorf("%s Application %s through the Kubernetes API: %w", verb, app.Key(), err)
	}
}

// ListApps implements Lister: from the watched cache when it covers every
// listed namespace, otherwise from the API, page by page.
func (k *Kubernetes) ListApps(ctx context.Context, pluginNames []string) ([]App, error) {
	namespaces := k.namespaces
	if len(namespaces) == 0 {
		namespaces = []string{metav1.NamespaceAll}
	}
	var out []App
	for _, ns := range namespaces {
		if inf, ok := k.informerFor(ns); ok {
			var objs []runtime.Object
			var err error
			if ns == metav1.NamespaceAll {
				objs, err = inf.Lister().List(labels.Everything())
			} else {
				objs, err = inf.Lister().ByNamespace(ns).List(labels.Everything())
			}
			if err != nil {
				return nil, fmt.Errorf("list Applications in %s from the cache: %w", where([]string{ns}), err)
			}
			for _, o := range objs {
				if u, ok := o.(*unstructured.Unstructured); ok && usesPlugin(u.Object, pluginNames) {
					out = append(out, appFromObject(u.Object))
				}
			}
			continue
		}
		opts := metav1.ListOptions{Limit: 250}
		for {
			list, err := k.client.Resource(ApplicationResource).Namespace(ns).List(ctx, opts)
			if err != nil {
				return nil, fmt.Errorf("list Applications in %s: %w (grant list on applications.argoproj.io, or restrict the namespaces)", where([]string{ns}), err)
			}
			for _, item := range list.Items {
				if usesPlugin(item.Object, pluginNames) {
					out = append(out, appFromObject(item.Object))
				}
			}
			if list.GetContinue() == "" {
				break
			}
			opts.Continue = list.GetContinue()
		}
	}
	return out, nil
}
