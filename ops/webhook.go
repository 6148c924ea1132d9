package ops

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"time"

	"golang.org/x/time/rate"

	"github.com/argocd-image-resolver/argocd-image-resolver/resolve"
)

// Webhook results, the `result` label of the webhook events metric.
const (
	WebhookAccepted     = "accepted"
	WebhookIgnored      = "ignored"
	WebhookUnauthorized = "unauthorized"
	WebhookMalformed    = "malformed"
	WebhookTooLarge     = "too_large"
	WebhookRateLimited  = "rate_limited"
	WebhookBadRequest   = "bad_request"
)

// DefaultWebhookMaxBody caps a webhook body (1 MiB).
const DefaultWebhookMaxBody = 1 << 20

// Invalidator drops the cached entries of one repository
// (resolve.Resolver implements it).
type Invalidator interface {
	Invalidate(repository string) int
}

// Waker schedules an immediate check of the apps using a repository
// (refresh.Refresher implements it).
type Waker interface {
	Wake(repository string)
}

// WebhookHandler receives registry push events and CI notifications on
// POST /webhook?type=<provider>.
//
// Authentication, by what each provider can send:
//   - generic: HMAC-SHA256 of the body in X-Signature-256 ("sha256=<hex>")
//   - ghcr (GitHub package events): GitHub's X-Hub-Signature-256
//   - harbor, distribution: the secret in the Authorization header
//     ("Bearer <secret>" or the bare secret), or ?secret=
//   - dockerhub, quay (no signing, no custom headers): ?secret= in the URL
type WebhookHandler struct {
	cache    Invalidator
	waker    Waker
	secret   []byte
	insecure bool
	maxBody  int64
	// limiter admits authenticated requests; rejected (requests that fail
	// authentication or cannot be read) has its own budget, so that
	// unsigned traffic never spends what signed events need.
	limiter  *rate.Limiter
	rejected *rate.Limiter
	// rejectLog writes the warning about rejected requests at most once
	// per rejectLogEvery, with the count of those it held back.
	rejectLog *sampledLog
	metrics   *Metrics
	log       *slog.Logger
}

// Defaults of the webhook limits.
const (
	// DefaultWebhookRate and DefaultWebhookBurst limit authenticated
	// requests.
	DefaultWebhookRate  = 5
	DefaultWebhookBurst = 20
	// DefaultRejectedRate and DefaultRejectedBurst limit the requests that
	// fail authentication: 401 while the budget lasts, 429 after.
	DefaultRejectedRate  = 1
	DefaultRejectedBurst = 10
	// rejectLogEvery is the least time between two log lines about
	// rejected requests.
	rejectLogEvery = 10 * time.Second
)

// WebhookOption configures a WebhookHandler.
type WebhookOption func(*WebhookHandler)

// WithWebhookSecret sets the shared secret (HMAC key or token).
func WithWebhookSecret(secret []byte) WebhookOption {
	return func(h *WebhookHandler) { h.secret = secret }
}

// WithInsecureNoAuth accepts unauthenticated events. Only for trusted
// networks: anyone reaching the port can then purge cache entries and
// cause registry calls (still rate-limited).
func WithInsecureNoAuth() WebhookOption {
	return func(h *WebhookHandler) { h.insecure = true }
}

// WithMaxBody caps the body size (default DefaultWebhookMaxBody).
func WithMaxBody(n int64) WebhookOption {
	return func(h *WebhookHandler) {
		if n > 0 {
			h.maxBody = n
		}
	}
}

// WithRateLimit limits authenticated requests (default 5 per second,
// burst 20). It is applied after authentication: unsigned requests never
// use it up.
func WithRateLimit(perSecond float64, burst int) WebhookOption {
	return func(h *WebhookHandler) { h.limiter = rate.NewLimiter(rate.Limit(perSecond), burst) }
}

// WithRejectedRateLimit limits requests that fail authentication (default
// 1 per second, burst 10): they get 401 while it allows, 429 after.
func WithRejectedRateLimit(perSecond float64, burst int) WebhookOption {
	return func(h *WebhookHandler) { h.rejected = rate.NewLimiter(rate.Limit(perSecond), burst) }
}

