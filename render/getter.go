package render

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net/http"
	"os"
	"strings"
	"sync/atomic"

	"helm.sh/helm/v3/pkg/getter"
	"helm.sh/helm/v3/pkg/registry"
	"helm.sh/helm/v3/pkg/repo"
)

// getters fetch http(s) and oci:// URLs only: Helm's plugin downloaders
// would run programs for schemes an author picks. HTTP downloads go over
// tr, or a transport like Helm's own when tr is nil (without keep-alive,
// since nobody closes its idle connections).
func getters(tr *http.Transport, repos []*repo.Entry, log fetchLog) getter.Providers {
	if tr == nil {
		tr = &http.Transport{Proxy: http.ProxyFromEnvironment, DisableCompression: true, DisableKeepAlives: true}
	}
	return getter.Providers{
		{Schemes: []string{"http", "https"}, New: func(options ...getter.Option) (getter.Getter, error) {
			options = append(options, getter.WithTimeout(downloadTimeout))
			return &transportGetter{base: tr, repos: repos, options: options, log: log}, nil
		}},
		{Schemes: []string{registry.OCIScheme}, New: func(options ...getter.Option) (getter.Getter, error) {
			return getter.NewOCIGetter(append(options, getter.WithTimeout(downloadTimeout))...)
		}},
	}
}

// transportGetter is Helm's HTTP getter on the caller's transport, with
// two changes:
//
//   - Helm ignores the TLS options of a repository when it is given a
//     transport, so the TLS files of the repositories.yaml entry the URL
//     belongs to are applied to a copy of it here;
//   - Helm reports an error status with the answer's status line, whose
//     reason phrase is the server's text, so the status is recorded on
//     the way and such a failure becomes a *StatusError (the full error
//     goes to the debug log).
type transportGetter struct {
	base    *http.Transport
	repos   []*repo.Entry
	options []getter.Option
	log     fetchLog
}

func (g *transportGetter) Get(href string, options ...getter.Option) (*bytes.Buffer, error) {
	tr := g.base
	if e := repoFor(g.repos, href); e != nil && (e.CAFile != "" || e.CertFile != "" || e.InsecureSkipTLSverify) {
		cfg, err := clientTLS(e)
		if err != nil {
			return nil, fmt.Errorf("chart repository %s: %w", e.Name, err)
		}
		tr = g.base.Clone()
		tr.TLSClientConfig = cfg
		defer tr.CloseIdleConnections()
	}
	rec := &statusRecorder{next: tr}
	all := append(append(append([]getter.Option(nil), g.options...), options...), getter.WithTransport(rec.transport()))
	hg, err := getter.NewHTTPGetter(all...)
	if err != nil {
		return nil, err
	}
	buf, err := hg.Get(href)
	if err == nil {
		return buf, nil
	}
	g.log.debug("chart repository download failed", err, "url", href)
	if code := rec.status(); code != 0 && code != http.StatusOK {
		return nil, &StatusError{Code: code}
	}
	return nil, err
}

// StatusError is an HTTP chart repository (or a server it redirected to)
// answering a download with an error status. It holds the status code
// alone: the reason phrase and the body are the server's text.
type StatusError struct{ Code int }

func (e *StatusError) Error() string {
	return fmt.Sprintf("the chart repository answered HTTP %d", e.Code)
}

// statusRecorder passes requests to next and keeps the status of the last
// answer (0 while a request is under way or when it failed).
type statusRecorder struct {
	next http.RoundTripper
	last atomic.Int32
}

func (r *statusRecorder) RoundTrip(req *http.Request) (*http.Response, error) {
	r.last.Store(0)
	resp, err := r.next.RoundTrip(req)
	if err == nil {
		r.last.Store(int32(resp.StatusCode))
	}
	return resp, err
}

func (r *statusRecorder) status() int { return int(r.last.Load()) }

// transport is an *http.Transport, which is what Helm's getter takes, that
// hands every http and https request to r (http.Transport.RegisterProtocol)
// and so never connects by itself. Its HTTP/2 support is off (an empty
// TLSNextProto), so that nothing else claims https on it.
func (r *statusRecorder) transport() *http.Transport {
	t := &http.Transport{TLSNextProto: map[string]func(string, *tls.Conn) http.RoundTripper{}}
	t.RegisterProtocol("http", r)
	t.RegisterProtocol("https", r)
	return t
}

// repoFor is the repositories.yaml entry whose URL href starts with.
func repoFor(repos []*repo.Entry, href string) *repo.Entry {
	var best *repo.Entry
	for _, e := range repos {
		base := strings.TrimSuffix(e.URL, "/")
		if base != "" && (href == base || strings.HasPrefix(href, base+"/")) && (best == nil || len(e.URL) > len(best.URL)) {
			best = e
		}
	}
	return best
}

// clientTLS is the TLS configuration a repositories.yaml entry asks for.
func clientTLS(e *repo.Entry) (*tls.Config, error) {
	cfg := &tls.Config{InsecureSkipVerify: e.InsecureSkipTLSverify} //nolint:gosec // insecure_skip_tls_verify in repositories.yaml asks for this
	if e.CertFile != "" && e.KeyFile != "" {
		cert, err := tls.LoadX509KeyPair(e.CertFile, e.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("client certificate: %w", err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	if e.CAFile != "" {
		pem, err := os.ReadFile(e.CAFile)
		if err != nil {
			return nil, fmt.Errorf("CA file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("CA file %s holds no PEM certificate", e.CAFile)
		}
		cfg.RootCAs = pool
	}
	return cfg, nil
}
