package render

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"

	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/release"

	"github.com/argocd-image-resolver/argocd-image-resolver/rewrite"
)

// DefaultKubeVersion is used when a Request names no KubeVersion; Helm's own
// default (v1.20.0) is far too old for current charts.
const DefaultKubeVersion = "v1.34.0"

// DefaultReleaseName and DefaultNamespace are what `helm template` uses when
// none is given.
const (
	DefaultReleaseName = "release-name"
	DefaultNamespace   = "default"
)

// Render loads the chart, merges its values, injects the images and renders
// it like `helm template`. It is Prepare followed by Prepared.Render.
func Render(ctx context.Context, req Request) (*Output, error) {
	p, err := Prepare(ctx, req)
	if err != nil {
		return nil, err
	}
	return p.Render(ctx, req.Images)
}

// Pins loads the chart and merges its values to tell, before any registry
// call, which aliases of req.Images are pinned: alias -> pinned tag. The
// images' Tag and Digest may be empty here.
func Pins(req Request) (map[string]string, error) {
	p, err := Prepare(context.Background(), req)
	if err != nil {
		return nil, err
	}
	return p.Pins()
}

// Prepared is a loaded chart with its merged values, ready to compute pins
// and to render. It is safe for use by one goroutine at a time.
type Prepared struct {
	req  Request
	kube *chartutil.KubeVersion

	mu    sync.Mutex
	chart *chart.Chart // consumed by the first render (Helm mutates it)

	user      map[string]interface{} // merged user values, no injection
	effective map[string]interface{} // chart defaults coalesced with user
	params    map[string]string      // explicit parameters by canonical path
	// disabled names the sub-charts (by alias when they have one) that the
	// values disable for this render.
	disabled map[string]bool
}

// Prepare checks the request, loads the chart (fetching missing
// dependencies) and merges the values. It honours ctx.
func Prepare(ctx context.Context, req Request) (*Prepared, error) {
	return runCtx(ctx, func() (*Prepared, error) { return prepare(req) })
}

func prepare(req Request) (*Prepared, error) {
	if req.ChartDir == "" {
		return nil, errors.New("render: no chart directory given")
	}
	if req.Repo != nil {
		if err := memoryPaths(&req); err != nil {
			return nil, err
		}
	} else if err := diskPaths(&req); err != nil {
		return nil, err
	}
	if req.ReleaseName == "" {
		req.ReleaseName = DefaultReleaseName
	}
	if req.Namespace == "" {
		req.Namespace = DefaultNamespace
	}
	kv, err := parseKubeVersion(req.KubeVersion)
	if err != nil {
		return nil, atStage(StageKubeVersion, err)
	}
	user, err := userValues(&req)
	if err != nil {
		return nil, atStage(StageValues, err)
	}
	var ch *chart.Chart
	if req.Repo != nil {
		ch, err = loadChartMemory(req)
	} else {
		ch, err = loadChart(req.RepoRoot, req.ChartDir, req.Dependencies)
	}
	if err != nil {
		return nil, atStage(StageChart, err)
	}
	eff, disabled, err := effectiveValues(ch, user)
	if err != nil {
		return nil, atStage(StageMerge, fmt.Errorf("chart %s: %w", ch.Name(), err))
	}
	return &Prepared{
		req:       req,
		kube:      kv,
		chart:     ch,
		user:      user,
		effective: eff,
		params:    explicitParams(&req),
		disabled:  disabled,
	}, nil
}

