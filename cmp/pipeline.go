package cmp

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path"

	"github.com/argocd-image-resolver/argocd-image-resolver/egress"
	"github.com/argocd-image-resolver/argocd-image-resolver/imagespec"
	"github.com/argocd-image-resolver/argocd-image-resolver/render"
	"github.com/argocd-image-resolver/argocd-image-resolver/resolve"
	"github.com/argocd-image-resolver/argocd-image-resolver/rewrite"
)

// Resolver answers which version each spec resolves to
// (*resolve.Resolver implements it).
type Resolver interface {
	Resolve(ctx context.Context, specs []resolve.Spec) ([]resolve.Result, error)
}

// Renderer loads a chart with its merged values once per render; the
// Prepared result first reports which aliases the values or options pin
// (before any resolution), then renders with the resolved images
// (HelmRenderer implements it).
type Renderer interface {
	Prepare(ctx context.Context, req render.Request) (Prepared, error)
}

// Prepared is a loaded chart ready for pins and one render. Close gives
// back what it holds (a render worker); it is called once, after Render or
// instead of it.
type Prepared interface {
	Pins() (map[string]string, error)
	Render(ctx context.Context, images []render.Image) (*render.Output, error)
	Close()
}

// HelmRenderer is the Renderer of the render package, in this process;
// Charts, when set, keeps charts of repositories in memory loaded.
type HelmRenderer struct {
	Charts *render.ChartCache
}

// Prepare implements Renderer.
func (h HelmRenderer) Prepare(ctx context.Context, req render.Request) (Prepared, error) {
	if req.Charts == nil {
		req.Charts = h.Charts
	}
	p, err := render.Prepare(ctx, req)
	if err != nil {
		return nil, err
	}
	return inProcess{p}, nil
}

// inProcess is a chart loaded in this process: nothing to give back.
type inProcess struct{ *render.Prepared }

func (inProcess) Close() {}

// Recorder learns what each successful render resolved (the refresher
// implements it to re-check those images later). Record is called on the
// render path: it must return quickly and must not keep the slices'
// backing arrays for mutation.
type Recorder interface {
	Record(app App, specs []resolve.Spec, results []resolve.Result)
}

// Rules says where the sidecar may connect for the Applications of a
// project (*resolve.RegistriesConfig implements it from registries.conf).
type Rules interface {
	Policy(project string) *egress.Policy
}

// DefaultMaxDependencyBytes caps what the chart dependency downloads of
// one render may read.
const DefaultMaxDependencyBytes = 64 << 20

// Pipeline is one render from configuration to manifests, shared by the
// gRPC server and the generate command.
type Pipeline struct {
	Resolver Resolver
	Renderer Renderer
	// Kustomizer runs the Kustomize builds; nil runs them in this
	// process.
	Kustomizer Kustomizer
	// Rules decide where chart dependencies may be fetched from; nil
	// allows every host but link-local ones.
	Rules Rules
	// MaxDependencyBytes caps the dependency downloads of one render; zero
	// means DefaultMaxDependencyBytes.
	MaxDependencyBytes int64
	// SpecOptions are the operator's defaults for every Application's
	// image options (resolve.StrictSemverByDefault).
	SpecOptions []resolve.SpecOption
	// Annotate writes every alias's provenance into annotations of the
	// workloads that run it (serve --annotate); without it only aliases
	// with the annotate option get them.
	Annotate bool
	// ImageFields are the image fields of custom resources that the
	// rewrite option writes into, besides workload containers (serve
	// --image-fields).
	ImageFields []rewrite.FieldSpec
	// Logger gets the full causes of failed chart dependency downloads at
	// debug level (errors shown to authors leave the answers out); nil
	// drops them.
	Logger *slog.Logger
}

// Resolution is what the images of one application resolved to.
type Resolution struct {
	Specs []resolve.Spec
	// Results are in Specs order; pinned aliases have Pinned set (their
	// tag was checked with one cached HEAD).
	Results []resolve.Result
	// Request is the render request with the resolved images.
	Request render.Request

	// prepared is the chart loaded for the pins, reused by Generate.
	prepared Prepared
	// manifests is the source of an application path that is no chart
	// (plain manifests or a kustomization), which Generate renders
	// instead of a chart.
	manifests manifestSource
}

// Close gives back the loaded chart when it will not be rendered.
func (r *Resolution) Close() {
	if r.prepared != nil {
		r.prepared.Close()
		r.prepared = nil
	}
}

// Generated is a finished render.
type Generated struct {
	Resolution
	Output *render.Output
}

