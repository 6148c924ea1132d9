package cmp

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/argocd-image-resolver/argocd-image-resolver/render"
	"github.com/argocd-image-resolver/argocd-image-resolver/resolve"
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

// Prepared is a loaded chart ready for pins and one render.
type Prepared interface {
	Pins() (map[string]string, error)
	Render(ctx context.Context, images []render.Image) (*render.Output, error)
}

// HelmRenderer is the Renderer of the render package.
type HelmRenderer struct{}

// Prepare implements Renderer.
func (HelmRenderer) Prepare(ctx context.Context, req render.Request) (Prepared, error) {
	return render.Prepare(ctx, req)
}

// Recorder learns what each successful render resolved (the refresher
// implements it to re-check those images later). Record is called on the
// render path: it must return quickly and must not keep the slices'
// backing arrays for mutation.
type Recorder interface {
	Record(app App, specs []resolve.Spec, results []resolve.Result)
}

// Pipeline is one render from configuration to manifests, shared by the
// gRPC server and the generate command.
type Pipeline struct {
	Resolver Resolver
	Renderer Renderer
}

// Resolution is what the images of one application resolved to.
type Resolution struct {
	Specs []resolve.Spec
	// Results are in Specs order; pinned aliases have Pinned set and were
	// not sent to the resolver.
	Results []resolve.Result
	// Request is the render request with the resolved images.
	Request render.Request

	// prepared is the chart loaded for the pins, reused by Generate.
	prepared Prepared
}

// Generated is a finished render.
type Generated struct {
	Resolution
	Output *render.Output
}

// Counts summarises results for logs: resolved from the registry, from the
// cache, stale, and pinned or paused (no registry call for the tag).
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
// aliases are pinned and resolves the others.
func (p Pipeline) Resolve(ctx context.Context, cfg *Config, repoRoot, appDir string) (*Resolution, error) {
	display, err := filepath.Rel(repoRoot, appDir)
	if err != nil {
		display = appDir
	}
	if _, err := os.Stat(filepath.Join(appDir, "Chart.yaml")); err != nil {
		return nil, inputError("no Helm chart at path %q: Chart.yaml not found; the image-resolver plugin renders Helm charts only", display)
	}
	specs, err := cfg.Specs()
	if err != nil {
		return nil, err
	}
	req := render.Request{
		RepoRoot:                repoRoot,
		ChartDir:                appDir,
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
	}
	if req.ReleaseName == "" {
		req.ReleaseName = filepath.Base(appDir)
	}
	for _, s := range specs {
		req.Images = append(req.Images, imageFor(s, resolve.Result{}))
	}
	var (
		pins     map[string]string
		prepared Prepared
	)
	if len(specs) > 0 {
		prepared, err = p.Renderer.Prepare(ctx, req)
		if err == nil {
			pins, err = prepared.Pins()
		}
		if err != nil {
			return nil, &renderError{atStage("reading pinned images from the chart values", err)}
		}
	}

	var toResolve []resolve.Spec
	for _, s := range specs {
		if _, pinned := pins[s.Alias]; !pinned {
			toResolve = append(toResolve, s)
		}
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

	res := &Resolution{Specs: specs, Request: req, prepared: prepared}
	res.Request.Images = make([]render.Image, 0, len(specs))
	for _, s := range specs {
		r, ok := byAlias[s.Alias]
		if tag, pinned := pins[s.Alias]; pinned {
			r = resolve.Result{
				Alias: s.Alias, Image: s.Image, Strategy: s.Options.Strategy,
				Constraint: s.Constraint, Tag: tag, Pinned: true,
			}
		} else if !ok {
			return nil, &resolveError{fmt.Errorf("resolving images: the resolver returned no result for alias %q (%s)", s.Alias, s.Image)}
		}
		res.Results = append(res.Results, r)
		if r.Paused {
			// Updates paused (ignore-tags "*"): the chart keeps its values.
			continue
		}
		res.Request.Images = append(res.Request.Images, imageFor(s, r))
	}
	return res, nil
}

// Generate resolves and renders.
func (p Pipeline) Generate(ctx context.Context, cfg *Config, repoRoot, appDir string) (*Generated, error) {
	res, err := p.Resolve(ctx, cfg, repoRoot, appDir)
	if err != nil {
		return nil, err
	}
	prepared := res.prepared
	if prepared == nil {
		prepared, err = p.Renderer.Prepare(ctx, res.Request)
	}
	var out *render.Output
	if err == nil {
		out, err = prepared.Render(ctx, res.Request.Images)
	}
	if err != nil {
		if ctxErr := ctx.Err(); ctxErr != nil {
			return nil, atStage("rendering the chart", fmt.Errorf("%w: %w", ctxErr, err))
		}
		return nil, &renderError{atStage("rendering the chart", err)}
	}
	if err := ctx.Err(); err != nil {
		return nil, atStage("rendering the chart", err)
	}
	return &Generated{Resolution: *res, Output: out}, nil
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
	}
}
