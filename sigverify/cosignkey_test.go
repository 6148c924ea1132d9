package sigverify

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/argocd-image-resolver/argocd-image-resolver/store"
	"github.com/argocd-image-resolver/argocd-image-resolver/test/signtest"
)

func TestCosignKey(t *testing.T) {
	reg := newTestRegistry(t)
	key, other := signtest.NewKey(t), signtest.NewKey(t)
	v := newVerifier(t, nil, key.Policy("ci-key"))
	fp := v.policies["ci-key"].keyID
	if !strings.HasPrefix(fp, "sha256:") || len(fp) != len("sha256:")+64 {
		t.Fatalf("key fingerprint %q", fp)
	}
	otherImage := reg.pushImage(t, "acme/other")

	runVerdicts(t, reg, v, "ci-key", []verdictCase{
		{
			name:       "tag scheme, valid",
			setup:      func(t *testing.T, img name.Digest) { key.SignTag(t, img) },
			verified:   true,
			wantSigner: fp,
		},
		{
			name: "referrer bundle, valid",
			setup: func(t *testing.T, img name.Digest) {
				key.SignBundle(t, img)
			},
			verified:   true,
			wantSigner: fp,
		},
		{
			name: "second signature counts",
			setup: func(t *testing.T, img name.Digest) {
				signtest.PushTag(t, img, other.SignPayload(t, signtest.SimpleSigningPayload(img)), key.SignPayload(t, signtest.SimpleSigningPayload(img)))
			},
			verified: true,
		},
		{
			name: "tag scheme, wrong key",
			setup: func(t *testing.T, img name.Digest) {
				other.SignTag(t, img)
			},
			wantReason: []string{"no valid signature for policy ci-key: ", "the signature does not verify with key " + shortKey(fp)},
		},
		{
			name: "referrer bundle, wrong key",
			setup: func(t *testing.T, img name.Digest) {
				other.SignBundle(t, img)
			},
			wantReason: []string{"the signature does not verify with key " + shortKey(fp)},
		},
		{
			name: "tag scheme, signature over other bytes",
			setup: func(t *testing.T, img name.Digest) {
				s := key.SignPayload(t, signtest.SimpleSigningPayload(otherImage))
				s.Payload = signtest.SimpleSigningPayload(img)
				signtest.PushTag(t, img, s)
			},
			wantReason: []string{"does not verify with key"},
		},
		{
			name: "tag scheme, payload of another image",
			setup: func(t *testing.T, img name.Digest) {
				key.SignTag(t, img, signtest.Of(otherImage))
			},
			wantReason: []string{"the signature is for image " + otherImage.DigestStr()},
		},
		{
			name: "referrer bundle, statement of another image",
			setup: func(t *testing.T, img name.Digest) {
				key.SignBundle(t, img, signtest.Of(otherImage))
			},
			wantReason: []string{"names other images, not " + "sha256:"},
		},
		{
			name: "referrer bundle, an attestation is not a signature",
			setup: func(t *testing.T, img name.Digest) {
				signtest.PushBundle(t, img, key.Bundle(t, signtest.Statement(img, signtest.SLSAProvenancePredicate)))
			},
			wantReason: []string{`attestation of type "https://slsa.dev/provenance/v1"`},
		},
		{
			name: "tag scheme, not a simple-signing payload",
			setup: func(t *testing.T, img name.Digest) {
				signtest.PushTag(t, img, key.SignPayload(t, []byte(`{"critical":{"type":"something else"}}`)))
			},
			wantReason: []string{"simple-signing payload is not of type"},
		},
		{
			name: "tag scheme, no signature annotation",
			setup: func(t *testing.T, img name.Digest) {
				signtest.PushTag(t, img, signtest.TagSignature{Payload: signtest.SimpleSigningPayload(img)})
			},
			wantReason: []string{"no base64 value in annotation " + annSignature},
		},
		{
			name: "oversized bundle is not read",
			setup: func(t *testing.T, img name.Digest) {
				signtest.PushBundle(t, img, make([]byte, maxBlobSize+1))
			},
			wantReason: []string{fmt.Sprintf("a signature blob declares %d bytes (at most %d are read)", maxBlobSize+1, maxBlobSize)},
		},
		{
			name: "at most maxSignatures are looked at",
			setup: func(t *testing.T, img name.Digest) {
				var sigs []signtest.TagSignature
				for range maxSignatures {
					sigs = append(sigs, other.SignPayload(t, signtest.SimpleSigningPayload(img)))
				}
				signtest.PushTag(t, img, append(sigs, key.SignPayload(t, signtest.SimpleSigningPayload(img)))...)
			},
			wantReason: []string{fmt.Sprintf("(%d signatures checked)", maxSignatures)},
		},
		{
			name: "no signature",
			wantReason: []string{
				"no valid signature for policy ci-key: no signature found (looked for OCI referrers and the cosign tag sha256-",
				".sig)",
			},
		},
	})
}

