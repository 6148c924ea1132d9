// Command argocd-image-resolver is an Argo CD Config Management Plugin that
// renders Helm charts with image versions resolved from the registry.
package main

import "github.com/argocd-image-resolver/argocd-image-resolver/plugin"

func main() {
	plugin.Execute()
}
