package cmp

import (
	"context"
	"fmt"

	"github.com/argocd-image-resolver/argocd-image-resolver/imagespec"
	"github.com/argocd-image-resolver/argocd-image-resolver/render"
	"github.com/argocd-image-resolver/argocd-image-resolver/rewrite"
)

// NotRunError says that no workload of a directory or Kustomize
// Application runs the repository of an alias, so its resolved image was
// written nowhere.
type NotRunError struct {
	Alias      string
	Repository string
	// Path is the application path.
	Path string
	// Kustomize is set for a Kustomize application.
	Kustomize bool
}

func (e *NotRunError) Error() string {
	if e.Kustomize {
		return fmt.Sprintf("image %q: no workload built from the kustomization at path %q runs %s (no container, or declared image field, names this repository): check the repository the alias names; when the manifests name the image otherwise (e.g. nginx for docker.io/library/nginx), set %s.%s to that name; for a custom resource ask the Argo CD admins to declare its image field (serve --image-fields); %s.check-rendered: \"false\" skips this check",
			e.Alias, e.Path, e.Repository, e.Alias, imagespec.OptKustomizeImageName, e.Alias)
	}
	return fmt.Sprintf("image %q: no workload in the manifests at path %q runs %s (no container, or declared image field, names this repository): check the repository the alias names, the %s/%s/%s parameters, or ask the Argo CD admins to declare the image field of the custom resource (serve --image-fields); %s.check-rendered: \"false\" skips this check",
		e.Alias, e.Path, e.Repository, ParamDirectoryRecurse, ParamDirectoryInclude, ParamDirectoryExclude, e.Alias)
}

// EmptyDirectoryError says that an application path with no chart holds
// no Kubernetes manifest either.
type EmptyDirectoryError struct {
	Path    string
	Options DirectoryOptions
}

func (e *EmptyDirectoryError) Error() string {
	return fmt.Sprintf("no Helm chart at path %q (Chart.yaml not found) and no Kubernetes manifests in it (.yaml, .yml or .json files; %s %t, %s %q, %s %q): point path at a chart or a folder of manifests",
		e.Path, ParamDirectoryRecurse, e.Options.Recurse, ParamDirectoryInclude, e.Options.Include, ParamDirectoryExclude, e.Options.Exclude)
}

// directorySource is the plain manifests of a directory Application, read
// when its images are resolved and rewritten when it is rendered.
type directorySource struct {
	path      string
	documents []string
}

// readDirectory reads the manifests of the folder app, refusing a folder
// with none.
func readDirectory(repo Repo, app string, opts DirectoryOptions) (*directorySource, error) {
	files, err := findManifestFiles(repo, app, opts)
	if err != nil {
		return nil, err
	}
	src := &directorySource{path: app}
	for _, f := range files {
		data, err := repo.readFile(f.full)
		if err != nil {
			return nil, &DirectoryError{Path: app, File: f.rel, Err: fmt.Errorf("reading: %w", err)}
		}
		docs, err := manifestDocuments(f.rel, data)
		if err != nil {
			return nil, &DirectoryError{Path: app, File: f.rel, Err: err}
		}
		src.documents = append(src.documents, docs...)
	}
	if len(src.documents) == 0 {
		return nil, &EmptyDirectoryError{Path: app, Options: opts}
	}
	return src, nil
}

// render writes the images into the workloads of the manifests (every
// alias of a directory Application has the rewrite option) and checks
// that each alias was written somewhere, unless it skips the check.
func (d *directorySource) render(_ context.Context, images []render.Image, fields []rewrite.FieldSpec) (*render.Output, error) {
	rws := make([]rewrite.Image, 0, len(images))
	out := &render.Output{}
	for _, img := range images {
		ref, err := directoryReference(img)
		if err != nil {
			return nil, err
		}
		rws = append(rws, rewrite.Image{Repository: img.Repository, Reference: ref})
		out.Injections = append(out.Injections, render.Injection{Alias: img.Alias, Pinned: img.OverrideTag != "", Values: map[string]string{}})
	}
	rw, err := rewrite.Rewrite(d.documents, rws, fields)
	if err != nil {
		return nil, err
	}
	for i, img := range images {
		if rw.Written[i] == 0 && !img.SkipRenderedCheck {
			return nil, &NotRunError{Alias: img.Alias, Repository: img.Repository, Path: d.path}
		}
	}
	out.Manifests, err = render.Annotate(rw.Documents, images)
	if err != nil {
		return nil, err
	}
	return out, nil
}

// directoryReference is the reference an alias's workloads get, in the
// form of its pin mode, as the chart render's rewrite option writes it: a
// pinned tag, else `repo:tag`, `repo@digest` or `repo:tag@digest`.
func directoryReference(img render.Image) (string, error) {
	tag, digest, err := pinnedParts(img)
	if err != nil {
		return "", err
	}
	ref := img.Repository
	if tag != "" {
		ref += ":" + tag
	}
	if digest != "" {
		ref += "@" + digest
	}
	return ref, nil
}

// pinnedParts are the tag and digest an alias's workloads get, by its pin
// mode: a pinned tag alone, else the resolved tag, digest or both.
func pinnedParts(img render.Image) (tag, digest string, err error) {
	if img.OverrideTag != "" {
		return img.OverrideTag, "", nil
	}
	mode := img.Pin
	if mode == "" {
		mode = render.PinTag
	}
	missing := func(what string) error {
		return fmt.Errorf("image %q: pin %q needs a resolved %s, and the result has none", img.Alias, mode, what)
	}
	switch mode {
	case render.PinTag:
		if img.Tag == "" {
			return "", "", missing("tag")
		}
		return img.Tag, "", nil
	case render.PinDigest:
		if img.Digest == "" {
			return "", "", missing("digest")
		}
		return "", img.Digest, nil
	case render.PinTagAndDigest:
		if img.Tag == "" {
			return "", "", missing("tag")
		}
		if img.Digest == "" {
			return "", "", missing("digest")
		}
		return img.Tag, img.Digest, nil
	}
	return "", "", fmt.Errorf("image %q: unknown pin %q (use tag, digest or tag+digest)", img.Alias, img.Pin)
}