// TestRegistryDown: a registry that does not answer is an error (a
// *CheckError carrying the status), not a verdict, and is not cached.
func TestRegistryDown(t *testing.T) {
	reg := newTestRegistry(t)
	key := signtest.NewKey(t)
	v := newVerifier(t, nil, key.Policy("ci-key"))
	image := reg.pushImage(t, "acme/web")
	key.SignTag(t, image)

	// The caller's options reach every request: here, a short retry.
	fast := remote.WithRetryBackoff(remote.Backoff{Duration: time.Millisecond, Factor: 1, Steps: 2})
	reg.fail(http.StatusServiceUnavailable, `{"errors":[{"code":"UNAVAILABLE","message":"down"}]}`)
	r, err := v.Verify(context.Background(), "ci-key", image, fast)
	var ce *CheckError
	if !errors.As(err, &ce) || r.Verified || r.Reason != "" {
		t.Fatalf("Verify = %+v, %v; want a CheckError", r, err)
	}
	if !strings.Contains(err.Error(), "HTTP 503") || !strings.Contains(err.Error(), `policy "ci-key"`) {
		t.Errorf("error %q does not name the status and policy", err)
	}

	reg.fail(0, "")
	before := reg.requests.Load()
	r, err = v.Verify(context.Background(), "ci-key", image, fast)
	if err != nil || !r.Verified {
		t.Fatalf("after recovery: %+v, %v", r, err)
	}
	if reg.requests.Load() == before {
		t.Fatal("the failure was cached: no request after recovery")
	}

	// A registry that is gone: connection refused.
	reg.srv.Close()
	other := newVerifier(t, nil, key.Policy("ci-key"))
	_, err = other.Verify(context.Background(), "ci-key", image, fast)
	if !errors.As(err, &ce) || !strings.Contains(err.Error(), "connection refused") {
		t.Fatalf("closed registry: %v", err)
	}
}

// TestFirstValidSignatureEndsReading: a signature that counts ends the
// search, so a failing place read after it does not matter; read before
// it, it is a failure to check.
func TestFirstValidSignatureEndsReading(t *testing.T) {
	reg := newTestRegistry(t)
	key := signtest.NewKey(t)
	v := newVerifier(t, nil, key.Policy("ci-key"))
	fast := remote.WithRetryBackoff(remote.Backoff{Duration: time.Millisecond, Factor: 1, Steps: 1})
	ctx := context.Background()

	bundled := reg.pushImage(t, "acme/bundled")
	key.SignBundle(t, bundled)
	reg.failOn("/manifests/sha256-", http.StatusInternalServerError)
	defer reg.fail(0, "")
	if r, err := v.Verify(ctx, "ci-key", bundled, fast); err != nil || !r.Verified {
		t.Fatalf("bundle verified before the failing tag: %+v, %v", r, err)
	}

	tagged := reg.pushImage(t, "acme/tagged")
	_, err := v.Verify(ctx, "ci-key", tagged, fast)
	var ce *CheckError
	if !errors.As(err, &ce) || !strings.Contains(err.Error(), "read the cosign signature tag sha256-") || !strings.Contains(err.Error(), "HTTP 500") {
		t.Fatalf("failing tag: %v", err)
	}
}

// TestReferrersTagSchema: on a registry without the referrers API, the
// referrers tag schema (sha256-<hex>) is read instead.
func TestReferrersTagSchema(t *testing.T) {
	reg := newTestRegistryWith(t, false)
	key := signtest.NewKey(t)
	acme := signtest.NewNotationCA(t, "Acme")
	v := newVerifier(t, nil, key.Policy("ci-key"), acme.Policy(t, "ci-notation", nil))
	image := reg.pushImage(t, "acme/web")
	key.SignBundle(t, image)
	acme.Sign(t, image)
	for _, policy := range []string{"ci-key", "ci-notation"} {
		if r, err := v.Verify(context.Background(), policy, image); err != nil || !r.Verified {
			t.Errorf("%s: %+v, %v", policy, r, err)
		}
	}
}

func TestUnknownPolicy(t *testing.T) {
	key := signtest.NewKey(t)
	v := newVerifier(t, nil, key.Policy("ci-key"), key.Policy("b-key"))
	image, err := name.NewDigest("ghcr.io/acme/web@sha256:" + strings.Repeat("a", 64))
	if err != nil {
		t.Fatal(err)
	}
	_, err = v.Verify(context.Background(), "nope", image)
	var upe *UnknownPolicyError
	if !errors.Is(err, ErrUnknownPolicy) || !errors.As(err, &upe) || !strings.Contains(err.Error(), "b-key, ci-key") {
		t.Fatalf("err = %v", err)
	}
	if !v.Has("ci-key") || v.Has("nope") {
		t.Error("Has")
	}
	if got := v.Names(); len(got) != 2 || got[0] != "b-key" || got[1] != "ci-key" {
		t.Errorf("Names = %v", got)
	}
}

// TestVerifiedStaysVerifiedThroughAnOutage: past its lifetime a positive
// verdict is checked again, but a registry failing then answers with the
// last verdict instead of an error: the running version must not roll back
// because signatures cannot be read for a while.
func TestVerifiedStaysVerifiedThroughAnOutage(t *testing.T) {
	reg := newTestRegistry(t)
	key := signtest.NewKey(t)
	now := time.Now()
	clock := func() time.Time { return now }
	v := newVerifier(t, []Option{WithStore(store.NewMemory(store.WithClock(clock))), WithClock(clock), WithCacheTTL(time.Hour, time.Minute)}, key.Policy("ci-key"))
	image := reg.pushImage(t, "acme/web")
	key.SignTag(t, image)
	if r, err := v.Verify(context.Background(), "ci-key", image); err != nil || !r.Verified {
		t.Fatalf("first: %+v, %v", r, err)
	}
	now = now.Add(2 * time.Hour)
	fast := remote.WithRetryBackoff(remote.Backoff{Duration: time.Millisecond, Factor: 1, Steps: 2})
	reg.fail(http.StatusServiceUnavailable, `{"errors":[{"code":"UNAVAILABLE","message":"down"}]}`)
	before := reg.requests.Load()
	r, err := v.Verify(context.Background(), "ci-key", image, fast)
	if err != nil || !r.Verified {
		t.Fatalf("during the outage: %+v, %v; want the last verdict", r, err)
	}
	if reg.requests.Load() == before {
		t.Fatal("the expired verdict answered without asking the registry")
	}
}
