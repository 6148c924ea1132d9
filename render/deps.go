package render

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/cli"
	"helm.sh/helm/v3/pkg/downloader"
	"helm.sh/helm/v3/pkg/registry"
	"helm.sh/helm/v3/pkg/repo"

	"github.com/argocd-image-resolver/argocd-image-resolver/egress"
)

// DependencyOptions says where chart dependencies that are not vendored in
// charts/ come from. Empty configuration files fall back to Helm's own
// environment (HELM_REPOSITORY_CONFIG, HELM_REGISTRY_CONFIG), so a mounted
// repositories.yaml and registry config.json work as for the CLI.
//
// Chart.yaml and Chart.lock are part of the repository, so the
// dependencies they name are author input: file:// dependencies must stay
// inside the repository, only http(s) and oci:// repositories are fetched
// (no Helm plugins), and the caller's Transport decides where downloads may
// go and how much they may read.
type DependencyOptions struct {
	// RepositoryConfig is a Helm repositories.yaml (names, URLs,
	// credentials and TLS files of HTTP(S) chart repositories).
	RepositoryConfig string
	// RepositoryCache is a writable folder for repository indexes. Empty
	// means a fresh folder for each render, removed after it, so that no
	// render sees an index another one fetched.
	RepositoryCache string
	// RegistryConfig is a Docker-style config.json with OCI registry
	// credentials.
	RegistryConfig string
	// PlainHTTP talks plain HTTP to OCI registries (local registries only).
	PlainHTTP bool
	// Transport carries every download (chart repositories and OCI
	// registries); nil uses one like Helm's own (proxy from the
	// environment) for chart repositories and Helm's own for registries.
	// The TLS files of repositories.yaml entries are applied on top of it.
	// With Policy or MaxBytes set and no Transport, the downloads go
	// through an egress transport with that policy and byte budget, built
	// for the render (so that options sent to a render worker need no
	// transport).
	Transport *http.Transport `json:"-"`
	// Policy holds the rules every dependency's repository must match
	// (egress.Policy.AllowsRepository), checked before any request; nil
	// allows every repository. Hosts are checked by the Transport.
	Policy *egress.Policy
	// MaxBytes caps what the downloads of one render may read (zero: no
	// cap), when the transport is built here.
	MaxBytes int64
	// Offline fetches nothing: dependencies missing from charts/ are left
	// out (for answers that only read values, such as the parameters
	// announcement).
	Offline bool
	// Logger gets, at debug level, the full cause of a failed fetch
	// (scrubbed of repository credentials, capped): the answer texts that
	// errors shown to authors leave out. Nil drops it.
	Logger *slog.Logger `json:"-"`
}

// withTransport returns the options with the egress transport their
// Policy and MaxBytes call for, unless a Transport is given.
func (o DependencyOptions) withTransport() DependencyOptions {
	if o.Transport == nil && (o.Policy != nil || o.MaxBytes > 0) {
		var opts []egress.Option
		if o.MaxBytes > 0 {
			opts = append(opts, egress.WithByteBudget(o.MaxBytes))
		}
		o.Transport = egress.NewTransport(o.Policy, opts...)
	}
	return o
}

// settings returns Helm CLI settings with the options applied.
func (o DependencyOptions) settings() *cli.EnvSettings {
	s := cli.New()
	if o.RepositoryConfig != "" {
		s.RepositoryConfig = o.RepositoryConfig
	}
	if o.RepositoryCache != "" {
		s.RepositoryCache = o.RepositoryCache
	}
	if o.RegistryConfig != "" {
		s.RegistryConfig = o.RegistryConfig
	}
	return s
}

// loadChart loads the chart directory and, when Chart.yaml names
// dependencies that charts/ does not hold, fetches them the way
// `helm dependency build` does (Chart.lock when present) and loads again.
func loadChart(root, dir string, opts DependencyOptions) (*chart.Chart, error) {
	if err := checkSymlinks(root, dir); err != nil {
		return nil, err
	}
	ch, err := loader.Load(dir)
	if err != nil {
		return nil, fmt.Errorf("loading chart %s: %w", dir, err)
	}
	switch ch.Metadata.Type {
	case "", "application":
	default:
		return nil, fmt.Errorf("chart %s: %s charts are not installable", ch.Name(), ch.Metadata.Type)
	}
	reqs := ch.Metadata.Dependencies
	if len(reqs) == 0 || len(missingDeps(ch, reqs)) == 0 || opts.Offline {
		return ch, nil
	}
	if err := checkLocalDeps(root, dir, ch); err != nil {
		return nil, fmt.Errorf("chart %s: %w", ch.Name(), err)
	}
	opts = opts.withTransport()
	repos, err := loadRepositories(opts.settings().RepositoryConfig)
	if err != nil {
		return nil, err
	}
	if err := checkDependencies(ch, opts, repos); err != nil {
		return nil, err
	}
	log := fetchLog{logger: opts.Logger, repos: repos}
	if err := buildDeps(dir, opts, repos, log); err != nil {
		missing := missingDeps(ch, reqs)
		return nil, &DependencyError{Chart: ch.Name(), Dependencies: describeDeps(ch, missing), Count: len(missing),
			Err: fetchFailure(err, ch, missing, opts, repos, log)}
	}
	ch, err = loader.Load(dir)
	if err != nil {
		return nil, fmt.Errorf("loading chart %s after fetching dependencies: %w", dir, err)
	}
	if missing := missingDeps(ch, ch.Metadata.Dependencies); len(missing) > 0 {
		return nil, fmt.Errorf("chart %s: dependencies %s are missing from charts/ after fetching them", ch.Name(), describeDeps(ch, missing))
	}
	return ch, nil
}

