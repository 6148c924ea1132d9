package cmp

import (
	"context"
	"path"

	"github.com/argocd-image-resolver/argocd-image-resolver/kustomization"
	"github.com/argocd-image-resolver/argocd-image-resolver/render"
	"github.com/argocd-image-resolver/argocd-image-resolver/rewrite"
)

// sourceKind is what an application path holds.
type sourceKind int

const (
	// sourceChart is a Helm chart (a Chart.yaml).
	sourceChart sourceKind = iota
	// sourceDirectory is a folder of plain manifests (Argo CD's directory
	// source).
	sourceDirectory
	// sourceKustomize is a kustomization.
	sourceKustomize
)

// manifestSource is an application path that is not a chart: its
// manifests are read or built, and the resolved images written into them.
type manifestSource interface {
	render(ctx context.Context, images []render.Image, fields []rewrite.FieldSpec) (*render.Output, error)
}

// detectSource tells what the folder app of the repository holds, as
// Argo CD would: a Kustomize application when it has a kustomization file
// (its name is returned), even beside a Chart.yaml; else a chart when it
// has a Chart.yaml; else plain manifests.
func detectSource(repo Repo, app string) (sourceKind, string, error) {
	for _, name := range kustomization.FileNames() {
		if info, err := repo.stat(path.Join(app, name)); err == nil && !info.IsDir() {
			return sourceKustomize, name, nil
		}
	}
	if _, err := repo.stat(path.Join(app, "Chart.yaml")); err == nil {
		return sourceChart, "", nil
	}
	info, err := repo.stat(app)
	if err != nil || !info.IsDir() {
		return 0, "", inputError("no Helm chart at path %q: Chart.yaml not found, and the path is not a folder of manifests", app)
	}
	return sourceDirectory, "", nil
}