// effectiveValues merges the chart's values with the user's the way the
// render will see them: dependency aliases and conditions applied (on a
// copy of the chart tree, since Helm rewrites the chart it processes), then
// coalesced. It also reports the sub-charts the values disable.
func effectiveValues(ch *chart.Chart, user map[string]interface{}) (map[string]interface{}, map[string]bool, error) {
	if len(ch.Metadata.Dependencies) == 0 {
		// No aliases or conditions to apply: coalescing is all.
		eff, err := chartutil.CoalesceValues(ch, deepCopyMap(user))
		return eff, nil, err
	}
	c := cloneChartTree(ch)
	declared := map[string]bool{}
	for _, d := range c.Metadata.Dependencies {
		if d == nil {
			continue
		}
		name := d.Name
		if d.Alias != "" {
			name = d.Alias
		}
		declared[name] = true
	}
	if err := chartutil.ProcessDependenciesWithMerge(c, deepCopyMap(user)); err != nil {
		return nil, nil, err
	}
	for _, d := range c.Dependencies() {
		delete(declared, d.Name())
	}
	eff, err := chartutil.CoalesceValues(c, deepCopyMap(user))
	if err != nil {
		return nil, nil, err
	}
	return eff, declared, nil
}

// cloneChartTree copies what Helm's dependency processing and rendering
// change: the chart structs, the dependency metadata and the values (the
// import-values of sub-charts are written into their parent's). Templates
// and files are shared read-only.
func cloneChartTree(c *chart.Chart) *chart.Chart {
	out := *c
	md := *c.Metadata
	md.Dependencies = make([]*chart.Dependency, len(c.Metadata.Dependencies))
	for i, d := range c.Metadata.Dependencies {
		if d != nil {
			dd := *d
			md.Dependencies[i] = &dd
		}
	}
	out.Metadata = &md
	if c.Values != nil {
		out.Values = deepCopyMap(c.Values)
	}
	deps := make([]*chart.Chart, 0, len(c.Dependencies()))
	for _, d := range c.Dependencies() {
		deps = append(deps, cloneChartTree(d))
	}
	out.SetDependencies(deps...)
	return &out
}

// parseKubeVersion accepts "1.31", "v1.31" or "v1.31.2"; empty means
// DefaultKubeVersion.
func parseKubeVersion(s string) (*chartutil.KubeVersion, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		s = DefaultKubeVersion
	}
	kv, err := chartutil.ParseKubeVersion(s)
	if err != nil {
		return nil, fmt.Errorf("kube version %q: %w (use a form like 1.31 or v1.31.2)", s, err)
	}
	return kv, nil
}

// Pins reports the pinned aliases of the request's images: alias -> tag.
func (p *Prepared) Pins() (map[string]string, error) {
	ps, err := resolvePaths(p.req.Images)
	if err != nil {
		return nil, atStage(StageInject, err)
	}
	out := map[string]string{}
	for i, img := range p.req.Images {
		if pn, ok := pinOf(img, ps[i], p.effective, p.params); ok {
			out[img.Alias] = pn.tag
		}
	}
	return out, nil
}

// Values returns a copy of the merged values (chart defaults, value files,
// inline values and parameters) before injection.
func (p *Prepared) Values() map[string]interface{} {
	return deepCopyMap(p.effective)
}

// Render injects images into the values and renders the chart. It honours
// ctx; a cancelled render returns ctx.Err().
func (p *Prepared) Render(ctx context.Context, images []Image) (*Output, error) {
	return runCtx(ctx, func() (*Output, error) { return p.render(images) })
}

func (p *Prepared) render(images []Image) (*Output, error) {
	writes, report, expects, rewrites, err := injections(images, p.effective, p.params)
	if err != nil {
		return nil, atStage(StageInject, err)
	}
	create := make(map[string]bool, len(images))
	for _, img := range images {
		create[img.Alias] = img.CreatePaths
	}
	vals := deepCopyMap(p.user)
	for _, w := range writes {
		skip, err := checkPath(w, p.effective, create[w.alias], p.disabled)
		if err != nil {
			return nil, atStage(StageInject, err)
		}
		if skip {
			continue
		}
		if err := w.path.set(vals, p.effective, w.value); err != nil {
			return nil, atStage(StageInject, err)
		}
	}
	ch, err := p.takeChart()
	if err != nil {
		return nil, atStage(StageChart, err)
	}
	if !p.req.SkipSchemaValidation {
		if err := validateValues(ch, vals); err != nil {
			return nil, atStage(StageTemplate, fmt.Errorf("rendering chart %s: %w", ch.Name(), err))
		}
	}
	text, err := p.template(ch, vals)
	if err != nil {
		return nil, atStage(StageTemplate, err)
	}
	out := &Output{Manifests: SplitDocuments(text), Injections: report}
	if len(rewrites) > 0 {
		// Before the check, so that it confirms what the rewrite wrote.
		rw, err := rewrite.Rewrite(out.Manifests, rewrites, p.req.ImageFields)
		if err != nil {
			return nil, atStage(StageRewrite, err)
		}
		out.Manifests = rw.Documents
	}
	if err := verifyRendered(out.Manifests, expects, report); err != nil {
		return nil, atStage(StageVerify, err)
	}
	if out.Manifests, err = Annotate(out.Manifests, images); err != nil {
		return nil, atStage(StageInject, err)
	}
	return out, nil
}

