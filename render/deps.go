package render

import (
	"bytes"
	"fmt"
	"io"
	"io/fs"
	"path/filepath"
	"strings"

	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/cli"
	"helm.sh/helm/v3/pkg/downloader"
	"helm.sh/helm/v3/pkg/getter"
	"helm.sh/helm/v3/pkg/registry"
)

// DependencyOptions says where chart dependencies that are not vendored in
// charts/ come from. Empty fields fall back to Helm's own environment
// (HELM_REPOSITORY_CONFIG, HELM_REPOSITORY_CACHE, HELM_REGISTRY_CONFIG), so
// a mounted repositories.yaml and registry config.json work as for the CLI.
type DependencyOptions struct {
	// RepositoryConfig is a Helm repositories.yaml (names, URLs and
	// credentials of HTTP(S) chart repositories).
	RepositoryConfig string
	// RepositoryCache is a writable folder for repository indexes.
	RepositoryCache string
	// RegistryConfig is a Docker-style config.json with OCI registry
	// credentials.
	RegistryConfig string
	// PlainHTTP talks plain HTTP to OCI registries (local registries only).
	PlainHTTP bool
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
	if len(reqs) == 0 || len(missingDeps(ch, reqs)) == 0 {
		return ch, nil
	}
	if err := buildDeps(dir, opts); err != nil {
		return nil, fmt.Errorf("chart %s: fetching dependencies %s: %w (check the repository URLs in Chart.yaml and the credentials in the Helm repositories.yaml / registry config)",
			ch.Name(), describeDeps(ch, missingDeps(ch, reqs)), err)
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

func buildDeps(dir string, opts DependencyOptions) error {
	settings := opts.settings()
	regOpts := []registry.ClientOption{
		registry.ClientOptWriter(io.Discard),
		registry.ClientOptCredentialsFile(settings.RegistryConfig),
	}
	if opts.PlainHTTP {
		regOpts = append(regOpts, registry.ClientOptPlainHTTP())
	}
	rc, err := registry.NewClient(regOpts...)
	if err != nil {
		return fmt.Errorf("registry client: %w", err)
	}
	var out bytes.Buffer
	m := &downloader.Manager{
		Out:              &out,
		ChartPath:        dir,
		Getters:          getter.All(settings),
		RegistryClient:   rc,
		RepositoryConfig: settings.RepositoryConfig,
		RepositoryCache:  settings.RepositoryCache,
	}
	return m.Build()
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
