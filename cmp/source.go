package cmp

import (
	"path"
)

// sourceKind is what an application path holds.
type sourceKind int

const (
	// sourceChart is a Helm chart (a Chart.yaml).
	sourceChart sourceKind = iota
	// sourceDirectory is a folder of plain manifests (Argo CD's directory
	// source).
	sourceDirectory
)

// kustomizationFiles are the file names that make a folder a Kustomize
// application for Argo CD.
func kustomizationFiles() []string {
	return []string{"kustomization.yaml", "kustomization.yml", "Kustomization"}
}

// detectSource tells what the folder app of the repository holds, as
// Argo CD would: a chart when it has a Chart.yaml, a Kustomize application
// (refused) when it has a kustomization file, else plain manifests.
func detectSource(repo Repo, app string) (sourceKind, error) {
	if _, err := repo.stat(path.Join(app, "Chart.yaml")); err == nil {
		return sourceChart, nil
	}
	for _, name := range kustomizationFiles() {
		if _, err := repo.stat(path.Join(app, name)); err == nil {
			return 0, inputError("no Helm chart at path %q (Chart.yaml not found) but a Kustomize application (%s): Kustomize sources are not supported yet; the image-resolver plugin renders Helm charts and folders of plain manifests", app, name)
		}
	}
	info, err := repo.stat(app)
	if err != nil || !info.IsDir() {
		return 0, inputError("no Helm chart at path %q: Chart.yaml not found, and the path is not a folder of manifests", app)
	}
	return sourceDirectory, nil
}
