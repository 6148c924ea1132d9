package refresh

import (
	"context"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// AppImages is what Argo CD reports an Application runs: the images of its
// live resources (status.summary.images) and its AppProject.
type AppImages struct {
	Project string
	// Images are references as the live resources name them:
	// "ghcr.io/acme/web:1.2.3", "…/web@sha256:…", "…/web:1.2.3@sha256:…".
	Images []string
}

// StatusReader reads an Application's status (*Kubernetes implements it).
type StatusReader interface {
	// AppImages returns an error wrapping ErrAppNotFound when the
	// Application does not exist.
	AppImages(ctx context.Context, namespace, name string) (AppImages, error)
}

// AppImages implements StatusReader with one GET of the Application (the
// watched cache keeps no status). It needs get on applications.argoproj.io
// in the namespace, which the refresh backend has.
func (k *Kubernetes) AppImages(ctx context.Context, namespace, name string) (AppImages, error) {
	app := App{Name: name, Namespace: namespace}
	got, err := k.client.Resource(ApplicationResource).Namespace(namespace).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		if apierrors.IsNotFound(err) {
			return AppImages{}, fmt.Errorf("application %s: %w", app.Key(), ErrAppNotFound)
		}
		return AppImages{}, k.wrap("read", app, err)
	}
	var out AppImages
	out.Project, _, _ = unstructured.NestedString(got.Object, "spec", "project")
	out.Images, _, _ = unstructured.NestedStringSlice(got.Object, "status", "summary", "images")
	return out, nil
}