// takeChart hands out a copy of the loaded chart for one render: Helm
// changes a chart while rendering it.
func (p *Prepared) takeChart() (*chart.Chart, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return cloneChartTree(p.chart), nil
}

// template renders like `helm template` in client mode and returns its
// output text: the release manifest in install order, then the hooks
// (tests included).
func (p *Prepared) template(ch *chart.Chart, vals map[string]interface{}) (string, error) {
	cfg := &action.Configuration{
		Log: func(format string, v ...interface{}) {
			slog.Debug("helm: " + fmt.Sprintf(format, v...))
		},
	}
	inst := action.NewInstall(cfg)
	inst.DryRun = true
	inst.DryRunOption = "client"
	inst.ClientOnly = true
	inst.Replace = true
	inst.ReleaseName = p.req.ReleaseName
	inst.Namespace = p.req.Namespace
	inst.IncludeCRDs = !p.req.SkipCRDs
	inst.KubeVersion = p.kube
	inst.APIVersions = chartutil.VersionSet(p.req.APIVersions)
	// validateValues has checked the values (Helm's own check would
	// follow the schemas' references anywhere).
	inst.SkipSchemaValidation = true

	rel, err := inst.RunWithContext(context.Background(), ch, vals)
	if err != nil {
		return "", fmt.Errorf("rendering chart %s: %w", ch.Name(), err)
	}
	var b strings.Builder
	b.WriteString(strings.TrimSpace(rel.Manifest))
	b.WriteByte('\n')
	for _, h := range rel.Hooks {
		if p.req.SkipTests && isTestHook(h) {
			continue
		}
		fmt.Fprintf(&b, "---\n# Source: %s\n%s\n", h.Path, h.Manifest)
	}
	return b.String(), nil
}

// runCtx runs f in a goroutine and returns early with ctx.Err() when ctx
// ends first (Helm's engine takes no context).
func runCtx[T any](ctx context.Context, f func() (T, error)) (T, error) {
	var zero T
	if err := ctx.Err(); err != nil {
		return zero, err
	}
	type result struct {
		v   T
		err error
	}
	done := make(chan result, 1)
	go func() {
		defer func() {
			if r := recover(); r != nil {
				done <- result{err: fmt.Errorf("render: internal error: %v", r)}
			}
		}()
		v, err := f()
		done <- result{v, err}
	}()
	select {
	case <-ctx.Done():
		return zero, ctx.Err()
	case r := <-done:
		return r.v, r.err
	}
}

func isTestHook(h *release.Hook) bool {
	for _, e := range h.Events {
		if e == release.HookTest {
			return true
		}
	}
	return false
}

// diskPaths checks and cleans the request's paths on disk.
func diskPaths(req *Request) error {
	if req.RepoRoot == "" {
		req.RepoRoot = req.ChartDir
	}
	if !filepath.IsAbs(req.ChartDir) {
		req.ChartDir = filepath.Join(req.RepoRoot, req.ChartDir)
	}
	req.RepoRoot = filepath.Clean(req.RepoRoot)
	req.ChartDir = filepath.Clean(req.ChartDir)
	if !within(req.RepoRoot, req.ChartDir) {
		return fmt.Errorf("render: chart directory %s is outside the repository %s", req.ChartDir, req.RepoRoot)
	}
	return nil
}
