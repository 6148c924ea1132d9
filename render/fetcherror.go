package render

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strings"
	"syscall"

	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/repo"
	"oras.land/oras-go/v2/errdef"
	"oras.land/oras-go/v2/registry/remote/errcode"

	"github.com/argocd-image-resolver/argocd-image-resolver/egress"
	"github.com/argocd-image-resolver/argocd-image-resolver/registryerror"
)

// FetchError is why chart dependencies could not be fetched, in words
// that may be shown to Application authors. A chart repository or
// registry named in Chart.yaml may be any server, so its answer's text
// (body, reason phrase, registry error messages, header values such as a
// redirect's Location) never appears here: only the HTTP status, the
// registry's error codes and our own words. The full error goes to the
// debug log (DependencyOptions.Logger).
type FetchError struct {
	// Status is the HTTP status of the failed answer, 0 when there was
	// none (refused, unreachable, unusable answer).
	Status int
	// Codes are the registry's error codes (OCI distribution API:
	// NAME_UNKNOWN, DENIED, ...).
	Codes []string
	// Reason says what failed.
	Reason string

	hint string
	// cause is a cause whose text is ours, kept for errors.Is/As: an
	// *egress.RefusedError (without the host when an answer named it),
	// an *egress.BudgetError or a context error; nil otherwise.
	cause error
}

func (e *FetchError) Error() string { return e.Reason }

func (e *FetchError) Unwrap() error { return e.cause }

// Hints of a FetchError: what a person can do about it.
const (
	hintDefault     = "vendor the chart in charts/, or check that its repository is reachable from the plugin and that the plugin's Helm repositories.yaml or registry config holds its credentials"
	hintCredentials = "check that the plugin's Helm repositories.yaml or registry config holds credentials for the repository, or vendor the chart in charts/"
	hintNotFound    = "check the repository URL and the chart's name and version in Chart.yaml, or vendor the chart in charts/"
	hintRateLimited = "the repository is rate limiting; retry later, or vendor the chart in charts/"
	hintLinkLocal   = "chart dependencies may not lead the sidecar to link-local addresses; vendor the chart in charts/"
	hintRules       = "ask the Argo CD admins to add the repository to registries.conf (allowed, or the project's list), or vendor the chart in charts/"
	hintBudget      = "vendor the chart in charts/, or ask the Argo CD admins to raise --max-dependency-bytes"
)

