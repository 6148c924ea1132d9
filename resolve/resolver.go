package resolve

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/prometheus/client_golang/prometheus"
)

// Defaults of the Resolver options.
const (
	DefaultCacheTTL          = 2 * time.Minute
	DefaultStaleTTL          = 24 * time.Hour
	DefaultNegativeTTL       = 10 * time.Second
	DefaultMetadataCacheSize = 10000
	// maxParallelSpecs bounds how many specs of one Resolve call run at
	// once; registry concurrency is capped separately per host.
	maxParallelSpecs = 16
)

// Resolver resolves image specs against registries through a layered cache
// (DESIGN section 4). It is safe for concurrent use; one Resolver should
// live as long as the process so that its cache is shared.
type Resolver struct {
	conf     *RegistriesConfig
	cache    *cache
	client   *client
	log      *slog.Logger
	metrics  *metrics
	now      func() time.Time
	insecure bool
	secrets  *secretSet
}

// Option configures a Resolver.
type Option func(*settings)

type settings struct {
	cacheTTL       time.Duration
	staleTTL       time.Duration
	negativeTTL    time.Duration
	configSize     int
	conf           *RegistriesConfig
	keychain       authn.Keychain
	transport      http.RoundTripper
	logger         *slog.Logger
	registerer     prometheus.Registerer
	now            func() time.Time
	sleep          func(context.Context, time.Duration) error
	insecure       bool
	maxConcurrency int
	maxRetries     int
	scriptTimeout  time.Duration
}

// WithCacheTTL sets how long tag lists, tag digests and results stay fresh
// (default 2m).
func WithCacheTTL(d time.Duration) Option { return func(s *settings) { s.cacheTTL = d } }

// WithStaleTTL sets how long expired entries are kept to be served when the
// registry fails (default 24h).
func WithStaleTTL(d time.Duration) Option { return func(s *settings) { s.staleTTL = d } }

// WithNegativeTTL sets how long a registry error is cached so that a failing
// registry is not asked again at once (default 10s).
func WithNegativeTTL(d time.Duration) Option { return func(s *settings) { s.negativeTTL = d } }

// WithMetadataCacheSize bounds the digest -> config layer (default 10000
// entries; the oldest entry is evicted first).
func WithMetadataCacheSize(n int) Option { return func(s *settings) { s.configSize = n } }

// WithRegistriesConfig sets the registries.conf entries (credentials,
// limits, default registry, API URLs).
func WithRegistriesConfig(c *RegistriesConfig) Option { return func(s *settings) { s.conf = c } }

// WithKeychain replaces the base keychain (default authn.DefaultKeychain,
// which reads DOCKER_CONFIG). registries.conf credentials, pull-secret and
// cloud helpers are tried before it.
func WithKeychain(k authn.Keychain) Option { return func(s *settings) { s.keychain = k } }

// WithTransport sets the HTTP transport under the rate limiter (default
// go-containerregistry's remote.DefaultTransport).
func WithTransport(t http.RoundTripper) Option { return func(s *settings) { s.transport = t } }

// WithLogger sets the logger (default: discard).
func WithLogger(l *slog.Logger) Option { return func(s *settings) { s.logger = l } }

// WithMetrics registers the resolver's counters on reg; nil registers none.
func WithMetrics(reg prometheus.Registerer) Option { return func(s *settings) { s.registerer = reg } }

// WithClock sets the clock used for cache freshness, credential expiry and
// rate limits (tests advance it instead of sleeping).
func WithClock(now func() time.Time) Option { return func(s *settings) { s.now = now } }

// WithInsecure allows plain HTTP for every registry. Loopback and private
// addresses use plain HTTP without it, as go-containerregistry decides.
func WithInsecure() Option { return func(s *settings) { s.insecure = true } }

// WithMaxConcurrency caps concurrent requests per registry host (default 8).
func WithMaxConcurrency(n int) Option { return func(s *settings) { s.maxConcurrency = n } }

// WithCredentialScriptTimeout bounds `ext:` credential scripts (default 10s).
func WithCredentialScriptTimeout(d time.Duration) Option {
	return func(s *settings) { s.scriptTimeout = d }
}

// withSleep replaces the wait used by rate limiting and Retry-After (tests).
func withSleep(f func(context.Context, time.Duration) error) Option {
	return func(s *settings) { s.sleep = f }
}

