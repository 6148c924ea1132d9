package cmp

import (
	"context"
	"fmt"
	"maps"
	"path"
	"slices"
	"strconv"
	"strings"

	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/api/resmap"
	"sigs.k8s.io/kustomize/api/types"
	"sigs.k8s.io/yaml"

	"github.com/argocd-image-resolver/argocd-image-resolver/kustomization"
	"github.com/argocd-image-resolver/argocd-image-resolver/render"
	"github.com/argocd-image-resolver/argocd-image-resolver/rewrite"
)

// kustomizeSettings are the kustomize-* parameters as given.
type kustomizeSettings struct {
	NamePrefix        *string            `json:"kustomize-name-prefix,omitempty"`
	NameSuffix        *string            `json:"kustomize-name-suffix,omitempty"`
	Namespace         *string            `json:"kustomize-namespace,omitempty"`
	Images            *[]string          `json:"kustomize-images,omitempty"`
	CommonLabels      *map[string]string `json:"kustomize-common-labels,omitempty"`
	CommonAnnotations *map[string]string `json:"kustomize-common-annotations,omitempty"`
	Replicas          *map[string]string `json:"kustomize-replicas,omitempty"`
	Components        *[]string          `json:"kustomize-components,omitempty"`
	LoadRestrictor    *string            `json:"kustomize-load-restrictor,omitempty"`

	ForceCommonLabels      *flexBool `json:"kustomize-force-common-labels,omitempty"`
	ForceCommonAnnotations *flexBool `json:"kustomize-force-common-annotations,omitempty"`
}

// compileKustomizeOptions checks and compiles the kustomize-* settings,
// parameters winning over the repository file's.
func compileKustomizeOptions(params, file kustomizeSettings) (kustomization.Options, error) {
	o := kustomization.Options{
		NamePrefix:        pick(params.NamePrefix, file.NamePrefix),
		NameSuffix:        pick(params.NameSuffix, file.NameSuffix),
		Namespace:         pick(params.Namespace, file.Namespace),
		CommonLabels:      pick(params.CommonLabels, file.CommonLabels),
		CommonAnnotations: pick(params.CommonAnnotations, file.CommonAnnotations),
		Components:        pick(params.Components, file.Components),

		ForceCommonLabels:      bool(pick(params.ForceCommonLabels, file.ForceCommonLabels)),
		ForceCommonAnnotations: bool(pick(params.ForceCommonAnnotations, file.ForceCommonAnnotations)),
	}
	for _, entry := range pick(params.Images, file.Images) {
		img, err := kustomization.ParseImage(entry)
		if err != nil {
			return o, inputError("parameter %s: %v", ParamKustomizeImages, err)
		}
		o.Images = append(o.Images, img)
	}
	replicas := pick(params.Replicas, file.Replicas)
	for _, name := range slices.Sorted(maps.Keys(replicas)) {
		count, err := strconv.ParseInt(strings.TrimSpace(replicas[name]), 10, 32)
		if err != nil || count < 0 {
			return o, inputError("parameter %s: %q: the count %q is not a whole number of replicas", ParamKustomizeReplicas, name, replicas[name])
		}
		o.Replicas = append(o.Replicas, types.Replica{Name: name, Count: count})
	}
	for _, c := range o.Components {
		if kustomization.IsRemoteReference(c) {
			return o, inputError("parameter %s: %q is a remote reference: components must be folders of the Application's repository", ParamKustomizeComponents, c)
		}
	}
	switch r := pick(params.LoadRestrictor, file.LoadRestrictor); r {
	case "", types.LoadRestrictionsRootOnly.String():
	case types.LoadRestrictionsNone.String():
		o.LoadRestrictions = types.LoadRestrictionsNone
	default:
		return o, inputError("parameter %s: %q is not a load restrictor (use %s or %s)", ParamKustomizeLoadRestrictor, r, types.LoadRestrictionsRootOnly, types.LoadRestrictionsNone)
	}
	return o, nil
}

