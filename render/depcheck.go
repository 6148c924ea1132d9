package render

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"path"
	"path/filepath"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/provenance"
	"helm.sh/helm/v3/pkg/registry"
	"helm.sh/helm/v3/pkg/repo"

	"github.com/argocd-image-resolver/argocd-image-resolver/egress"
)

// checkDependencies runs before Helm is asked for anything. Chart.yaml and
// Chart.lock are author input, so every dependency they name with a
// remote repository is checked here, so that a refusal names the
// dependency and no request is made:
//
//   - a Chart.lock must match Chart.yaml (Helm's message for one that
//     does not is the same whatever failed, so it is told apart here);
//   - only http(s) and oci:// repositories (and @name / alias:name of the
//     plugin's repositories.yaml) are fetched;
//   - @name and alias:name must be defined in the plugin's
//     repositories.yaml (Helm would advise `helm repo add`, which an
//     author cannot run), and so must a Chart.lock's http(s) repository,
//     which Helm fetches from defined repositories only;
//   - the host goes to the transport's Proxy hook first (the egress
//     transport's CheckHost: rules and link-local addresses);
//   - the repository must match the rules of opts.Policy as a repository,
//     not only by host (checkRepository).
func checkDependencies(ch *chart.Chart, opts DependencyOptions, repos []*repo.Entry) error {
	if err := checkLock(ch, repos); err != nil {
		return err
	}
	deps := ch.Metadata.Dependencies
	var locked map[*chart.Dependency]bool
	if ch.Lock != nil {
		locked = map[*chart.Dependency]bool{}
		for _, d := range ch.Lock.Dependencies {
			locked[d] = true
		}
		deps = append(append([]*chart.Dependency(nil), deps...), ch.Lock.Dependencies...)
	}
	for _, d := range deps {
		if d == nil || d.Repository == "" || strings.HasPrefix(d.Repository, "file://") {
			continue // vendored, or checked by checkLocalDeps
		}
		raw := d.Repository
		if n, ok := repositoryName(raw); ok {
			e := repoByName(repos, n)
			if e == nil {
				return &UnknownRepositoryError{Chart: ch.Name(), Dependency: d.Name, Repository: d.Repository, Name: n}
			}
			raw = e.URL
		}
		u, err := url.Parse(raw)
		if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https" && u.Scheme != registry.OCIScheme) {
			return &UnsupportedRepositoryError{Chart: ch.Name(), Dependency: d.Name, Repository: d.Repository}
		}
		if locked[d] && u.Scheme != registry.OCIScheme && !definedURL(repos, raw) {
			return &UnknownRepositoryError{Chart: ch.Name(), Dependency: d.Name, Repository: d.Repository}
		}
		if err := checkHost(opts.Transport, u); err != nil {
			return &DependencyRefusedError{Chart: ch.Name(), Dependency: d.Name, Repository: d.Repository, Err: err}
		}
		if err := checkRepository(opts.Policy, u, d.Name); err != nil {
			return &DependencyRefusedError{Chart: ch.Name(), Dependency: d.Name, Repository: d.Repository, Err: err}
		}
	}
	return nil
}

// checkLock refuses a Chart.lock whose digest is not that of Chart.yaml's
// dependencies and its own, computed as Helm's Build does (after it has
// replaced @name and alias:name by the repositories' URLs). Charts of
// apiVersion v1 (requirements.lock, possibly hashed by Helm 2) are left
// to Helm.
func checkLock(ch *chart.Chart, repos []*repo.Entry) error {
	if ch.Lock == nil || ch.Metadata.APIVersion == chart.APIVersionV1 {
		return nil
	}
	req := make([]*chart.Dependency, len(ch.Metadata.Dependencies))
	for i, d := range ch.Metadata.Dependencies {
		if d == nil {
			continue
		}
		dd := *d
		if n, ok := repositoryName(dd.Repository); ok {
			if e := repoByName(repos, n); e != nil {
				dd.Repository = e.URL
			}
		}
		req[i] = &dd
	}
	data, err := json.Marshal([2][]*chart.Dependency{req, ch.Lock.Dependencies})
	if err != nil {
		return nil // for Helm to report
	}
	sum, err := provenance.Digest(bytes.NewReader(data))
	if err != nil || "sha256:"+sum == ch.Lock.Digest {
		return nil
	}
	return &LockOutOfSyncError{Chart: ch.Name()}
}