// describeFetch explains err (from Helm, its getters or ORAS) in our
// words, from the typed errors in its chain; false when it holds none
// that says more than "it failed". hosts are the hosts (host[:port]) the
// dependencies name: a refused host among them may be repeated, one that
// an answer named (a redirect, a token realm) may not.
func describeFetch(err error, hosts []string) (*FetchError, bool) {
	var (
		refused *egress.RefusedError
		budget  *egress.BudgetError
		status  *StatusError
		resp    *errcode.ErrorResponse
		dns     *net.DNSError
		netErr  net.Error
		cert    *tls.CertificateVerificationError
		unknown x509.UnknownAuthorityError
		record  tls.RecordHeaderError
		urlErr  *url.Error
	)
	switch {
	case errors.As(err, &refused):
		named := slices.ContainsFunc(hosts, func(h string) bool { return sameHost(refused.Host, h) })
		cause := *refused
		if !named {
			cause.Host, cause.Addr = "", ""
		}
		hint := hintRules
		if refused.Reason == egress.ReasonLinkLocal {
			hint = hintLinkLocal
		}
		return &FetchError{Reason: refused.Describe(named), hint: hint, cause: &cause}, true
	case errors.As(err, &budget):
		return &FetchError{Reason: budget.Error(), hint: hintBudget, cause: budget}, true
	case errors.As(err, &status):
		return &FetchError{Status: status.Code, Reason: status.Error(), hint: statusHint(status.Code, nil)}, true
	case errors.As(err, &resp):
		raw := make([]string, len(resp.Errors))
		for i, e := range resp.Errors {
			raw[i] = e.Code
		}
		codes := registryerror.Codes(raw)
		reason := "the registry answered " + registryerror.Status(resp.StatusCode, codes)
		if resp.URL != nil && !strings.HasPrefix(resp.URL.Path, "/v2/") {
			reason += " (from its token service or a redirect target)"
		}
		return &FetchError{Status: resp.StatusCode, Codes: codes, Reason: reason, hint: statusHint(resp.StatusCode, codes)}, true
	case errors.Is(err, errdef.ErrNotFound):
		return &FetchError{Reason: "the registry has no such chart or version (not found)", hint: hintNotFound}, true
	case errors.Is(err, context.DeadlineExceeded):
		return &FetchError{Reason: "no answer before the deadline", hint: hintDefault, cause: context.DeadlineExceeded}, true
	case errors.Is(err, context.Canceled):
		return &FetchError{Reason: "the request was cancelled", hint: hintDefault, cause: context.Canceled}, true
	case errors.As(err, &dns):
		reason := "the host name could not be resolved"
		if dns.IsNotFound {
			reason = "the host name does not resolve"
		}
		return &FetchError{Reason: reason, hint: hintDefault}, true
	case errors.Is(err, syscall.ECONNREFUSED):
		return &FetchError{Reason: "connection refused", hint: hintDefault}, true
	case errors.As(err, &netErr) && netErr.Timeout():
		return &FetchError{Reason: "no answer in time", hint: hintDefault}, true
	case errors.As(err, &cert), errors.As(err, &unknown):
		return &FetchError{Reason: "the TLS certificate is not trusted", hint: hintDefault}, true
	case errors.As(err, &record):
		return &FetchError{Reason: "the TLS handshake failed (is it plain HTTP?)", hint: hintDefault}, true
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return &FetchError{Reason: "the connection was closed during the request", hint: hintDefault}, true
	case errors.As(err, &urlErr):
		return &FetchError{Reason: "the request failed (the sidecar log has the details)", hint: hintDefault}, true
	}
	return nil, false
}

func statusHint(code int, codes []string) string {
	switch {
	case code == 401 || code == 403 || slices.Contains(codes, "UNAUTHORIZED") || slices.Contains(codes, "DENIED"):
		return hintCredentials
	case code == 404:
		return hintNotFound
	case code == 429:
		return hintRateLimited
	}
	return hintDefault
}

// sameHost reports whether hostport (as requested or dialled) is host (as
// a URL names it, with or without the default port).
func sameHost(hostport, host string) bool {
	for _, h := range []string{host, host + ":443", host + ":80"} {
		if strings.EqualFold(hostport, h) {
			return true
		}
	}
	return false
}

// fetchFailure explains a failed dependency build. When Helm's error
// holds no typed cause (it often reports a failed index download only as
// a missing cache file, and formats some causes into text), the index of
// each missing http(s) dependency is asked for once more, through the same
// transport and credentials but without Helm's cache: its failure, or a
// chart or version the index lacks, is the cause.
func fetchFailure(err error, ch *chart.Chart, missing []string, opts DependencyOptions, repos []*repo.Entry, log fetchLog) *FetchError {
	hosts := dependencyHosts(ch, repos)
	log.debug("fetching chart dependencies failed", err, "chart", ch.Name())
	if fe, ok := describeFetch(err, hosts); ok {
		return fe
	}
	for _, n := range missing {
		for _, d := range ch.Metadata.Dependencies {
			if d.Name != n {
				continue
			}
			if fe := probeIndex(d, opts, repos, hosts, log); fe != nil {
				return fe
			}
		}
	}
	return &FetchError{
		Reason: "Helm could not fetch or use it (an answer that is not a chart repository index or a chart, no version matching the constraint, " +
			"or a Chart.lock out of sync with Chart.yaml; the sidecar log has the details)",
		hint: hintDefault,
	}
}