// WithWebhookMetrics sets the metrics (default: unregistered).
func WithWebhookMetrics(m *Metrics) WebhookOption {
	return func(h *WebhookHandler) { h.metrics = m }
}

// WithWebhookLogger sets the logger (default slog.Default()).
func WithWebhookLogger(l *slog.Logger) WebhookOption {
	return func(h *WebhookHandler) { h.log = l }
}

// NewWebhookHandler returns the receiver. Without a secret it refuses to
// start unless WithInsecureNoAuth is given.
func NewWebhookHandler(cache Invalidator, waker Waker, opts ...WebhookOption) (*WebhookHandler, error) {
	h := &WebhookHandler{
		cache:     cache,
		waker:     waker,
		maxBody:   DefaultWebhookMaxBody,
		limiter:   rate.NewLimiter(DefaultWebhookRate, DefaultWebhookBurst),
		rejected:  rate.NewLimiter(DefaultRejectedRate, DefaultRejectedBurst),
		rejectLog: newSampledLog(rejectLogEvery),
		log:       slog.Default(),
	}
	for _, o := range opts {
		o(h)
	}
	if len(h.secret) == 0 && !h.insecure {
		return nil, errors.New("webhook receiver needs a secret (--webhook-secret-file); to accept unauthenticated events on a trusted network, pass --webhook-insecure-no-auth")
	}
	if h.metrics == nil {
		h.metrics = NewMetrics(nil)
	}
	return h, nil
}

// WebhookResponse is the JSON answer to an accepted event.
type WebhookResponse struct {
	Repositories []WebhookRepository `json:"repositories"`
}

// WebhookRepository reports what one event did to one repository.
type WebhookRepository struct {
	Repository  string   `json:"repository"`
	Tags        []string `json:"tags,omitempty"`
	Invalidated int      `json:"invalidated"`
}

// reject answers a request that was authenticated (or needed none) and
// logs it.
func (h *WebhookHandler) reject(w http.ResponseWriter, typ, result string, code int, reason string) {
	h.metrics.webhookEvent(typ, result)
	h.log.Warn("webhook rejected", "type", typ, "result", result, "status", code, "reason", reason)
	writeJSON(w, code, map[string]string{"error": reason})
}

// refuse answers a request that is not (or not yet) authenticated. Anyone
// who reaches the port can send these, so they are logged at most once
// per rejectLogEvery; with limited set they also spend the rejected
// budget and become 429 once it is gone.
func (h *WebhookHandler) refuse(w http.ResponseWriter, typ, result string, code int, reason string, limited bool) {
	if limited && !h.rejected.Allow() {
		w.Header().Set("Retry-After", "1")
		result, code = WebhookRateLimited, http.StatusTooManyRequests
		reason = "too many rejected webhook requests; fix the secret or signature, then retry later"
	}
	h.metrics.webhookEvent(typ, result)
	h.rejectLog.do(func(heldBack int64) {
		h.log.Warn("webhook rejected", "type", typ, "result", result, "status", code, "reason", reason,
			"alsoRejectedSinceLastLine", heldBack)
	})
	writeJSON(w, code, map[string]string{"error": reason})
}

