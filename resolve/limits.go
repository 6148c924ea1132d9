package resolve

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"golang.org/x/time/rate"
)

// Defaults for the per-registry limits.
const (
	DefaultMaxConcurrency = 8
	DefaultMaxRetries429  = 3
	DefaultMaxRetryWait   = 30 * time.Second
)

// limitTransport sits under go-containerregistry's transport and applies,
// per registry host: a token bucket (requests per second from
// registries.conf `limit`), a cap on concurrent requests shared fairly
// between AppProjects (fairSemaphore), and retries of 429 answers after
// the wait the registry asks for in Retry-After. It also counts every
// request for the metrics, labelled with the host's registries.conf entry
// (or "other"), and caps the bytes of tag list answers.
type limitTransport struct {
	base           http.RoundTripper
	conf           *RegistriesConfig
	maxConcurrency int
	maxRetries     int
	maxRetryWait   time.Duration
	// maxListBytes caps one tag list answer made without a listBytes
	// budget in its context (listTags always gives one).
	maxListBytes int64
	now          func() time.Time
	sleep        func(ctx context.Context, d time.Duration) error
	metrics      *metrics
	log          *slog.Logger

	hosts hostTable
}

// forHost returns the limits of host, in use until release is called.
func (t *limitTransport) forHost(host string) (h *hostLimits, release func()) {
	return t.hosts.acquire(host, t.newHostLimits)
}

func (t *limitTransport) newHostLimits(host string) (*hostLimits, bool) {
	reg := t.conf.forAPIHost(host)
	limit := reg.limit()
	burst := max(1, int(limit))
	base := t.base
	label := otherRegistries
	if reg != nil {
		label = reg.label()
		if reg.Insecure {
			base = insecureTransport(base)
		}
	}
	return &hostLimits{
		limiter: rate.NewLimiter(rate.Limit(limit), burst),
		sem:     newFairSemaphore(t.maxConcurrency),
		base:    base,
		label:   label,
	}, reg != nil
}

// insecureTransport skips TLS verification for registries marked insecure:
// the egress router switches to its insecure pool, a plain *http.Transport
// is cloned; any other transport is used as it is.
func insecureTransport(base http.RoundTripper) http.RoundTripper {
	if r, ok := base.(router); ok {
		return r.insecureTLS()
	}
	ht, ok := base.(*http.Transport)
	if !ok {
		return base
	}
	c := ht.Clone()
	if c.TLSClientConfig == nil {
		c.TLSClientConfig = &tls.Config{}
	}
	c.TLSClientConfig.InsecureSkipVerify = true //nolint:gosec // registries.conf insecure: true asks for this
	return c
}

func (t *limitTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx := req.Context()
	h, release := t.forHost(req.URL.Host)
	defer release()
	project := projectOf(ctx)
	if err := h.sem.acquire(ctx, project); err != nil {
		return nil, err
	}
	defer h.sem.release(project)

	for attempt := 0; ; attempt++ {
		if err := t.waitToken(ctx, h.limiter, req.URL.Host); err != nil {
			return nil, err
		}
		resp, err := h.base.RoundTrip(req)
		t.metrics.request(h.label, req, resp, err)
		if err == nil && resp.StatusCode == http.StatusOK && operation(req) == "list" {
			resp.Body = countListBody(ctx, resp.Body, t.maxListBytes)
		}
		if err != nil || resp.StatusCode != http.StatusTooManyRequests {
			return resp, err
		}
		if attempt >= t.maxRetries || !replayable(req) {
			return resp, nil
		}
		wait := retryAfter(resp.Header.Get("Retry-After"), t.now(), attempt)
		if wait > t.maxRetryWait {
			wait = t.maxRetryWait
		}
		if dl, ok := ctx.Deadline(); ok && time.Until(dl) < wait {
			return resp, nil
		}
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		_ = resp.Body.Close()
		t.log.Debug("registry rate limited the request; retrying", "registry", req.URL.Host, "wait", wait, "attempt", attempt+1)
		if err := t.sleep(ctx, wait); err != nil {
			return nil, err
		}
		if req.GetBody != nil {
			body, err := req.GetBody()
			if err != nil {
				return nil, err
			}
			req.Body = body
		}
	}
}

// LimitError is the plugin's own request limit for a registry (limit in
// registries.conf) holding a request back past the render's deadline. The
// registry was not asked: the fix is the plugin's configuration.
type LimitError struct {
	Registry string
	Limit    float64 // requests per second
	Wait     time.Duration
}

func (e *LimitError) Error() string {
	if e.Wait == 0 {
		return fmt.Sprintf("the plugin's own request limit for registry %s (limit %g/s in registries.conf) allows no requests", e.Registry, e.Limit)
	}
	return fmt.Sprintf("the plugin's own request limit for registry %s (limit %g/s in registries.conf) would hold the request %s, which would pass the deadline",
		e.Registry, e.Limit, e.Wait.Round(time.Millisecond))
}

// Unwrap is context.DeadlineExceeded for a wait past the deadline: the
// render cannot finish in time.
func (e *LimitError) Unwrap() error {
	if e.Wait == 0 {
		return nil
	}
	return context.DeadlineExceeded
}

// waitToken takes one token from the bucket, waiting for it when needed.
func (t *limitTransport) waitToken(ctx context.Context, lim *rate.Limiter, host string) error {
	now := t.now()
	res := lim.ReserveN(now, 1)
	if !res.OK() {
		return &LimitError{Registry: host, Limit: float64(lim.Limit())}
	}
	d := res.DelayFrom(now)
	if d <= 0 {
		return nil
	}
	if dl, ok := ctx.Deadline(); ok && time.Until(dl) < d {
		res.CancelAt(now)
		return &LimitError{Registry: host, Limit: float64(lim.Limit()), Wait: d}
	}
	if err := t.sleep(ctx, d); err != nil {
		res.CancelAt(t.now())
		return err
	}
	return nil
}

func replayable(req *http.Request) bool {
	return req.Body == nil || req.Body == http.NoBody || req.GetBody != nil
}

// retryAfter reads a Retry-After header (seconds or an HTTP date); without
// one it backs off exponentially from one second.
func retryAfter(v string, now time.Time, attempt int) time.Duration {
	v = strings.TrimSpace(v)
	if v != "" {
		if secs, err := strconv.Atoi(v); err == nil && secs >= 0 {
			return time.Duration(secs) * time.Second
		}
		if at, err := http.ParseTime(v); err == nil {
			if d := at.Sub(now); d > 0 {
				return d
			}
			return 0
		}
	}
	return time.Second << min(attempt, 5)
}

// sleepContext waits for d or until ctx ends.
func sleepContext(ctx context.Context, d time.Duration) error {
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-timer.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// operation names a registry request for the metrics.
func operation(req *http.Request) string {
	p := req.URL.Path
	switch {
	case p == "/v2/" || p == "/v2":
		return "ping"
	case strings.HasSuffix(p, "/tags/list"):
		return "list"
	case strings.Contains(p, "/manifests/"):
		if req.Method == http.MethodHead {
			return "head"
		}
		return "manifest"
	case strings.Contains(p, "/blobs/"):
		return "blob"
	case strings.HasPrefix(p, "/v2/"):
		return "other"
	}
	return "token"
}
