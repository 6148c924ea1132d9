// Package rewrite writes resolved image references into rendered
// Kubernetes manifests: into the containers, init containers and ephemeral
// containers of the workload kinds, and into extra image fields an
// administrator declares for custom resources (Kustomize's image field spec
// format). It knows nothing of Helm, registries or Argo CD: it takes YAML
// documents as strings and gives documents back.
package rewrite
