package sigverify

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/argocd-image-resolver/argocd-image-resolver/registriesconf"
	"github.com/argocd-image-resolver/argocd-image-resolver/store"
)

// Verifier checks image signatures against named policies. It is safe
// for concurrent use.
type Verifier struct {
	policies map[string]*policy
	names    []string
	cache    verdictCache
	now      func() time.Time
	log      *slog.Logger
}

// Result is a verdict on one digest under one policy.
type Result struct {
	Verified bool
	// Reason says why the image is not verified ("" when it is).
	Reason string
	// Signer is who signed: the key's fingerprint (cosign-key), the
	// certificate identity (keyless) or the signing certificate's subject
	// (notation).
	Signer string
}

// Option configures New.
type Option func(*options)

type options struct {
	store         store.Store
	now           func() time.Time
	log           *slog.Logger
	verifiedTTL   time.Duration
	unverifiedTTL time.Duration
}

// WithStore caches verdicts in s (shared between replicas when it is the
// Redis store). The default is an in-process store.
func WithStore(s store.Store) Option { return func(o *options) { o.store = s } }

// WithClock replaces time.Now (tests).
func WithClock(now func() time.Time) Option { return func(o *options) { o.now = now } }

// WithLogger logs verdicts and cache use at debug level.
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.log = l } }

// WithCacheTTL sets how long verified and not-verified verdicts are kept
// (defaults DefaultVerifiedTTL and DefaultUnverifiedTTL); zero does not
// cache that kind of verdict.
func WithCacheTTL(verified, unverified time.Duration) Option {
	return func(o *options) { o.verifiedTTL, o.unverifiedTTL = verified, unverified }
}

