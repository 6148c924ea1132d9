package cmp

import (
	"strings"

	"github.com/argoproj/argo-cd/v3/cmpserver/apiclient"

	"github.com/argocd-image-resolver/argocd-image-resolver/resolve"
)

// Environment variables Argo CD sets for a plugin.
const (
	EnvAppName         = "ARGOCD_APP_NAME"
	EnvAppNamespace    = "ARGOCD_APP_NAMESPACE"
	EnvAppProject      = "ARGOCD_APP_PROJECT_NAME"
	EnvAppRevision     = "ARGOCD_APP_REVISION"
	EnvAppRepoURL      = "ARGOCD_APP_SOURCE_REPO_URL"
	EnvAppSourcePath   = "ARGOCD_APP_SOURCE_PATH"
	EnvAppTargetRev    = "ARGOCD_APP_SOURCE_TARGET_REVISION"
	EnvAppParameters   = "ARGOCD_APP_PARAMETERS"
	EnvKubeVersion     = "KUBE_VERSION"
	EnvKubeAPIVersions = "KUBE_API_VERSIONS"
	EnvImageList       = "ARGOCD_ENV_IMAGE_LIST"
)

// imageListEnv are the plugin env names that set the images, first wins:
// IMAGE_LIST, and argocd-image-updater's annotation name with or without
// its prefix.
var imageListEnv = []string{EnvImageList, "ARGOCD_ENV_" + ParamImageList, "ARGOCD_ENV_" + resolve.UpdaterPrefix + ParamImageList}

// Env is the environment of one render as Argo CD passes it.
type Env map[string]string

// EnvFromEntries converts the stream's metadata entries.
func EnvFromEntries(entries []*apiclient.EnvEntry) Env {
	env := make(Env, len(entries))
	for _, e := range entries {
		if e != nil && e.GetName() != "" {
			env[e.GetName()] = e.GetValue()
		}
	}
	return env
}

// EnvFromList converts "NAME=value" pairs (os.Environ()).
func EnvFromList(list []string) Env {
	env := make(Env, len(list))
	for _, kv := range list {
		if name, value, ok := strings.Cut(kv, "="); ok && name != "" {
			env[name] = value
		}
	}
	return env
}

// App identifies the Application a render was for.
type App struct {
	// Name is the Application name, without the `<namespace>_` prefix
	// Argo CD adds for Applications outside its control-plane namespace.
	Name string `json:"name"`
	// Namespace is the Application's own namespace when Argo CD reported it
	// (apps in any namespace); empty means the control-plane namespace.
	Namespace string `json:"namespace,omitempty"`
	Project   string `json:"project,omitempty"`
	RepoURL   string `json:"repoURL,omitempty"`
	Path      string `json:"path,omitempty"`
	// TargetRevision and Revision are the source's requested and resolved
	// revisions.
	TargetRevision string `json:"targetRevision,omitempty"`
	Revision       string `json:"revision,omitempty"`
	// DestinationNamespace is ARGOCD_APP_NAMESPACE.
	DestinationNamespace string `json:"destinationNamespace,omitempty"`
}

// String is the qualified name, `<namespace>/<name>` when the namespace is
// known.
func (a App) String() string {
	if a.Namespace != "" {
		return a.Namespace + "/" + a.Name
	}
	return a.Name
}

// AppFromEnv reads the Application identity.
func AppFromEnv(env Env) App {
	a := App{
		Name:                 env[EnvAppName],
		Project:              env[EnvAppProject],
		RepoURL:              env[EnvAppRepoURL],
		Path:                 env[EnvAppSourcePath],
		TargetRevision:       env[EnvAppTargetRev],
		Revision:             env[EnvAppRevision],
		DestinationNamespace: env[EnvAppNamespace],
	}
	a.Namespace, a.Name = splitAppName(a.Name)
	return a
}

// splitAppName splits ARGOCD_APP_NAME, the one parser of it: Argo CD names
// Applications outside its control-plane namespace "<namespace>_<name>",
// and a plain name lives in the control-plane namespace (namespace "").
// Kubernetes names never hold '_', so the split is exact; a name with an
// empty side is taken whole.
func splitAppName(appName string) (namespace, name string) {
	if ns, n, ok := strings.Cut(appName, "_"); ok && ns != "" && n != "" {
		return ns, n
	}
	return "", appName
}
