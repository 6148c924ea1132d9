// Package kustomization holds what the plugin reads and changes in the
// kustomization of a Kustomize Application before Kustomize builds it:
// the Application's options applied as `kustomize edit` applies them in
// Argo CD, the entries of the images list, and the screening of every
// kustomization and built-in plugin configuration the build reads for
// remote references and Helm charts, which Kustomize would fetch or run
// outside the plugin's rules.
package kustomization