// probeIndex asks d's http(s) chart repository for its index and looks
// for d in it; nil when that shows nothing wrong (or d is not from an
// http(s) repository).
func probeIndex(d *chart.Dependency, opts DependencyOptions, repos []*repo.Entry, hosts []string, log fetchLog) *FetchError {
	raw := d.Repository
	var entry *repo.Entry
	if n, ok := repositoryName(raw); ok {
		if entry = repoByName(repos, n); entry == nil {
			return nil
		}
		raw = entry.URL
	}
	if !strings.HasPrefix(raw, "http://") && !strings.HasPrefix(raw, "https://") {
		return nil
	}
	if entry == nil {
		// As Helm asks it: with the credentials of a repositories.yaml
		// entry for this very URL, else with none (TLS files of an entry
		// the URL lies under are applied by transportGetter).
		entry = &repo.Entry{URL: raw}
		for _, e := range repos {
			if sameURL(e.URL, strings.TrimSuffix(raw, "/")) {
				entry = e
				break
			}
		}
	}
	cr, err := repo.NewChartRepository(entry, getters(opts.Transport, repos, log))
	if err != nil {
		return nil
	}
	tmp, err := os.MkdirTemp("", "index-")
	if err != nil {
		return nil
	}
	defer os.RemoveAll(tmp)
	cr.CachePath = tmp
	path, err := cr.DownloadIndexFile()
	if err == nil {
		var idx *repo.IndexFile
		if idx, err = repo.LoadIndexFile(path); err == nil {
			switch _, gerr := idx.Get(d.Name, d.Version); {
			case errors.Is(gerr, repo.ErrNoChartName):
				return &FetchError{Reason: fmt.Sprintf("the chart repository's index has no chart %q", d.Name), hint: hintNotFound}
			case errors.Is(gerr, repo.ErrNoChartVersion):
				return &FetchError{Reason: fmt.Sprintf("the chart repository's index has no version of %q matching %q", d.Name, d.Version), hint: hintNotFound}
			}
			return nil
		}
	}
	log.debug("asking a chart repository for its index failed", err, "repository", raw)
	if fe, ok := describeFetch(err, hosts); ok {
		return fe
	}
	return &FetchError{Reason: "the chart repository's answer could not be read as a Helm chart repository index (the sidecar log has the details)", hint: hintNotFound}
}

// dependencyHosts are the hosts (host[:port]) of the dependencies'
// repositories, @name and alias:name resolved.
func dependencyHosts(ch *chart.Chart, repos []*repo.Entry) []string {
	var hosts []string
	deps := ch.Metadata.Dependencies
	if ch.Lock != nil {
		deps = append(append([]*chart.Dependency(nil), deps...), ch.Lock.Dependencies...)
	}
	for _, d := range deps {
		raw := d.Repository
		if n, ok := repositoryName(raw); ok {
			if e := repoByName(repos, n); e != nil {
				raw = e.URL
			}
		}
		if u, err := url.Parse(raw); err == nil && u.Host != "" {
			hosts = append(hosts, u.Host)
		}
	}
	return hosts
}

// fetchLog writes the full errors of failed fetches to the debug log for
// the operators: scrubbed of the repositories' credentials and capped,
// since they may hold anything a remote server answered. A nil logger
// drops them.
type fetchLog struct {
	logger *slog.Logger
	repos  []*repo.Entry
}

// maxLoggedDetail bounds the error text kept in the debug log.
const maxLoggedDetail = 1024

// userinfo matches the credentials of a URL.
var userinfo = regexp.MustCompile(`([A-Za-z][A-Za-z0-9+.-]*://)[^/@\s"']+@`)

func (l fetchLog) debug(msg string, err error, args ...any) {
	if l.logger == nil || err == nil {
		return
	}
	detail := userinfo.ReplaceAllString(err.Error(), "${1}***@")
	for _, e := range l.repos {
		if e.Password != "" {
			detail = strings.ReplaceAll(detail, e.Password, "***")
		}
	}
	if len(detail) > maxLoggedDetail {
		detail = strings.ToValidUTF8(detail[:maxLoggedDetail], "") + "..."
	}
	l.logger.Debug(msg, append(args, "detail", detail)...)
}