// KustomizePanicError is a Kustomize build that panicked: Kustomize does
// not check all of what a kustomization says (an images name that is no
// regular expression, for one) before using it.
type KustomizePanicError struct {
	Value any
}

func (e *KustomizePanicError) Error() string {
	return fmt.Sprintf("Kustomize stopped on something in the kustomization it does not check (%v): look for an images name or other value Kustomize would read as a pattern", e.Value)
}

// runKrusty runs Kustomize on the application path, a panic of
// Kustomize's own returned as a *KustomizePanicError.
func runKrusty(opts *krusty.Options, fsys *kustomizeFS, app string) (m resmap.ResMap, err error) {
	defer func() {
		if v := recover(); v != nil {
			m, err = nil, &KustomizePanicError{Value: v}
		}
	}()
	return krusty.MakeKustomizer(opts).Run(fsys, "/"+app)
}

// KustomizeError is a failed Kustomize build of an application path.
type KustomizeError struct {
	Path string
	Err  error
}

func (e *KustomizeError) Error() string {
	return fmt.Sprintf("kustomization at path %q: %v", e.Path, e.Err)
}

func (e *KustomizeError) Unwrap() error { return e.Err }

// kustomizeSource is the kustomization of an application path, with the
// Application's options applied, read when its images are resolved and
// built when it is rendered.
type kustomizeSource struct {
	repo Repo
	// kustomizer runs the build; nil runs it in this process.
	kustomizer Kustomizer
	path       string
	// file is the kustomization's path in the repository.
	file   string
	k      types.Kustomization
	limits types.LoadRestrictions
	// names are the manifests' names of the aliases that set
	// kustomize.image-name.
	names map[string]string
}

// readKustomization reads the kustomization named name in the folder
// app and applies the options to it.
func readKustomization(repo Repo, app, name string, opts kustomization.Options) (*kustomizeSource, error) {
	file := path.Join(app, name)
	data, err := repo.readFile(file)
	if err != nil {
		return nil, &KustomizeError{Path: app, Err: fmt.Errorf("reading %s: %w", name, err)}
	}
	src := &kustomizeSource{repo: repo, path: app, file: file, limits: opts.Restrictions()}
	if err := src.k.Unmarshal(data); err != nil {
		return nil, &KustomizeError{Path: app, Err: &kustomization.UnscreenedError{File: file, Err: err}}
	}
	if err := kustomization.NewScreen().Kustomization(file, &src.k); err != nil {
		return nil, &KustomizeError{Path: app, Err: err}
	}
	if err := opts.Apply(&src.k); err != nil {
		return nil, &KustomizeError{Path: app, Err: err}
	}
	return src, nil
}

// kustomizeImage is the images entry of one resolved image: the
// manifests' name for it (the alias's kustomize.image-name, or its
// repository), renamed to the repository when they differ, with the tag
// and digest of its pin mode.
func kustomizeImage(img render.Image, name string) (types.Image, error) {
	tag, digest, err := pinnedParts(img)
	if err != nil {
		return types.Image{}, err
	}
	entry := types.Image{Name: img.Repository, NewTag: tag, Digest: digest}
	if name != "" && name != img.Repository {
		entry.Name, entry.NewName = name, img.Repository
	}
	return entry, nil
}