// DependencyError is a chart dependency missing from charts/ that could
// not be fetched. Err, a *FetchError, is the cause in terms of the chart
// repository, not of Helm's CLI (no cache names, no "helm repo update"),
// and never repeats the repository's answer.
type DependencyError struct {
	Chart        string
	Dependencies string // each with its version and repository
	Count        int
	Err          error
}

func (e *DependencyError) Error() string {
	what := "dependency"
	if e.Count > 1 {
		what = "dependencies"
	}
	hint := hintDefault
	var fe *FetchError
	if errors.As(e.Err, &fe) && fe.hint != "" {
		hint = fe.hint
	}
	return fmt.Sprintf("chart %s: fetching %s %s: %v; %s", e.Chart, what, e.Dependencies, e.Err, hint)
}

func (e *DependencyError) Unwrap() error { return e.Err }

func missingDeps(ch *chart.Chart, reqs []*chart.Dependency) []string {
	var missing []string
	for _, r := range reqs {
		found := false
		for _, d := range ch.Dependencies() {
			if d.Name() == r.Name {
				found = true
				break
			}
		}
		if !found {
			missing = append(missing, r.Name)
		}
	}
	return missing
}

// describeDeps names each dependency with its version and repository.
func describeDeps(ch *chart.Chart, names []string) string {
	var parts []string
	for _, n := range names {
		for _, d := range ch.Metadata.Dependencies {
			if d.Name == n {
				repo := d.Repository
				if repo == "" {
					repo = "charts/ (vendored)"
				}
				parts = append(parts, fmt.Sprintf("%q (version %s from %s)", n, d.Version, repo))
				break
			}
		}
	}
	return strings.Join(parts, ", ")
}

// checkLocalDeps refuses file:// dependencies (of Chart.yaml or
// Chart.lock) that lead outside the repository, lexically or through
// symlinks: Helm would copy any chart folder of the server into this one.
func checkLocalDeps(root, dir string, ch *chart.Chart) error {
	deps := ch.Metadata.Dependencies
	if ch.Lock != nil {
		deps = append(append([]*chart.Dependency(nil), deps...), ch.Lock.Dependencies...)
	}
	realRoot, err := filepath.EvalSymlinks(root)
	if err != nil {
		return fmt.Errorf("repository root: %w", err)
	}
	for _, d := range deps {
		p, ok := strings.CutPrefix(d.Repository, "file://")
		if !ok {
			continue
		}
		// As Helm reads it: absolute, or relative to the chart.
		if !filepath.IsAbs(p) {
			p = filepath.Join(dir, p)
		}
		outside := fmt.Errorf("dependency %q: %s leads outside the repository; file:// dependencies must stay in it (or vendor the chart in charts/)", d.Name, d.Repository)
		if !within(root, filepath.Clean(p)) {
			return outside
		}
		real, err := filepath.EvalSymlinks(p)
		if err != nil {
			return fmt.Errorf("dependency %q: %s is not a folder of the repository", d.Name, d.Repository)
		}
		if !within(realRoot, real) {
			return outside
		}
	}
	return nil
}

// downloadTimeout bounds one download, as Helm's CLI does.
const downloadTimeout = 120 * time.Second

func buildDeps(dir string, opts DependencyOptions, repos []*repo.Entry, log fetchLog) error {
	settings := opts.settings()
	if opts.RepositoryCache == "" {
		cache, err := os.MkdirTemp("", "helm-repository-cache-")
		if err != nil {
			return fmt.Errorf("repository cache: %w", err)
		}
		defer os.RemoveAll(cache)
		settings.RepositoryCache = cache
	}
	regOpts := []registry.ClientOption{
		registry.ClientOptWriter(io.Discard),
		registry.ClientOptCredentialsFile(settings.RegistryConfig),
	}
	if opts.PlainHTTP {
		regOpts = append(regOpts, registry.ClientOptPlainHTTP())
	}
	if opts.Transport != nil {
		regOpts = append(regOpts, registry.ClientOptHTTPClient(&http.Client{Transport: opts.Transport}))
		defer opts.Transport.CloseIdleConnections()
	}
	rc, err := registry.NewClient(regOpts...)
	if err != nil {
		return fmt.Errorf("registry client: %w", err)
	}
	var out bytes.Buffer
	m := &downloader.Manager{
		Out:              &out,
		ChartPath:        dir,
		Getters:          getters(opts.Transport, repos, log),
		RegistryClient:   rc,
		RepositoryConfig: settings.RepositoryConfig,
		RepositoryCache:  settings.RepositoryCache,
	}
	return m.Build()
}

// loadRepositories reads repositories.yaml; a missing file has no entries.
func loadRepositories(path string) ([]*repo.Entry, error) {
	f, err := repo.LoadFile(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, nil
		}
		return nil, fmt.Errorf("helm repositories %s: %w", path, err)
	}
	return f.Repositories, nil
}

// checkSymlinks refuses a chart holding a symlink that leads outside the
// repository: Helm's loader follows links, so such a chart could read any
// file of the server into its output.
func checkSymlinks(root, dir string) error {
	realRoot, err := filepath.EvalSymlinks(root)
	if err != nil {
		return fmt.Errorf("repository root: %w", err)
	}
	return filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return fmt.Errorf("reading chart %s: %w", dir, err)
		}
		if d.Type()&fs.ModeSymlink == 0 {
			return nil
		}
		target, err := filepath.EvalSymlinks(p)
		if err != nil {
			return fmt.Errorf("chart file %s: broken symlink: %w", relOrSelf(root, p), err)
		}
		if !within(realRoot, target) {
			return fmt.Errorf("chart file %s is a symlink leading outside the repository; remove it or vendor the file", relOrSelf(root, p))
		}
		return nil
	})
}
