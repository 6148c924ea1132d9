package refresh

import (
	"context"
	"errors"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// ApplicationResource is Argo CD's Application custom resource.
var ApplicationResource = schema.GroupVersionResource{Group: "argoproj.io", Version: "v1alpha1", Resource: "applications"}

var hardRefreshPatch = []byte(`{"metadata":{"annotations":{"` + RefreshAnnotation + `":"hard"}}}`)

// Kubernetes triggers hard refreshes by annotating the Application through
// the Kubernetes API. Its service account needs get, list and patch on
// applications.argoproj.io.
type Kubernetes struct {
	client     dynamic.Interface
	namespaces []string
}

// KubernetesOption configures the Kubernetes backend.
type KubernetesOption func(*Kubernetes)

// WithListNamespaces restricts the start-up listing to these namespaces
// (default: all namespaces, which needs a cluster-wide list permission).
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
	if err != nil {
		return nil, fmt.Errorf("no in-cluster config and no kubeconfig: %w (pass --kubeconfig, or use --refresh-backend argocd-api)", err)
	}
	return cfg, nil
}

// NewKubernetesFromConfig builds the backend from RESTConfig(kubeconfig).
func NewKubernetesFromConfig(kubeconfig string, opts ...KubernetesOption) (*Kubernetes, error) {
	cfg, err := RESTConfig(kubeconfig)
	if err != nil {
		return nil, err
	}
	client, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("kubernetes client: %w", err)
	}
	return NewKubernetes(client, opts...), nil
}

// Name implements Backend.
func (k *Kubernetes) Name() string { return "kubernetes" }

// Refresh reads the Application first: a refresh annotation still present
// means Argo CD has not acted on the previous request, and the patch is
// skipped. Otherwise it merge-patches the hard-refresh annotation.
func (k *Kubernetes) Refresh(ctx context.Context, app App) error {
	apps := k.client.Resource(ApplicationResource).Namespace(app.Namespace)
	obj, err := apps.Get(ctx, app.Name, metav1.GetOptions{})
	if err != nil {
		return k.wrap("read", app, err)
	}
	if hasRefreshAnnotation(obj.Object) {
		return fmt.Errorf("application %s: %w", app.Key(), ErrRefreshPending)
	}
	if _, err := apps.Patch(ctx, app.Name, types.MergePatchType, hardRefreshPatch, metav1.PatchOptions{}); err != nil {
		return k.wrap("patch", app, err)
	}
	return nil
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

// ListApps implements Lister, page by page.
func (k *Kubernetes) ListApps(ctx context.Context, pluginNames []string) ([]App, error) {
	namespaces := k.namespaces
	if len(namespaces) == 0 {
		namespaces = []string{metav1.NamespaceAll}
	}
	var out []App
	for _, ns := range namespaces {
		opts := metav1.ListOptions{Limit: 250}
		for {
			list, err := k.client.Resource(ApplicationResource).Namespace(ns).List(ctx, opts)
			if err != nil {
				where := "all namespaces"
				if ns != "" {
					where = "namespace " + ns
				}
				return nil, fmt.Errorf("list Applications in %s: %w (grant list on applications.argoproj.io, or restrict the namespaces)", where, err)
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