// ServeHTTP reads the (capped) body and authenticates before any limit is
// applied: requests that fail go to their own budget (refuse), so a flood
// of unsigned requests never makes a signed event wait. Authenticated
// requests are then limited by WithRateLimit.
func (h *WebhookHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	typ := r.URL.Query().Get("type")
	known := slices.Contains(resolve.WebhookProviders(), typ)
	if r.Method != http.MethodPost {
		if !known {
			typ = "unknown"
		}
		w.Header().Set("Allow", http.MethodPost)
		h.refuse(w, typ, WebhookBadRequest, http.StatusMethodNotAllowed, "use POST", false)
		return
	}
	if !known {
		h.refuse(w, "unknown", WebhookBadRequest, http.StatusBadRequest,
			fmt.Sprintf("unknown webhook type %q: use ?type= one of %s", typ, strings.Join(resolve.WebhookProviders(), ", ")), false)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, h.maxBody))
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			h.refuse(w, typ, WebhookTooLarge, http.StatusRequestEntityTooLarge, fmt.Sprintf("body larger than %d bytes (--webhook-max-body)", h.maxBody), true)
			return
		}
		h.refuse(w, typ, WebhookMalformed, http.StatusBadRequest, "reading body: "+err.Error(), true)
		return
	}
	if err := h.authenticate(typ, r, body); err != nil {
		h.refuse(w, typ, WebhookUnauthorized, http.StatusUnauthorized, err.Error(), true)
		return
	}
	if !h.limiter.Allow() {
		w.Header().Set("Retry-After", "1")
		h.reject(w, typ, WebhookRateLimited, http.StatusTooManyRequests, "too many webhook requests (--webhook-rate); retry later")
		return
	}
	if typ == resolve.WebhookGHCR && r.Header.Get(resolve.GitHubEventHeader) == "ping" {
		h.metrics.webhookEvent(typ, WebhookIgnored)
		writeJSON(w, http.StatusOK, map[string]string{"status": "pong"})
		return
	}
	events, err := resolve.ParseWebhook(typ, body)
	switch {
	case errors.Is(err, resolve.ErrIgnoredWebhook):
		h.metrics.webhookEvent(typ, WebhookIgnored)
		h.log.Info("webhook ignored", "type", typ, "reason", err.Error())
		writeJSON(w, http.StatusAccepted, map[string]string{"status": "ignored", "reason": err.Error()})
		return
	case err != nil:
		h.reject(w, typ, WebhookMalformed, http.StatusBadRequest, err.Error())
		return
	}
	var resp WebhookResponse
	index := map[string]int{}
	for _, ev := range events {
		i, seen := index[ev.Repository]
		if !seen {
			i = len(resp.Repositories)
			index[ev.Repository] = i
			resp.Repositories = append(resp.Repositories, WebhookRepository{Repository: ev.Repository})
		}
		if ev.Tag != "" {
			resp.Repositories[i].Tags = append(resp.Repositories[i].Tags, ev.Tag)
		}
	}
	for i := range resp.Repositories {
		repo := &resp.Repositories[i]
		repo.Invalidated = h.cache.Invalidate(repo.Repository)
		h.waker.Wake(repo.Repository)
		h.log.Info("webhook accepted: cache invalidated, refresher woken", "type", typ,
			"repository", repo.Repository, "tags", repo.Tags, "invalidated", repo.Invalidated)
	}
	h.metrics.webhookEvent(typ, WebhookAccepted)
	writeJSON(w, http.StatusOK, resp)
}

func (h *WebhookHandler) authenticate(typ string, r *http.Request, body []byte) error {
	if h.insecure && len(h.secret) == 0 {
		return nil
	}
	switch typ {
	case resolve.WebhookGeneric:
		if err := resolve.VerifyWebhookSignature(h.secret, body, r.Header.Get(resolve.SignatureHeader)); err != nil {
			return fmt.Errorf("%s: %w", resolve.SignatureHeader, err)
		}
		return nil
	case resolve.WebhookGHCR:
		if err := resolve.VerifyWebhookSignature(h.secret, body, r.Header.Get(resolve.GitHubSignatureHeader)); err != nil {
			return fmt.Errorf("%s: %w", resolve.GitHubSignatureHeader, err)
		}
		return nil
	case resolve.WebhookHarbor, resolve.WebhookDistribution:
		if auth := r.Header.Get("Authorization"); auth != "" {
			if !h.tokenEqual(strings.TrimPrefix(auth, "Bearer ")) {
				return errors.New("authorization header does not hold the webhook secret")
			}
			return nil
		}
	}
	q := r.URL.Query().Get("secret")
	if q == "" {
		return fmt.Errorf("no credentials: %s webhooks authenticate with %s", typ, authHint(typ))
	}
	if !h.tokenEqual(q) {
		return errors.New("secret query parameter does not match the webhook secret")
	}
	return nil
}

// tokenEqual compares in constant time, lengths included.
func (h *WebhookHandler) tokenEqual(got string) bool {
	a := sha256.Sum256([]byte(got))
	b := sha256.Sum256(h.secret)
	return subtle.ConstantTimeCompare(a[:], b[:]) == 1
}

func authHint(typ string) string {
	switch typ {
	case resolve.WebhookHarbor, resolve.WebhookDistribution:
		return `an "Authorization: Bearer <secret>" header or ?secret=<secret>`
	default:
		return "?secret=<secret> in the webhook URL"
	}
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}