// Counts summarises results for logs: resolved from the registry, from the
// cache, stale, and pinned or paused (at most one cached HEAD for a pin).
func (r *Resolution) Counts() (registry, cached, stale, pinned int) {
	for _, res := range r.Results {
		switch {
		case res.Pinned, res.Paused:
			pinned++
		case res.Source == resolve.SourceCache:
			cached++
		case res.Source == resolve.SourceStale:
			stale++
		default:
			registry++
		}
	}
	return
}

// Resolve checks the chart, parses the image specs, asks the renderer which
// aliases the values pin, checks those pins and resolves the others. The
// caller renders the Resolution with Render or gives it back with Close.
func (p Pipeline) Resolve(ctx context.Context, cfg *Config, repo Repo, app string) (*Resolution, error) {
	return p.resolve(ctx, cfg, repo, app, false)
}

// Announce is Resolve for the parameters announcement: it fetches no chart
// dependency (those missing from charts/ are left out) and renders
// nothing.
func (p Pipeline) Announce(ctx context.Context, cfg *Config, repo Repo, app string) (*Resolution, error) {
	res, err := p.resolve(ctx, cfg, repo, app, true)
	if err != nil {
		return nil, err
	}
	res.Close()
	return res, nil
}

func (p Pipeline) resolve(ctx context.Context, cfg *Config, repo Repo, app string, offline bool) (_ *Resolution, err error) {
	app = path.Clean(app)
	kind, kustomization, err := detectSource(repo, app)
	if err != nil {
		return nil, err
	}
	if kind != sourceKustomize && cfg.Kustomize.IsSet() {
		return nil, inputError("the kustomize-* parameters apply to Kustomize applications only, and path %q holds no kustomization.yaml (nor kustomization.yml or Kustomization); remove them", app)
	}
	var (
		manifests manifestSource
		kust      *kustomizeSource
	)
	switch kind {
	case sourceDirectory:
		directory, err := readDirectory(repo, app, cfg.Directory)
		if err != nil {
			return nil, &renderError{err}
		}
		manifests = directory
	case sourceKustomize:
		if kust, err = readKustomization(repo, app, kustomization, cfg.Kustomize); err != nil {
			return nil, &renderError{err}
		}
		kust.kustomizer = p.Kustomizer
		manifests = kust
	}
	specs, err := cfg.Specs(p.SpecOptions...)
	if err != nil {
		return nil, err
	}
	for i := range specs {
		name := specs[i].Options.KustomizeImageName
		switch {
		case kust != nil && name != "":
			if kust.names == nil {
				kust.names = map[string]string{}
			}
			kust.names[specs[i].Alias] = name
		case name != "":
			return nil, inputError("image %q: option %s applies to Kustomize applications only, and path %q holds no kustomization; remove it", specs[i].Alias, imagespec.OptKustomizeImageName, app)
		}
		if manifests != nil {
			// Plain manifests and kustomizations have no values to
			// write: every alias is written into the workloads that
			// run it.
			specs[i].Options.Rewrite = true
		}
	}
	req := render.Request{
		ReleaseName:             cfg.ReleaseName,
		Namespace:               cfg.Namespace,
		KubeVersion:             cfg.KubeVersion,
		APIVersions:             cfg.APIVersions,
		ValueFiles:              cfg.ValueFiles,
		Values:                  cfg.Values,
		Parameters:              cfg.HelmParameters,
		StringParameters:        cfg.HelmStringParameters,
		SkipCRDs:                cfg.SkipCRDs,
		IgnoreMissingValueFiles: cfg.IgnoreMissingValueFiles,
		Dependencies:            p.dependencies(cfg.App.Project),
		ImageFields:             p.ImageFields,
	}
	req.Dependencies.Offline = offline
	repo.renderRequest(&req, app)
	if req.ReleaseName == "" && app != "." {
		req.ReleaseName = path.Base(app)
	}
	for _, s := range specs {
		req.Images = append(req.Images, imageFor(s, resolve.Result{}))
	}
	var (
		pins     map[string]string
		prepared Prepared
	)
	if len(specs) > 0 && manifests == nil {
		prepared, err = p.Renderer.Prepare(ctx, req)
		if err != nil {
			return nil, &renderError{renderStage("loading the chart", err)}
		}
		defer func() {
			if err != nil {
				prepared.Close()
			}
		}()
		pins, err = prepared.Pins()
		if err != nil {
			return nil, &renderError{renderStage("reading pinned images from the chart values", err)}
		}
	}

	// A pin from the values or helm-parameters is checked like an
	// override-tag: the resolver HEADs the pinned tag (once, cached).
	toResolve := make([]resolve.Spec, 0, len(specs))
	for _, s := range specs {
		if tag, pinned := pins[s.Alias]; pinned {
			s.Options.OverrideTag = tag
		}
		toResolve = append(toResolve, s)
	}
	byAlias := make(map[string]resolve.Result, len(specs))
	if len(toResolve) > 0 {
		results, err := p.Resolver.Resolve(ctx, toResolve)
		if err != nil {
			if ctxErr := ctx.Err(); ctxErr != nil && !errors.Is(err, ctxErr) {
				err = fmt.Errorf("%w: %w", ctxErr, err)
			}
			return nil, &resolveError{atStage("resolving images", err)}
		}
		for _, r := range results {
			byAlias[r.Alias] = r
		}
	}

	res := &Resolution{Specs: specs, Request: req, prepared: prepared, manifests: manifests}
	res.Request.Images = make([]render.Image, 0, len(specs))
	for _, s := range specs {
		r, ok := byAlias[s.Alias]
		if !ok {
			return nil, &resolveError{fmt.Errorf("resolving images: the resolver returned no result for alias %q (%s)", s.Alias, s.Image)}
		}
		res.Results = append(res.Results, r)
		if r.Paused {
			// Updates paused (ignore-tags "*"): the chart keeps its values.
			continue
		}
		img := imageFor(s, r)
		if p.Annotate || s.Options.Annotate {
			img.Annotation = annotationFor(s, r)
		}
		res.Request.Images = append(res.Request.Images, img)
	}
	return res, nil
}