// New builds a Resolver.
func New(opts ...Option) (*Resolver, error) {
	s := settings{
		cacheTTL:       DefaultCacheTTL,
		staleTTL:       DefaultStaleTTL,
		negativeTTL:    DefaultNegativeTTL,
		configSize:     DefaultMetadataCacheSize,
		keychain:       authn.DefaultKeychain,
		now:            time.Now,
		sleep:          sleepContext,
		maxConcurrency: DefaultMaxConcurrency,
		maxRetries:     DefaultMaxRetries429,
		scriptTimeout:  DefaultCredentialScriptTimeout,
	}
	for _, o := range opts {
		o(&s)
	}
	switch {
	case s.cacheTTL <= 0:
		return nil, fmt.Errorf("cache TTL %s must be positive", s.cacheTTL)
	case s.staleTTL < 0:
		return nil, fmt.Errorf("stale TTL %s must not be negative", s.staleTTL)
	case s.negativeTTL <= 0:
		return nil, fmt.Errorf("negative TTL %s must be positive", s.negativeTTL)
	case s.configSize <= 0:
		return nil, fmt.Errorf("metadata cache size %d must be positive", s.configSize)
	}
	if s.logger == nil {
		s.logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if s.transport == nil {
		s.transport = remote.DefaultTransport
	}
	if s.conf == nil {
		s.conf = &RegistriesConfig{}
	}
	m, err := newMetrics(s.registerer)
	if err != nil {
		return nil, fmt.Errorf("register metrics: %w", err)
	}
	secrets := &secretSet{}
	lt := &limitTransport{
		base:           s.transport,
		conf:           s.conf,
		maxConcurrency: s.maxConcurrency,
		maxRetries:     s.maxRetries,
		maxRetryWait:   DefaultMaxRetryWait,
		now:            s.now,
		sleep:          s.sleep,
		metrics:        m,
		log:            s.logger,
	}
	return &Resolver{
		conf:  s.conf,
		cache: newCache(s.cacheTTL, s.staleTTL, s.negativeTTL, s.configSize, s.now, m),
		client: &client{
			transport: lt,
			keychains: &keychains{conf: s.conf, base: s.keychain, now: s.now, timeout: s.scriptTimeout, secrets: secrets},
		},
		log:      s.logger,
		metrics:  m,
		now:      s.now,
		insecure: s.insecure,
		secrets:  secrets,
	}, nil
}

// ResolveError is a failed resolution. Its message names the alias, the
// image, the registry and the cause, with a hint; it never holds a secret.
type ResolveError struct {
	Alias    string
	Image    string
	Registry string
	Err      error
	msg      string
}

func (e *ResolveError) Error() string { return e.msg }
func (e *ResolveError) Unwrap() error { return e.Err }

func (r *Resolver) fail(spec Spec, registry string, err error) *ResolveError {
	var msg string
	var re *registryError
	// Select's errors already start with "alias (image): "; keep it once.
	cause := strings.TrimPrefix(err.Error(), spec.Alias+" ("+spec.Image+"): ")
	if errors.As(err, &re) {
		msg = fmt.Sprintf("resolve %s (%s): %s; %s", spec.Alias, spec.Image, cause, re.hint())
	} else if registry != "" {
		msg = fmt.Sprintf("resolve %s (%s) from registry %s: %s", spec.Alias, spec.Image, registry, cause)
	} else {
		msg = fmt.Sprintf("resolve %s (%s): %s", spec.Alias, spec.Image, cause)
	}
	return &ResolveError{Alias: spec.Alias, Image: spec.Image, Registry: registry, Err: err, msg: r.secrets.scrub(msg)}
}

// Resolve resolves every spec, concurrently. It returns the results that
// resolved (in spec order) and the failures joined into one error, each a
// *ResolveError.
func (r *Resolver) Resolve(ctx context.Context, specs []Spec) ([]Result, error) {
	results := make([]Result, len(specs))
	errs := make([]error, len(specs))
	sem := make(chan struct{}, maxParallelSpecs)
	var wg sync.WaitGroup
	for i, spec := range specs {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			results[i], errs[i] = r.ResolveOne(ctx, spec)
		}()
	}
	wg.Wait()
	out := make([]Result, 0, len(specs))
	for i := range specs {
		if errs[i] == nil {
			out = append(out, results[i])
		}
	}
	return out, errors.Join(errs...)
}

