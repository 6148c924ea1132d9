package sigverify

import (
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/sigstore/sigstore-go/pkg/testing/ca"
	"github.com/sigstore/sigstore-go/pkg/verify"

	"github.com/argocd-image-resolver/argocd-image-resolver/test/signtest"
)

const (
	testIssuer  = "https://token.actions.githubusercontent.com"
	testSubject = "release@acme.example"
)

var _ verify.SignedEntity = (*ca.TestEntity)(nil)

func TestKeyless(t *testing.T) {
	reg := newTestRegistry(t)
	vs, untrusted := signtest.NewSigstore(t), signtest.NewSigstore(t)
	key := signtest.NewKey(t)
	regexpPolicy := vs.Policy("ci-regexp", "", "")
	regexpPolicy.IssuerRegexp = `https://token\.actions\.githubusercontent\.com`
	regexpPolicy.SubjectRegexp = `release@acme\.example`
	v := newVerifier(t, nil, vs.Policy("ci-keyless", testIssuer, testSubject), regexpPolicy)
	otherImage := reg.pushImage(t, "acme/other")
	signer := testSubject + " (issuer " + testIssuer + ")"

	bundle := func(issuer, subject string, of func(img name.Digest) []byte) func(*testing.T, name.Digest) {
		return func(t *testing.T, img name.Digest) {
			signtest.PushBundle(t, img, vs.Bundle(t, issuer, subject, of(img)))
		}
	}
	signOf := func(img name.Digest) []byte { return signtest.Statement(img, signtest.SignPredicate) }

	runVerdicts(t, reg, v, "ci-keyless", []verdictCase{
		{name: "referrer bundle, valid", setup: bundle(testIssuer, testSubject, signOf), verified: true, wantSigner: signer},
		{
			name: "tag scheme, valid",
			setup: func(t *testing.T, img name.Digest) {
				vs.SignTag(t, img, testIssuer, testSubject)
			},
			verified:   true,
			wantSigner: signer,
		},
		{name: "regexp policy, valid", policy: "ci-regexp", setup: bundle(testIssuer, testSubject, signOf), verified: true, wantSigner: signer},
		{
			name:       "wrong subject",
			setup:      bundle(testIssuer, "mallory@evil.example", signOf),
			wantReason: []string{`no valid signature for policy ci-keyless: certificate subject "mallory@evil.example" does not match "release@acme.example"`},
		},
		{
			name:       "wrong issuer",
			setup:      bundle("https://evil.example", testSubject, signOf),
			wantReason: []string{`certificate issuer "https://evil.example" does not match "https://token.actions.githubusercontent.com"`},
		},
		{
			name:   "regexp is anchored",
			policy: "ci-regexp",
			setup:  bundle(testIssuer, "release@acme.example.evil.example", signOf),
			wantReason: []string{
				`certificate subject "release@acme.example.evil.example" does not match regexp "release@acme\\.example"`,
			},
		},
		{
			name: "tag scheme, wrong subject",
			setup: func(t *testing.T, img name.Digest) {
				vs.SignTag(t, img, testIssuer, "mallory@evil.example")
			},
			wantReason: []string{`certificate subject "mallory@evil.example" does not match`},
		},
		{
			name: "certificate from an untrusted CA",
			setup: func(t *testing.T, img name.Digest) {
				signtest.PushBundle(t, img, untrusted.Bundle(t, testIssuer, testSubject, signOf(img)))
			},
			wantReason: []string{"the signature does not verify against the trusted root " + vs.TrustedRootFile()},
		},
		{
			name: "tag scheme, signature over other bytes",
			setup: func(t *testing.T, img name.Digest) {
				s := vs.SignPayload(t, testIssuer, testSubject, signtest.SimpleSigningPayload(otherImage))
				s.Payload = signtest.SimpleSigningPayload(img)
				signtest.PushTag(t, img, s)
			},
			wantReason: []string{"the signature does not verify against the trusted root"},
		},
		{
			name:       "statement of another image",
			setup:      bundle(testIssuer, testSubject, func(name.Digest) []byte { return signOf(otherImage) }),
			wantReason: []string{"the signed statement names other images"},
		},
		{
			name: "key-signed bundle",
			setup: func(t *testing.T, img name.Digest) {
				signtest.PushBundle(t, img, key.Bundle(t, signOf(img)))
			},
			wantReason: []string{"made with a key, not a certificate; policy ci-keyless expects a keyless signature by release@acme.example (issuer https://token.actions.githubusercontent.com)"},
		},
		{
			name: "tag scheme without a certificate",
			setup: func(t *testing.T, img name.Digest) {
				key.SignTag(t, img)
			},
			wantReason: []string{"the signature has no certificate in annotation " + annCertificate},
		},
		{name: "no signature", wantReason: []string{"no valid signature for policy ci-keyless: no signature found (looked for OCI referrers and the cosign tag sha256-"}},
	})
}

// TestKeylessNeedsObserverTimestamp: a keyless signature whose time nothing
// proves (no log entry, no timestamp) does not count.
func TestKeylessNeedsObserverTimestamp(t *testing.T) {
	reg := newTestRegistry(t)
	vs := signtest.NewSigstore(t)
	v := newVerifier(t, nil, vs.Policy("ci-keyless", testIssuer, testSubject))
	runVerdicts(t, reg, v, "ci-keyless", []verdictCase{{
		name: "tag scheme without Rekor bundle and timestamp",
		setup: func(t *testing.T, img name.Digest) {
			s := vs.SignPayload(t, testIssuer, testSubject, signtest.SimpleSigningPayload(img))
			delete(s.Annotations, annRekorBundle)
			delete(s.Annotations, annTimestamp)
			signtest.PushTag(t, img, s)
		},
		wantReason: []string{"the signature does not verify against the trusted root"},
	}})
}
