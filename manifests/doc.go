// Package manifests holds the Kubernetes install of argocd-image-resolver:
// the kustomize Component in sidecar/ that adds the plugin to Argo CD's
// argocd-repo-server, the values for the argo-helm argo-cd chart in
// helm-values.yaml, and examples/ (a ServiceMonitor).
//
// The package has no Go API. Its tests render the Component over Argo CD's
// own install manifests (of v3 and v2.14, read from the module cache),
// check the result, validate it against a real kube-apiserver, keep the Helm values and the Component in step, and keep
// the Dockerfile's build command in step with the Makefile's.
package manifests