// render builds the kustomization with the resolved images set in its
// images (Kustomize's image transformer writes them), with the source's
// Kustomizer or in this process, then writes them into the image fields
// the admins declared for custom resources and checks that each alias was
// written somewhere, unless it skips the check.
func (s *kustomizeSource) render(ctx context.Context, images []render.Image, fields []rewrite.FieldSpec) (*render.Output, error) {
	k := s.k
	out := &render.Output{}
	rws := make([]rewrite.Image, 0, len(images))
	entries := make([]types.Image, 0, len(images))
	for _, img := range images {
		entry, err := kustomizeImage(img, s.names[img.Alias])
		if err != nil {
			return nil, err
		}
		entries = append(entries, entry)
		ref, err := directoryReference(img)
		if err != nil {
			return nil, err
		}
		rws = append(rws, rewrite.Image{Repository: img.Repository, Reference: ref})
		out.Injections = append(out.Injections, render.Injection{Alias: img.Alias, Pinned: img.OverrideTag != "", Values: map[string]string{}})
	}
	k.Images = kustomization.SetImages(k.Images, entries...)
	edited, err := yaml.Marshal(&k)
	if err != nil {
		return nil, &KustomizeError{Path: s.path, Err: fmt.Errorf("writing the images into %s: %w", path.Base(s.file), err)}
	}
	b := KustomizeBuild{Path: s.path, File: s.file, Kustomization: edited, LoadRestrictions: s.limits}
	var docs []string
	if s.kustomizer != nil {
		docs, err = s.kustomizer.Kustomize(ctx, s.repo, b)
	} else {
		docs, err = b.Run(ctx, s.repo)
	}
	if err != nil {
		return nil, err
	}
	rw, err := rewrite.Rewrite(docs, rws, fields)
	if err != nil {
		return nil, err
	}
	for i, img := range images {
		if rw.Written[i] == 0 && !img.SkipRenderedCheck {
			return nil, &NotRunError{Alias: img.Alias, Repository: img.Repository, Path: s.path, Kustomize: true}
		}
	}
	out.Manifests, err = render.Annotate(rw.Documents, images)
	if err != nil {
		return nil, err
	}
	return out, nil
}

// KustomizeBuild is one Kustomize build of an application path, all but
// the repository it reads: what a Kustomizer runs.
type KustomizeBuild struct {
	// Path is the application path, the folder built.
	Path string `json:"path"`
	// File is the application's kustomization file, and Kustomization
	// its content with the Application's options and the resolved
	// images: the build reads it instead of the repository's.
	File          string `json:"file"`
	Kustomization []byte `json:"kustomization"`
	// LoadRestrictions is the Application's load restrictor (the build
	// reads only the repository's files either way).
	LoadRestrictions types.LoadRestrictions `json:"loadRestrictions"`
}

// Kustomizer runs Kustomize builds over a repository (a render worker
// pool runs them in child processes that can be stopped); a Pipeline
// without one runs them in its own process, with KustomizeBuild.Run.
type Kustomizer interface {
	Kustomize(ctx context.Context, repo Repo, b KustomizeBuild) ([]string, error)
}

// Run builds b over repo in this process and returns the built
// documents, in Kustomize's order. The build reads through a read-only
// view of repo, within the bounds of one build, each file screened by
// a kustomization.Screen; it stops at the next read once ctx ends (and then
// returns ctx's error). Other failures are *KustomizeError, whose cause is
// the refused read when a read was refused.
func (b KustomizeBuild) Run(ctx context.Context, repo Repo) ([]string, error) {
	fsys := &kustomizeFS{
		ctx:    ctx,
		repo:   repo,
		edited: map[string][]byte{"/" + b.File: b.Kustomization},
		screen: kustomization.NewScreen().File,
	}
	opts := krusty.MakeDefaultOptions()
	opts.LoadRestrictions = b.LoadRestrictions
	// As the kustomize program orders its output when the kustomization
	// sets no sortOptions (Argo CD runs the program).
	opts.Reorder = krusty.ReorderOptionUnspecified
	m, err := runKrusty(opts, fsys, b.Path)
	if err != nil {
		if ctxErr := ctx.Err(); ctxErr != nil {
			return nil, ctxErr
		}
		if fsys.refused != nil {
			// The cause, rather than what Kustomize made of it.
			err = fsys.refused
		}
		return nil, &KustomizeError{Path: b.Path, Err: err}
	}
	docs := make([]string, 0, m.Size())
	for _, r := range m.Resources() {
		y, err := r.AsYAML()
		if err != nil {
			return nil, &KustomizeError{Path: b.Path, Err: fmt.Errorf("writing %s: %w", r.CurId(), err)}
		}
		docs = append(docs, string(y))
	}
	return docs, nil
}