// LockOutOfSyncError is a Chart.lock that does not match the dependencies
// of Chart.yaml.
type LockOutOfSyncError struct{ Chart string }

func (e *LockOutOfSyncError) Error() string {
	return fmt.Sprintf("chart %s: Chart.lock is out of sync with the dependencies of Chart.yaml: run `helm dependency update` and commit Chart.lock, or remove Chart.lock", e.Chart)
}

// repositoryName is the repository name of "@name" and "alias:name".
func repositoryName(repository string) (string, bool) {
	if n, ok := strings.CutPrefix(repository, "@"); ok {
		return n, true
	}
	return strings.CutPrefix(repository, "alias:")
}

func repoByName(repos []*repo.Entry, n string) *repo.Entry {
	for _, e := range repos {
		if e.Name == n {
			return e
		}
	}
	return nil
}

// definedURL reports whether repositories.yaml defines the repository at
// raw, compared as Helm's hasAllRepos does (internal/urlutil.Equal on the
// URL without its trailing slash).
func definedURL(repos []*repo.Entry, raw string) bool {
	for _, e := range repos {
		if sameURL(e.URL, strings.TrimSuffix(raw, "/")) {
			return true
		}
	}
	return false
}

// sameURL is Helm's internal/urlutil.Equal.
func sameURL(a, b string) bool {
	au, err := url.Parse(a)
	if err != nil {
		return filepath.Clean(a) == filepath.Clean(b)
	}
	bu, err := url.Parse(b)
	if err != nil {
		return false
	}
	for _, u := range []*url.URL{au, bu} {
		if u.Path == "" {
			u.Path = "/"
		}
		u.Path = filepath.Clean(u.Path)
	}
	return au.String() == bu.String()
}

// checkHost offers the repository's URL to the transport's Proxy hook,
// where the egress transport checks the host against the rules and
// refuses link-local addresses (Helm itself reports a failed index
// download only as "no cached repository").
func checkHost(tr *http.Transport, u *url.URL) error {
	if tr == nil || tr.Proxy == nil {
		return nil
	}
	target := u
	if u.Scheme == registry.OCIScheme {
		target = &url.URL{Scheme: "https", Host: u.Host, Path: "/v2/"}
	}
	_, err := tr.Proxy(&http.Request{Method: http.MethodGet, URL: target, Host: target.Host, Header: http.Header{}})
	return err
}

// checkRepository refuses a dependency whose repository the rules do not
// cover. The rules are registries.conf patterns (`host/path/*`), written
// for OCI repositories, and a chart dependency is named the same way for
// both kinds of repository: the URL's host, its path and the chart's name,
// so that one rule covers a team's charts wherever they are served:
//
//	oci://registry.example.com/team-a        + web -> registry.example.com/team-a/web
//	https://charts.example.com/team-a/stable + web -> charts.example.com/team-a/stable/web
//
// For an HTTP chart repository this is where its index is asked for; the
// index then names where the chart's archive is downloaded, which only the
// hosts are checked for (at dial time): the index is the answer of a
// repository the rules allow. A path with . or .. segments or escaped
// characters is refused under rules, since a server may read it as
// another path than the one checked. Without rules nothing is checked.
func checkRepository(p *egress.Policy, u *url.URL, chartName string) error {
	if !p.Restricted() {
		return nil
	}
	host := strings.ToLower(u.Host)
	if r, err := name.NewRegistry(u.Host); err == nil {
		host = r.RegistryStr() // as the patterns' hosts are compared
	}
	written := strings.Trim(u.EscapedPath(), "/")
	plain := u.RawPath == "" && strings.Trim(path.Clean("/"+u.Path), "/") == strings.Trim(u.Path, "/")
	full := chartName
	if written != "" {
		full = written + "/" + chartName
	}
	if plain && p.AllowsRepository(host, full) {
		return nil
	}
	return &RepositoryNotAllowedError{
		Repository: host + "/" + full,
		Rules:      p.Name(),
		Patterns:   p.Patterns(),
		NotPlain:   !plain,
		refusal:    &egress.RefusedError{Host: u.Host, Reason: egress.ReasonNotAllowed, Rules: p.Name()},
	}
}