// dependencies are the options of chart dependency downloads for one
// render: Chart.yaml is author input, so they go through an egress
// transport with the project's rules and a byte cap, into an index cache
// of their own, and each dependency's repository is checked against the
// rules before any request.
func (p Pipeline) dependencies(project string) render.DependencyOptions {
	policy := egress.Unrestricted()
	if p.Rules != nil {
		policy = p.Rules.Policy(project)
	}
	limit := p.MaxDependencyBytes
	if limit <= 0 {
		limit = DefaultMaxDependencyBytes
	}
	return render.DependencyOptions{Policy: policy, MaxBytes: limit, Logger: p.Logger}
}

// Generate resolves and renders.
func (p Pipeline) Generate(ctx context.Context, cfg *Config, repo Repo, app string) (*Generated, error) {
	res, err := p.Resolve(ctx, cfg, repo, app)
	if err != nil {
		return nil, err
	}
	if res.manifests != nil {
		stage := "writing the images into the manifests"
		if _, ok := res.manifests.(*kustomizeSource); ok {
			stage = "building the kustomization"
		}
		out, err := res.manifests.render(ctx, res.Request.Images, p.ImageFields)
		if err != nil {
			if ctx.Err() != nil {
				return nil, atStage(stage, err)
			}
			return nil, &renderError{atStage(stage, err)}
		}
		return &Generated{Resolution: *res, Output: out}, nil
	}
	prepared := res.prepared
	res.prepared = nil
	if prepared == nil {
		prepared, err = p.Renderer.Prepare(ctx, res.Request)
	}
	var out *render.Output
	if err == nil {
		out, err = prepared.Render(ctx, res.Request.Images)
		prepared.Close()
	}
	if err != nil {
		if ctxErr := ctx.Err(); ctxErr != nil {
			if !errors.Is(err, ctxErr) {
				err = fmt.Errorf("%w: %w", ctxErr, err)
			}
			return nil, atStage("rendering the chart", err)
		}
		return nil, &renderError{renderStage("rendering the chart", err)}
	}
	if err := ctx.Err(); err != nil {
		return nil, atStage("rendering the chart", err)
	}
	return &Generated{Resolution: *res, Output: out}, nil
}

// renderStage prefixes err with stage unless the renderer already named
// the stage it failed in.
func renderStage(stage string, err error) error {
	var se *render.StageError
	if errors.As(err, &se) {
		return err
	}
	return atStage(stage, err)
}

func imageFor(s resolve.Spec, r resolve.Result) render.Image {
	return render.Image{
		Alias:        s.Alias,
		Repository:   s.Image,
		Tag:          r.Tag,
		Digest:       r.Digest,
		Pin:          s.Options.Pin,
		OverrideTag:  s.Options.OverrideTag,
		TagPath:      s.Options.HelmImageTag,
		NamePath:     s.Options.HelmImageName,
		SpecPath:     s.Options.HelmImageSpec,
		ShasumPath:   s.Options.HelmImageShasum,
		OverridePath: s.Options.HelmOverrideTag,

		CreatePaths:       s.Options.CreatePaths,
		SkipRenderedCheck: s.Options.NoRenderedCheck,
		Rewrite:           s.Options.Rewrite,
	}
}
