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
	"strings"
	"sync"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"

	"github.com/argocd-image-resolver/argocd-image-resolver/imagespec"
	"github.com/argocd-image-resolver/argocd-image-resolver/sigverify"
	"github.com/argocd-image-resolver/argocd-image-resolver/store"
)

// Defaults of the Resolver options.
const (
	DefaultCacheTTL          = time.Minute
	DefaultStaleTTL          = 24 * time.Hour
	DefaultNegativeTTL       = 10 * time.Second
	DefaultMetadataCacheSize = 10000
	// DefaultMemoryTTL is how long the in-process layer answers before
	// it checks the store again (shared stores only differ from it there).
	DefaultMemoryTTL = 5 * time.Second
	// DefaultRegistryTimeout bounds one registry call, which runs under
	// its own deadline, not the deadline of the render that started it.
	DefaultRegistryTimeout = 30 * time.Second
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
	staleLog *staleLog
	follow   FollowSource
	verifier *sigverify.Verifier
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
		memoryTTL:      DefaultMemoryTTL,
		fetchTimeout:   DefaultRegistryTimeout,
		cacheEntries:   DefaultCacheEntries,
		tagCaps:        tagListCaps{maxTags: DefaultMaxTags, maxBytes: DefaultMaxTagListBytes},
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
	case s.memoryTTL <= 0:
		return nil, fmt.Errorf("memory TTL %s must be positive", s.memoryTTL)
	case s.fetchTimeout <= 0:
		return nil, fmt.Errorf("registry timeout %s must be positive", s.fetchTimeout)
	case s.cacheEntries <= 0:
		return nil, fmt.Errorf("cache entries %d must be positive", s.cacheEntries)
	case s.tagCaps.maxTags <= 0:
		return nil, fmt.Errorf("--max-tags %d must be positive", s.tagCaps.maxTags)
	case s.tagCaps.maxBytes <= 0:
		return nil, fmt.Errorf("--max-tag-list-bytes %d must be positive", s.tagCaps.maxBytes)
	}
	bounds := boundsFor(s.cacheEntries, s.configSize)
	if s.store == nil {
		// Every layer is bounded in memory; a shared store bounds itself
		// by TTL.
		s.store = store.NewMemory(append([]store.MemoryOption{store.WithClock(s.now)}, bounds.storeLimits()...)...)
	}
	if s.logger == nil {
		s.logger = slog.New(slog.NewTextHandler(io.Discard, nil))
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
		base:           router{pool: &transportPool{}},
		conf:           s.conf,
		maxConcurrency: s.maxConcurrency,
		maxRetries:     s.maxRetries,
		maxRetryWait:   DefaultMaxRetryWait,
		maxListBytes:   s.tagCaps.maxBytes,
		now:            s.now,
		sleep:          s.sleep,
		metrics:        m,
		log:            s.logger,
	}
	// Signature policies are admin input: their files are read now, and a
	// bad one stops the sidecar from starting.
	var verifier *sigverify.Verifier
	if policies := s.conf.signaturePolicies(); len(policies) > 0 {
		verifier, err = sigverify.New(policies, sigverify.WithStore(s.store), sigverify.WithClock(s.now), sigverify.WithLogger(s.logger))
		if err != nil {
			return nil, fmt.Errorf("registries.conf signature-policies: %w", err)
		}
	}
	return &Resolver{
		verifier: verifier,
		conf:     s.conf,
		staleLog: newStaleLog(),
		cache: newCache(cacheConfig{
			ttl: s.cacheTTL, staleTTL: s.staleTTL, negTTL: s.negativeTTL, memoryTTL: s.memoryTTL,
			fetchTimeout: s.fetchTimeout, bounds: bounds, store: s.store,
			now: s.now, metrics: m, log: s.logger, scrub: secrets.scrub,
		}),
		client: &client{
			transports: &transports{limits: lt},
			tagCaps:    s.tagCaps,
			pullers:    newPullerCache(maxPullers),
			keychains:  &keychains{base: s.keychain, now: s.now, timeout: s.scriptTimeout, secrets: secrets, log: s.logger},
		},
		log:      s.logger,
		metrics:  m,
		now:      s.now,
		insecure: s.insecure,
		secrets:  secrets,
		follow:   s.follow,
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
// tag for its digest. A spec with override-tag is pinned: its tag is
// checked with one cached HEAD (a 404 is a *PinError; an unreachable
// registry leaves the pin in place with Result.Warning set). A spec paused
// by ignore-tags "*" returns a Result with Paused set and no tag.
func (r *Resolver) ResolveOne(ctx context.Context, spec Spec) (Result, error) {
	// The project shares each registry's request budget (limitTransport).
	ctx = withProject(ctx, spec.Project)
	res, _, err := r.resolve(ctx, spec, false)
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

// resolve resolves one spec; with explain it also returns the verdict on
// every candidate tag (recomputed from the cached tag list when the result
// itself is cached). Candidates never reach the result layer.
func (r *Resolver) resolve(ctx context.Context, spec Spec, explain bool) (Result, []Candidate, error) {
	res := Result{
		Alias:      spec.Alias,
		Image:      spec.Image,
		Strategy:   spec.Options.Strategy,
		Constraint: spec.Constraint,
	}
	t, err := r.target(spec.Image)
	if err != nil {
		return res, nil, r.fail(spec, "", err)
	}
	repo := t.repo
	res.Registry = repo.RegistryStr()
	res.Repository = t.host + "/" + t.path
	if spec.Options.Paused() {
		res.Paused, res.ResolvedAt = true, r.now()
		return res, nil, nil
	}
	// Images are author input: the project's rules and the credential are
	// settled before any request.
	policy := r.conf.Policy(spec.Project)
	if err := checkRules(policy, t); err != nil {
		return res, nil, r.fail(spec, res.Registry, err)
	}
	cred, err := r.conf.credentialFor(spec.Options.PullSecret, t)
	if err != nil {
		return res, nil, r.fail(spec, res.Registry, err)
	}
	acc := access{policy: policy, cred: cred}
	if spec.Options.OverrideTag != "" {
		res, err := r.resolvePin(ctx, spec, repo, acc, res)
		return res, nil, err
	}

	// One generation for the whole resolution: every layer it reads, and
	// the result it stores, belong to the same invalidation epoch.
	credID := credentialID(cred)
	gen := r.cache.generation(ctx, repo.Name())
	resultSlot := r.cache.slot(LayerResult, specHash(spec, repo.Name()), repo.Name(), credID, gen)
	tr := &trace{}
	meta := &repoMetadata{ctx: ctx, r: r, repo: repo, spec: spec, access: acc, trace: tr, cred: credID, gen: gen}
	if spec.Options.Follow != "" {
		res, err := r.resolveFollow(ctx, spec, meta, res)
		return res, nil, err
	}
	if cached, ok := r.cache.peekResult(ctx, resultSlot); ok {
		cached.Source = SourceCache
		if explain {
			return cached, r.recomputeCandidates(meta, t), nil
		}
		return cached, nil, nil
	}

	tags, err := meta.tags()
	if err != nil {
		return res, nil, r.fail(spec, res.Registry, err)
	}
	gates, err := r.gatesFor(meta, t, tags)
	if err != nil {
		return res, nil, r.fail(spec, res.Registry, err)
	}
	sel, err := selectGated(spec, tags, meta, gates)
	candidates := sel.candidates
	if !explain {
		candidates = nil
	}
	if errors.Is(err, ErrPaused) {
		res.Paused, res.ResolvedAt = true, r.now()
		return res, candidates, nil
	}
	if err != nil {
		return res, candidates, r.fail(spec, res.Registry, err)
	}
	tag := sel.tag
	digest, err := meta.Digest(tag)
	if err != nil {
		return res, candidates, r.fail(spec, res.Registry, err)
	}
	res.Tag, res.Digest, res.ResolvedAt = tag, digest, r.now()
	res.Rule = newPicker(mustPolicy(spec)).policy()
	res.HeldBack = sel.held
	for _, g := range gates {
		res.Gates = append(res.Gates, g.label())
	}
	res.Source = tr.source()
	if res.Source == SourceStale {
		r.staleLog.do(res.Registry, func(heldBack int) {
			r.log.Warn("registry failed; resolved from stale cache",
				"alias", spec.Alias, "image", spec.Image, "registry", res.Registry,
				"tag", tag, "error", r.secrets.scrub(tr.staleError()),
				"staleAnswersNotLogged", heldBack, "logEvery", staleLogEvery)
		})
		return res, candidates, nil
	}
	if sel.unsure {
		// A gate could not judge a better tag: answer, but do not keep the
		// answer, so that the next render asks again.
		res.Warning = "a gate could not check a newer tag; it is held back until it can (see heldBack)"
		return res, candidates, nil
	}
	if kept, ours := r.cache.putResult(ctx, resultSlot, res, "tag "+tag+" "+digest, res.NextEligible()); !ours {
		// Another replica answered this spec first in this generation:
		// render what it renders.
		kept.Source = SourceCache
		if explain {
			candidates = r.recomputeCandidates(meta, t)
		}
		return kept, candidates, nil
	}
	return res, candidates, nil
}

// mustPolicy is the compiled policy of a spec Select accepted.
func mustPolicy(spec Spec) *imagespec.Policy {
	p, _ := spec.Policy()
	return p
}

// credentialID names the credential a spec's registry requests use, for
// the cache keys: a hash of the registries.conf entry (its name and its
// prefix, which is unique), never of the secret; "-" for the default chain
// (docker config, cloud identity or anonymous access).
func credentialID(c credential) string {
	if c.entry == nil {
		return "-"
	}
	return shortHash(c.Name() + "\x00" + c.key())
}

func shortHash(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:6])
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

// Invalidate expires the cached entries of one repository, named in any
// spelling CanonicalRepository reads ("ghcr.io/acme/web:1.2", "nginx" ==
// "index.docker.io/library/nginx", a name on an api_url host), or of every
// repository when repository is empty, in this process and in every
// replica sharing the store, and returns how many fresh entries it
// expired. Expired entries stay as stale copies, served only when the
// registry fails. Immutable digest metadata stays fresh unless everything
// is invalidated.
func (r *Resolver) Invalidate(repository string) int {
	// The cache holds a repository under the name it is asked at (its
	// api_url host).
	return r.cache.invalidate(context.Background(), r.cacheRepository(repository))
}

// WatchInvalidations applies the invalidations other replicas sharing the
// store broadcast, until ctx ends, and tells onInvalidate (when not nil)
// which repository each one named ("" for all): a push announced to
// another replica wakes this one's refresher. serve runs it; one-shot
// commands need not.
func (r *Resolver) WatchInvalidations(ctx context.Context, onInvalidate func(repository string)) error {
	return r.cache.watch(ctx, onInvalidate)
}

// FirstSeen returns when any replica sharing the store first saw digest in
// image's repository (recording now when none did).
func (r *Resolver) FirstSeen(ctx context.Context, image, digest string) (time.Time, error) {
	repo, _, err := r.repository(image)
	if err != nil {
		return time.Time{}, err
	}
	return r.cache.firstSeen(ctx, repo.Name(), digest)
}