// DependencyRefusedError is a dependency whose repository the caller's
// rules refuse; nothing was asked of it. Err is an *egress.RefusedError,
// a *RepositoryNotAllowedError, or the transport's own refusal.
type DependencyRefusedError struct {
	Chart      string
	Dependency string
	Repository string // as Chart.yaml or Chart.lock writes it
	Err        error
}

func (e *DependencyRefusedError) Error() string {
	return fmt.Sprintf("chart %s: dependency %q from %s: %v", e.Chart, e.Dependency, e.Repository, e.Err)
}

func (e *DependencyRefusedError) Unwrap() error { return e.Err }

// RepositoryNotAllowedError is a chart repository outside the rules as a
// repository (host, path and chart name), though its host may be allowed.
// It unwraps to the egress refusal of its host, so that callers treat it
// as any other refusal by the rules.
type RepositoryNotAllowedError struct {
	// Repository is the repository as checked: host/path/chart.
	Repository string
	// Rules and Patterns are the rules that refused it (egress.Policy
	// Name and Patterns).
	Rules    string
	Patterns []string
	// NotPlain is set when the path has . or .. segments or escaped
	// characters, which no rule matches.
	NotPlain bool

	refusal *egress.RefusedError
}

func (e *RepositoryNotAllowedError) Error() string {
	rules := strings.Join(e.Patterns, ", ")
	if rules == "" {
		rules = "none"
	}
	why := "is outside"
	if e.NotPlain {
		why = "has . or .. segments or escaped characters in its path, which match none of"
	}
	return fmt.Sprintf("%s %s the %s rules (%s); ask the Argo CD admins to add it to registries.conf, or vendor the chart in charts/",
		e.Repository, why, e.Rules, rules)
}

func (e *RepositoryNotAllowedError) Unwrap() error { return e.refusal }

// UnknownRepositoryError is a dependency from a chart repository the
// plugin's Helm repositories.yaml does not define: @name or alias:name
// in Chart.yaml, or the URL a Chart.lock pins.
type UnknownRepositoryError struct {
	Chart      string
	Dependency string
	Repository string // as written
	// Name is the repository name of @name or alias:name; empty for a
	// Chart.lock URL.
	Name string
}

func (e *UnknownRepositoryError) Error() string {
	if e.Name == "" {
		return fmt.Sprintf("chart %s: Chart.lock pins dependency %q to the chart repository %s, which the plugin's Helm repositories.yaml does not define, "+
			"and with a Chart.lock Helm fetches only from defined repositories: remove Chart.lock so that the dependency is fetched from its URL, "+
			"ask the Argo CD admins to add the repository URL to the plugin's repositories.yaml, or vendor the chart in charts/",
			e.Chart, e.Dependency, e.Repository)
	}
	return fmt.Sprintf("chart %s: dependency %q names the chart repository %q (%s), which the plugin's Helm repositories.yaml does not define: "+
		"write the repository's URL in Chart.yaml instead (https://... or oci://...), ask the Argo CD admins to add %q to the plugin's repositories.yaml, "+
		"or vendor the chart in charts/",
		e.Chart, e.Dependency, e.Name, e.Repository, e.Name)
}

// UnsupportedRepositoryError is a dependency whose repository is neither
// an http(s) or oci:// URL nor @name / alias:name: other schemes would
// run Helm plugins, and a bare name is no repository.
type UnsupportedRepositoryError struct {
	Chart      string
	Dependency string
	Repository string
}

func (e *UnsupportedRepositoryError) Error() string {
	return fmt.Sprintf("chart %s: dependency %q from %q: the repository must be an http(s) or oci:// URL, @name of the plugin's Helm repositories.yaml, "+
		"or file:// inside the repository (Helm plugins' schemes are not supported); fix it, or vendor the chart in charts/",
		e.Chart, e.Dependency, e.Repository)
}
