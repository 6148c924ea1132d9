// Package render renders a Helm chart in process with the Helm SDK, with
// resolved image versions written into its values. It knows nothing of
// registries or Argo CD: callers hand it plain Images.
package render

import "github.com/argocd-image-resolver/argocd-image-resolver/rewrite"

// Request is one render: a chart directory and Argo CD Helm-source options.
type Request struct {
	// RepoRoot is the root of the extracted repository; value files may not
	// leave it.
	RepoRoot string
	// ChartDir is the chart (the Application's path), inside RepoRoot.
	ChartDir string

	ReleaseName string
	Namespace   string
	// KubeVersion (e.g. "1.31" or "v1.31.2") and APIVersions (e.g.
	// "apps/v1", "monitoring.coreos.com/v1/ServiceMonitor") feed
	// .Capabilities; KubeVersion is always set, never the SDK default.
	KubeVersion string
	APIVersions []string

	ValueFiles              []string          // relative to ChartDir
	Values                  string            // inline values YAML
	Parameters              map[string]string // --set
	StringParameters        map[string]string // --set-string
	SkipCRDs                bool
	IgnoreMissingValueFiles bool
	// SkipTests leaves out test hooks (Argo CD's helm.skipTests);
	// SkipSchemaValidation skips values.schema.json checks.
	SkipTests            bool
	SkipSchemaValidation bool

	Images []Image
	// ImageFields are extra image fields of custom resources that images
	// with Rewrite are written into (serve --image-fields), besides the
	// containers of the workload kinds.
	ImageFields []rewrite.FieldSpec `json:"imageFields,omitempty"`

	// Dependencies says where chart dependencies missing from charts/ are
	// fetched from; empty fields use Helm's HELM_* environment.
	Dependencies DependencyOptions

	// Repo, when set, is the repository in memory; RepoRoot and ChartDir
	// are then slash paths in it (see Repository).
	Repo Repository `json:"-"`
	// Charts, when set, keeps loaded charts of repositories in memory by
	// content; ChartKey is the chart's key (ChartKey; computed when
	// empty). A caller that sends no chart files, counting on the cache,
	// gives the key and gets ErrChartNotCached when the cache lacks it.
	Charts   *ChartCache `json:"-"`
	ChartKey string      `json:"chartKey,omitempty"`
}

// Image is one alias to inject. Paths are dotted Helm value paths, list
// indexes allowed ("backend.containers[1].image.tag"); empty means default.
type Image struct {
	Alias      string
	Repository string
	Tag        string
	Digest     string
	Pin        string // "tag" | "digest" | "tag+digest"

	OverrideTag string // option: pins the alias to this tag

	TagPath      string // default "image.tag" (only with a single alias)
	NamePath     string // written with Repository when set
	SpecPath     string // written with the full reference when set
	ShasumPath   string // default: sibling "shasum" of TagPath
	OverridePath string // default: sibling "overrideTag" of TagPath

	// CreatePaths allows writing paths the chart's merged values lack; by
	// default such a path is an error (a typo would otherwise render the
	// chart's own default).
	CreatePaths bool
	// SkipRenderedCheck turns off the check that the rendered manifests
	// reference the image that was written, for charts that build the
	// reference in a way the check cannot see.
	SkipRenderedCheck bool
	// Annotation, when set, is written as the annotation
	// "argocd-image-resolver/image.<alias>" of every rendered workload that
	// runs the image. It must hold only values that stay the same while
	// the resolution does (no times), or Argo CD would see a change at
	// every render.
	Annotation string `json:",omitempty"`
	// Rewrite writes the reference (Repository with the tag, digest or
	// both, as Pin says) into the rendered manifests, in every container
	// that runs the repository, for charts that expose no image value.
	// Values are then written only for the paths given explicitly
	// (TagPath, NamePath or SpecPath); with none, no value is written.
	Rewrite bool `json:",omitempty"`
}

// Injection reports what render wrote for one alias.
type Injection struct {
	Alias  string            `json:"alias"`
	Pinned bool              `json:"pinned"`
	Values map[string]string `json:"values"` // path -> value written ("" = cleared)
}

// Output is the rendered chart.
type Output struct {
	// Manifests are the rendered documents in Helm's install order, one
	// YAML document each (CRDs first unless skipped, hooks included).
	Manifests  []string
	Injections []Injection
}