// ResolveOne resolves one spec: list tags (cached), let the strategy and
// filters pick (reading metadata through the cache), and HEAD the picked
// tag for its digest. A spec with override-tag is pinned and makes no
// registry call; a spec paused by ignore-tags "*" returns a Result with
// Paused set and no tag.
func (r *Resolver) ResolveOne(ctx context.Context, spec Spec) (Result, error) {
	res, err := r.resolve(ctx, spec)
	switch {
	case err != nil:
		r.metrics.resolution(resolutionError)
	case res.Paused:
		r.metrics.resolution(resolutionPaused)
	case res.Source == SourceStale:
		r.metrics.resolution(resolutionStale)
	default:
		r.metrics.resolution(resolutionOK)
	}
	return res, err
}

func (r *Resolver) resolve(ctx context.Context, spec Spec) (Result, error) {
	res := Result{
		Alias:      spec.Alias,
		Image:      spec.Image,
		Strategy:   spec.Options.Strategy,
		Constraint: spec.Constraint,
	}
	if spec.Options.OverrideTag != "" {
		res.Tag, res.Pinned, res.ResolvedAt = spec.Options.OverrideTag, true, r.now()
		return res, nil
	}
	repo, _, err := r.repository(spec.Image)
	if err != nil {
		return res, r.fail(spec, "", err)
	}
	res.Registry = repo.RegistryStr()
	if spec.Options.Paused() {
		res.Paused, res.ResolvedAt = true, r.now()
		return res, nil
	}

	resultKey := specHash(spec, repo.Name())
	if v, ok := r.cache.peek(LayerResult, resultKey); ok {
		cached := v.(Result)
		cached.Source = SourceCache
		cached.Candidates = append([]Candidate(nil), cached.Candidates...)
		return cached, nil
	}

	tr := &trace{}
	tags, err := r.tags(ctx, repo, spec.Options.PullSecret, tr)
	if err != nil {
		return res, r.fail(spec, res.Registry, err)
	}
	meta := &repoMetadata{ctx: ctx, r: r, repo: repo, spec: spec, trace: tr}
	tag, candidates, err := Select(spec, tags, meta)
	res.Candidates = candidates
	if errors.Is(err, ErrPaused) {
		res.Paused, res.ResolvedAt = true, r.now()
		return res, nil
	}
	if err != nil {
		return res, r.fail(spec, res.Registry, err)
	}
	digest, err := meta.Digest(tag)
	if err != nil {
		return res, r.fail(spec, res.Registry, err)
	}
	res.Tag, res.Digest, res.ResolvedAt = tag, digest, r.now()
	res.Source = tr.source()
	if res.Source == SourceStale {
		r.log.Warn("registry failed; resolved from stale cache",
			"alias", spec.Alias, "image", spec.Image, "registry", res.Registry,
			"tag", tag, "error", r.secrets.scrub(tr.staleError()))
		return res, nil
	}
	r.cache.put(LayerResult, resultKey, repo.Name(), res, "tag "+tag+" "+digest)
	return res, nil
}

// specHash keys the result layer: the spec (with its options) and the
// repository it maps to.
func specHash(spec Spec, repository string) string {
	data, _ := json.Marshal(struct {
		Spec       Spec   `json:"spec"`
		Repository string `json:"repository"`
	}{spec, repository})
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:16])
}

// trace records where the data of one resolution came from.
type trace struct {
	mu       sync.Mutex
	registry bool
	stale    []error
	cached   bool
}

func (t *trace) record(l lookup) {
	t.mu.Lock()
	defer t.mu.Unlock()
	switch l.source {
	case SourceRegistry:
		t.registry = true
	case SourceStale:
		t.stale = append(t.stale, l.staleErr)
	default:
		t.cached = true
	}
}

func (t *trace) source() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	switch {
	case len(t.stale) > 0:
		return SourceStale
	case t.registry:
		return SourceRegistry
	}
	return SourceCache
}

func (t *trace) staleError() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.stale) == 0 {
		return ""
	}
	return t.stale[0].Error()
}

func (r *Resolver) tags(ctx context.Context, repo name.Repository, pullSecret string, tr *trace) ([]string, error) {
	l, err := r.cache.get(ctx, LayerTags, repo.Name(), repo.Name(), func(ctx context.Context) (any, string, error) {
		start := time.Now()
		tags, err := r.client.listTags(ctx, repo, pullSecret)
		if err != nil {
			return nil, "", &registryError{Op: "list tags", Registry: repo.RegistryStr(), Err: err}
		}
		r.log.Debug("listed tags", "repository", repo.Name(), "tags", len(tags), "duration", time.Since(start))
		return tags, fmt.Sprintf("%d tags", len(tags)), nil
	})
	if err != nil {
		return nil, err
	}
	tr.record(l)
	return append([]string(nil), l.value.([]string)...), nil
}

