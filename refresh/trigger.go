package refresh

import (
	"context"
	"errors"
)

// RefreshAnnotation is the annotation Argo CD's application controller
// watches; "hard" makes it regenerate manifests, skipping its cache. The
// controller removes it once the refresh is done.
const RefreshAnnotation = "argocd.argoproj.io/refresh"

var (
	// ErrAppNotFound means the Application no longer exists; the refresher
	// stops tracking it.
	ErrAppNotFound = errors.New("application not found")
	// ErrRefreshPending means a refresh annotation is still on the
	// Application: Argo CD has not processed the previous request yet.
	ErrRefreshPending = errors.New("a refresh is already pending")
)

// Backend asks Argo CD to hard-refresh one Application.
type Backend interface {
	// Name is the backend name used in logs and metrics.
	Name() string
	// Refresh requests a hard refresh. It returns ErrRefreshPending when a
	// refresh is still pending and ErrAppNotFound when the app is gone
	// (both may be wrapped).
	Refresh(ctx context.Context, app App) error
}

// Lister finds the Applications that render through this plugin, for the
// start-up pass.
type Lister interface {
	// ListApps returns the Applications whose source, or one of whose
	// sources, names one of pluginNames.
	ListApps(ctx context.Context, pluginNames []string) ([]App, error)
}

// usesPlugin reports whether an Application object (as decoded JSON)
// renders through one of the named plugins, in spec.source or any of
// spec.sources.
func usesPlugin(obj map[string]any, names []string) bool {
	spec, _ := obj["spec"].(map[string]any)
	if spec == nil {
		return false
	}
	match := func(src any) bool {
		s, _ := src.(map[string]any)
		p, _ := s["plugin"].(map[string]any)
		n, _ := p["name"].(string)
		if n == "" {
			return false
		}
		for _, want := range names {
			if n == want {
				return true
			}
		}
		return false
	}
	if match(spec["source"]) {
		return true
	}
	sources, _ := spec["sources"].([]any)
	for _, s := range sources {
		if match(s) {
			return true
		}
	}
	return false
}

// appFromObject reads identity fields from an Application object.
func appFromObject(obj map[string]any) App {
	meta, _ := obj["metadata"].(map[string]any)
	spec, _ := obj["spec"].(map[string]any)
	a := App{}
	a.Name, _ = meta["name"].(string)
	a.Namespace, _ = meta["namespace"].(string)
	a.Project, _ = spec["project"].(string)
	if src, ok := spec["source"].(map[string]any); ok {
		a.RepoURL, _ = src["repoURL"].(string)
		a.Path, _ = src["path"].(string)
	}
	return a
}

func hasRefreshAnnotation(obj map[string]any) bool {
	meta, _ := obj["metadata"].(map[string]any)
	ann, _ := meta["annotations"].(map[string]any)
	_, ok := ann[RefreshAnnotation]
	return ok
}

// Watcher is a Backend that reads Applications from a watched cache. The
// refresher runs the cache while it leads.
type Watcher interface {
	// Watch starts the cache, which stops when ctx ends, and returns once
	// it has synced, or with an error when it cannot (the backend then
	// reads each Application from the API).
	Watch(ctx context.Context) error
}
