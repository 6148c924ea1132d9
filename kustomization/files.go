package kustomization

import "slices"

// FileNames are the file names that make a folder a Kustomize
// application, in the order Kustomize looks for them.
func FileNames() []string {
	return []string{"kustomization.yaml", "kustomization.yml", "Kustomization"}
}

// IsFileName reports whether name is one of FileNames.
func IsFileName(name string) bool { return slices.Contains(FileNames(), name) }