// repoMetadata implements Metadata for one spec's repository through the
// cache layers.
type repoMetadata struct {
	ctx   context.Context
	r     *Resolver
	repo  name.Repository
	spec  Spec
	trace *trace
}

// Digest is the manifest digest of tag (a HEAD request, tag -> digest layer).
func (m *repoMetadata) Digest(tag string) (string, error) {
	ref := m.repo.Tag(tag)
	l, err := m.r.cache.get(m.ctx, LayerDigest, ref.Name(), m.repo.Name(), func(ctx context.Context) (any, string, error) {
		d, err := m.r.client.headDigest(ctx, ref, m.spec.Options.PullSecret)
		if err != nil {
			return nil, "", &registryError{Op: "get digest of tag " + tag, Registry: m.repo.RegistryStr(), Err: err}
		}
		return d, d, nil
	})
	if err != nil {
		return "", err
	}
	m.trace.record(l)
	return l.value.(string), nil
}

func (m *repoMetadata) info(tag string) (imageInfo, error) {
	digest, err := m.Digest(tag)
	if err != nil {
		return imageInfo{}, err
	}
	ref := m.repo.Digest(digest)
	l, err := m.r.cache.get(m.ctx, LayerConfig, ref.Name(), m.repo.Name(), func(ctx context.Context) (any, string, error) {
		info, err := m.r.client.imageInfo(ctx, ref, m.spec.Options.PullSecret)
		if err != nil {
			return nil, "", &registryError{Op: "read image config of tag " + tag, Registry: m.repo.RegistryStr(), Err: err}
		}
		return info, info.summary(), nil
	})
	if err != nil {
		return imageInfo{}, err
	}
	m.trace.record(l)
	return l.value.(imageInfo), nil
}

// Created is the newest image config `created` among the platforms the spec
// allows (all platforms when it names none).
func (m *repoMetadata) Created(tag string) (time.Time, error) {
	info, err := m.info(tag)
	if err != nil {
		return time.Time{}, err
	}
	var newest time.Time
	found := false
	for _, p := range info.Platforms {
		if !m.allowed(p.Platform) {
			continue
		}
		found = true
		if p.Created.After(newest) {
			newest = p.Created
		}
	}
	if !found {
		return time.Time{}, fmt.Errorf("tag %s has no image for platforms %s", tag, strings.Join(m.spec.Options.Platforms, ","))
	}
	return newest, nil
}

// Platforms lists the platforms tag provides.
func (m *repoMetadata) Platforms(tag string) ([]string, error) {
	info, err := m.info(tag)
	if err != nil {
		return nil, err
	}
	out := make([]string, 0, len(info.Platforms))
	for _, p := range info.Platforms {
		out = append(out, p.Platform)
	}
	return out, nil
}

func (m *repoMetadata) allowed(platform string) bool {
	if len(m.spec.Options.Platforms) == 0 {
		return true
	}
	for _, want := range m.spec.Options.Platforms {
		if platformMatches(want, platform) {
			return true
		}
	}
	return false
}

// Snapshot lists every cache entry (fresh, stale and negative) for
// inspection. Entries hold keys, summaries and scrubbed error messages,
// never a credential.
func (r *Resolver) Snapshot() []Entry {
	return r.cache.snapshot(r.secrets.scrub)
}

// Invalidate drops the cached entries of one repository ("ghcr.io/acme/web",
// "nginx" == "index.docker.io/library/nginx"), or of every repository when
// repository is empty, and returns how many entries were removed. Immutable
// digest metadata stays unless everything is dropped.
func (r *Resolver) Invalidate(repository string) int {
	repository = strings.TrimSpace(repository)
	if repository == "" {
		return r.cache.invalidate("")
	}
	key := repository
	if repo, _, err := r.repository(repository); err == nil {
		key = repo.Name()
	} else if ref, err := name.ParseReference(repository); err == nil {
		// "ghcr.io/acme/web:1.2" or "...@sha256:..." name their repository.
		if repo, _, err := r.repository(ref.Context().String()); err == nil {
			key = repo.Name()
		}
	}
	return r.cache.invalidate(key)
}