// New reads the files of every policy (admin input) and builds their
// verifiers. Errors are *PolicyError and name the policy and the file.
func New(policies []registriesconf.SignaturePolicy, opts ...Option) (*Verifier, error) {
	o := options{now: time.Now, verifiedTTL: DefaultVerifiedTTL, unverifiedTTL: DefaultUnverifiedTTL}
	for _, opt := range opts {
		opt(&o)
	}
	if o.store == nil {
		o.store = newMemoryStore()
	}
	if o.log == nil {
		o.log = slog.New(slog.DiscardHandler)
	}
	v := &Verifier{policies: map[string]*policy{}, now: o.now, log: o.log}
	var errs []error
	for _, def := range policies {
		if _, dup := v.policies[def.Name]; dup {
			errs = append(errs, &PolicyError{Policy: def.Name, Err: errors.New("defined twice")})
			continue
		}
		p, err := loadPolicy(def)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		v.policies[def.Name] = p
		v.names = append(v.names, def.Name)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	slices.Sort(v.names)
	v.cache = verdictCache{
		typed:         store.NewTyped[cachedVerdict](o.store, cachePrefix, cacheVersion),
		verifiedTTL:   o.verifiedTTL,
		unverifiedTTL: o.unverifiedTTL,
		now:           o.now,
		log:           o.log,
	}
	return v, nil
}

// Has reports whether policy is defined.
func (v *Verifier) Has(policy string) bool {
	_, ok := v.policies[policy]
	return ok
}

// Names lists the defined policies, sorted.
func (v *Verifier) Names() []string { return slices.Clone(v.names) }

// Verify checks that image (a digest reference) carries a valid signature
// for policy.
//
// err != nil only when it could not check (registry unreachable: a
// *CheckError; unknown policy: an *UnknownPolicyError); a missing or
// invalid signature is Result{Verified: false, Reason: "..."}.
//
// opts are the caller's go-containerregistry options (its authenticated,
// rate-limited, egress-checked transport); every registry request goes
// through them.
func (v *Verifier) Verify(ctx context.Context, policy string, image name.Digest, opts ...remote.Option) (Result, error) {
	p, ok := v.policies[policy]
	if !ok {
		return Result{}, &UnknownPolicyError{Name: policy, Known: v.Names()}
	}
	if !strings.HasPrefix(image.DigestStr(), "sha256:") {
		return Result{Reason: fmt.Sprintf("no valid signature for policy %s: only sha256 image digests are verified", p.def.Name)}, nil
	}
	key := cacheKey(p, image)
	cached, fresh, hit := v.cache.get(ctx, key)
	if hit && fresh {
		v.log.Debug("signature verdict from cache", "policy", policy, "image", image.String(), "verified", cached.Verified)
		return cached, nil
	}
	ropts := append(slices.Clip(opts), remote.WithContext(ctx))
	start := v.now()
	r, err := v.check(ctx, p, image, ropts)
	if err != nil && hit {
		// A digest verified before stays verified through an outage.
		v.log.Warn("signatures could not be read; using the last verdict", "policy", policy, "image", image.String(), "error", err.Error())
		return cached, nil
	}
	if err != nil {
		v.log.Debug("signatures could not be checked", "policy", policy, "image", image.String(), "error", err.Error())
		return Result{}, err
	}
	v.cache.set(ctx, key, r)
	v.log.Debug("signature verdict", "policy", policy, "image", image.String(), "verified", r.Verified, "signer", r.Signer, "reason", r.Reason, "took", v.now().Sub(start))
	return r, nil
}

// check looks for the signatures of image where the policy's kind keeps
// them, and verifies them until one counts.
func (v *Verifier) check(ctx context.Context, p *policy, image name.Digest, opts []remote.Option) (Result, error) {
	fail := func(op string, err error) (Result, error) {
		return Result{}, &CheckError{Policy: p.def.Name, Image: image.String(), Op: op, Err: err}
	}
	var (
		verdict  Result
		reasons  []string
		found    int
		checkErr error
	)
	// visit verifies one candidate with verify and says whether reading
	// stops: it counts, or verify could not check.
	visit := func(verify func(candidate) (signer, why string, err error)) func(candidate) bool {
		return func(c candidate) bool {
			found++
			why := c.problem
			if why == "" {
				var signer string
				signer, why, checkErr = verify(c)
				if checkErr != nil {
					return true
				}
				if why == "" {
					verdict = Result{Verified: true, Signer: signer}
					return true
				}
			}
			if !slices.Contains(reasons, why) {
				reasons = append(reasons, why)
			}
			return false
		}
	}

	if p.def.Kind == registriesconf.SignatureKindNotation {
		var target *v1.Descriptor
		err := readReferrers(image, referrersNotation, opts, visit(func(c candidate) (string, string, error) {
			if target == nil {
				var err error
				if target, err = remote.Head(image, opts...); err != nil {
					return "", "", err
				}
			}
			signer, why := p.verifyNotation(ctx, image, *target, c)
			return signer, why, nil
		}))
		if checkErr != nil {
			return fail("read the image's descriptor", checkErr)
		}
		if err != nil {
			return fail("read the referrers", err)
		}
		if verdict.Verified {
			return verdict, nil
		}
		return v.notVerified(p, found, reasons, "looked for OCI referrers of type "+notationSignatureType), nil
	}

	// cosign-key and keyless: cosign v3's bundles first, then the tag
	// scheme, which is read only when no bundle counts.
	cosign := visit(func(c candidate) (string, string, error) {
		signer, why := p.verifySigstore(image, c)
		return signer, why, nil
	})
	if err := readReferrers(image, referrersSigstore, opts, cosign); err != nil {
		return fail("read the referrers", err)
	}
	if verdict.Verified {
		return verdict, nil
	}
	if err := readCosignTag(image, opts, cosign); err != nil {
		return fail("read the cosign signature tag "+cosignTagName(image), err)
	}
	if verdict.Verified {
		return verdict, nil
	}
	return v.notVerified(p, found, reasons, "looked for OCI referrers and the cosign tag "+cosignTagName(image)), nil
}

// maxReasons bounds the distinct reasons a verdict lists.
const maxReasons = 3

// notVerified is the negative verdict: no signature at all, or why each
// one found did not count.
func (v *Verifier) notVerified(p *policy, found int, reasons []string, where string) Result {
	prefix := fmt.Sprintf("no valid signature for policy %s: ", p.def.Name)
	if found == 0 {
		return Result{Reason: prefix + "no signature found (" + where + ")"}
	}
	shown := reasons
	if len(shown) > maxReasons {
		shown = shown[:maxReasons]
	}
	reason := prefix + strings.Join(shown, "; ")
	if found > 1 {
		reason += fmt.Sprintf(" (%d signatures checked)", found)
	}
	return Result{Reason: reason}
}
