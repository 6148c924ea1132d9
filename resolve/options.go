package resolve

import (
	"context"
	"log/slog"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/argocd-image-resolver/argocd-image-resolver/store"
)

// Option configures a Resolver.
type Option func(*settings)

type settings struct {
	cacheTTL       time.Duration
	staleTTL       time.Duration
	negativeTTL    time.Duration
	configSize     int
	conf           *RegistriesConfig
	keychain       authn.Keychain
	logger         *slog.Logger
	registerer     prometheus.Registerer
	now            func() time.Time
	sleep          func(context.Context, time.Duration) error
	insecure       bool
	maxConcurrency int
	maxRetries     int
	scriptTimeout  time.Duration
	store          store.Store
	memoryTTL      time.Duration
	fetchTimeout   time.Duration
	cacheEntries   int
	tagCaps        tagListCaps
	follow         FollowSource
}

// WithCacheTTL sets how long tag lists, tag digests and results stay fresh
// (default 1m).
func WithCacheTTL(d time.Duration) Option { return func(s *settings) { s.cacheTTL = d } }

// WithStaleTTL sets how long expired entries are kept to be served when the
// registry fails (default 24h).
func WithStaleTTL(d time.Duration) Option { return func(s *settings) { s.staleTTL = d } }

// WithNegativeTTL sets how long a registry error is cached so that a failing
// registry is not asked again at once (default 10s).
func WithNegativeTTL(d time.Duration) Option { return func(s *settings) { s.negativeTTL = d } }

// WithMetadataCacheSize bounds the digest -> config layer (default 10000
// entries; the least recently used entry is evicted first).
func WithMetadataCacheSize(n int) Option { return func(s *settings) { s.configSize = n } }

// WithRegistriesConfig sets the registries.conf entries (credentials,
// limits, default registry, API URLs).
func WithRegistriesConfig(c *RegistriesConfig) Option { return func(s *settings) { s.conf = c } }

// WithKeychain replaces the base keychain (default authn.DefaultKeychain,
// which reads DOCKER_CONFIG). It applies to repositories without
// registries.conf credentials, after the cloud helper for the host.
func WithKeychain(k authn.Keychain) Option { return func(s *settings) { s.keychain = k } }

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

// WithStore keeps the cache in s, which several replicas may share (default:
// a store.Memory of this process).
func WithStore(s store.Store) Option { return func(o *settings) { o.store = s } }

// WithMemoryTTL sets how long the in-process layer answers a warm lookup
// before it asks the store again (default 5s); an invalidation message
// from another replica drops it at once.
func WithMemoryTTL(d time.Duration) Option { return func(s *settings) { s.memoryTTL = d } }

// WithRegistryTimeout bounds one registry call (default 30s). The call runs
// under this deadline, not the caller's, so a render that gives up does not
// abort a lookup other renders wait for.
func WithRegistryTimeout(d time.Duration) Option { return func(s *settings) { s.fetchTimeout = d } }

// WithCacheEntries bounds the in-process cache (default
// DefaultCacheEntries): n tag lists, 5n tag digests, 5n results and n
// cached errors; the least recently used entry of a layer is evicted
// first. The config layer has its own bound (WithMetadataCacheSize).
func WithCacheEntries(n int) Option { return func(s *settings) { s.cacheEntries = n } }

// WithMaxTags caps the tags of one repository's tag list (default
// DefaultMaxTags); a longer list fails with a *TagListError.
func WithMaxTags(n int) Option { return func(s *settings) { s.tagCaps.maxTags = n } }

// WithMaxTagListBytes caps the bytes of one repository's tag list
// answers, all pages together (default DefaultMaxTagListBytes); a larger
// list fails with a *TagListError.
func WithMaxTagListBytes(n int64) Option { return func(s *settings) { s.tagCaps.maxBytes = n } }

// WithFollowSource answers follow specs (package refresh's tracker);
// without it they fail with a hint.
func WithFollowSource(f FollowSource) Option { return func(s *settings) { s.follow = f } }

// withSleep replaces the wait used by rate limiting and Retry-After (tests).
func withSleep(f func(context.Context, time.Duration) error) Option {
	return func(s *settings) { s.sleep = f }
}
