package sigverify

import (
	"context"
	"log/slog"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"

	"github.com/argocd-image-resolver/argocd-image-resolver/store"
)

// cachePrefix is where verdicts live in the store.
const cachePrefix = "sigverify/"

// cacheVersion is the encoding version of a cached verdict.
const cacheVersion = 1

// Default verdict lifetimes. A positive verdict can only change when the
// policy changes, and that changes its fingerprint; it still expires so
// that a revoked Notation certificate or a removed key stops counting
// within a day. A negative verdict is short: CI often pushes the image
// first and its signature a moment later.
const (
	DefaultVerifiedTTL   = 24 * time.Hour
	DefaultUnverifiedTTL = 2 * time.Minute
	// staleVerifiedTTL is how long past its lifetime a positive verdict is
	// kept to answer while the signatures cannot be read (a registry
	// failing): a digest that was verified does not turn unverified, and
	// the version running does not roll back, because of an outage.
	staleVerifiedTTL = 7 * 24 * time.Hour
)

// memoryCacheLimit bounds the verdicts the default in-process store holds.
const memoryCacheLimit = 10000

// cachedVerdict is a verdict as stored.
type cachedVerdict struct {
	Verified bool      `json:"verified"`
	Reason   string    `json:"reason,omitempty"`
	Signer   string    `json:"signer,omitempty"`
	Checked  time.Time `json:"checked"`
}

// verdictCache keeps verdicts by policy fingerprint, repository and
// digest. Only verdicts are cached, never a failure to check.
type verdictCache struct {
	typed         store.Typed[cachedVerdict]
	verifiedTTL   time.Duration
	unverifiedTTL time.Duration
	now           func() time.Time
	log           *slog.Logger
}

// newMemoryStore is the default store: in process, bounded.
func newMemoryStore() store.Store {
	return store.NewMemory(store.WithLimit(func(key string) bool { return strings.HasPrefix(key, cachePrefix) }, memoryCacheLimit))
}

// cacheKey names a verdict. The repository is part of it: signatures
// attach to a digest within one repository (referrers and the .sig tag
// are per repository), and Notation trust policies are scoped by
// repository.
func cacheKey(p *policy, image name.Digest) string {
	return p.fingerprint + "/" + image.Context().Name() + "@" + image.DigestStr()
}

// get returns the cached verdict and whether it is still fresh (a stale
// one is a positive verdict past its lifetime); a store failure reads as a
// miss.
func (c *verdictCache) get(ctx context.Context, key string) (r Result, fresh, ok bool) {
	v, ok, err := c.typed.Get(ctx, key)
	if err != nil {
		c.log.Debug("signature verdict cache unavailable", "error", err)
		return Result{}, false, false
	}
	if !ok {
		return Result{}, false, false
	}
	fresh = !v.Verified || c.now().Sub(v.Checked) < c.verifiedTTL
	return Result{Verified: v.Verified, Reason: v.Reason, Signer: v.Signer}, fresh, true
}

// set records a verdict; a store failure is logged, not returned.
func (c *verdictCache) set(ctx context.Context, key string, r Result) {
	ttl := c.unverifiedTTL
	if r.Verified {
		ttl = c.verifiedTTL
	}
	if ttl <= 0 {
		return
	}
	if r.Verified {
		ttl += staleVerifiedTTL
	}
	v := cachedVerdict{Verified: r.Verified, Reason: r.Reason, Signer: r.Signer, Checked: c.now().UTC()}
	if err := c.typed.Set(ctx, key, v, ttl); err != nil {
		c.log.Debug("signature verdict not cached", "error", err)
	}
}
