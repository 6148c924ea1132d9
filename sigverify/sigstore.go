package sigverify

import (
	"bytes"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"
	"unicode/utf8"

	"github.com/google/go-containerregistry/pkg/name"
	protobundle "github.com/sigstore/protobuf-specs/gen/pb-go/bundle/v1"
	"github.com/sigstore/sigstore-go/pkg/bundle"
	"github.com/sigstore/sigstore-go/pkg/fulcio/certificate"
	"github.com/sigstore/sigstore-go/pkg/verify"
	"google.golang.org/protobuf/encoding/protojson"
)

// cosignSignPredicate is the predicate type of the in-toto statement
// cosign v3 signs for an image (`cosign sign`, new bundle format): its
// subject is the image manifest digest. Other predicates (SLSA
// provenance, SBOMs) are attestations about an image, not signatures of
// it, and do not count.
const cosignSignPredicate = "https://sigstore.dev/cosign/sign/v1"

// predicateURI is a predicate type plain enough to show in a reason
// (https://slsa.dev/provenance/v1); others are not quoted.
var predicateURI = regexp.MustCompile(`^https?://[A-Za-z0-9._~/-]{1,120}$`)

// verifySigstore checks one cosign signature (a Sigstore bundle from the
// referrers, or a simple-signing payload from the .sig tag) of image
// against a cosign-key or keyless policy. It returns the signer, or why
// the signature does not count.
func (p *policy) verifySigstore(image name.Digest, c candidate) (signer, why string) {
	switch c.format {
	case formatSimpleSigning:
		claimed, err := parseSimpleSigning(c.payload)
		if err != nil {
			return "", err.Error()
		}
		if claimed.String() != image.DigestStr() {
			return "", fmt.Sprintf("the signature is for image %s, not %s", claimed, image.DigestStr())
		}
		entity, err := newCosignEntity(c, !p.keyless())
		if err != nil {
			return "", err.Error()
		}
		return p.runSigstore(entity, verify.WithArtifact(bytes.NewReader(c.payload)))
	case formatBundle:
		b, why := parseBundle(c.bundle)
		if why != "" {
			return "", why
		}
		if why := checkStatement(b, image); why != "" {
			return "", why
		}
		sum, err := hex.DecodeString(image.DigestStr()[len("sha256:"):])
		if err != nil {
			return "", "the image digest is not sha256"
		}
		return p.runSigstore(b, verify.WithArtifactDigest("sha256", sum))
	}
	return "", "unknown signature format"
}

// parseBundle reads a Sigstore bundle; the reason never quotes it.
func parseBundle(data []byte) (*bundle.Bundle, string) {
	var pb protobundle.Bundle
	if err := protojson.Unmarshal(data, &pb); err != nil {
		return nil, "a referrer is not a Sigstore bundle (JSON)"
	}
	b, err := bundle.NewBundle(&pb)
	switch {
	case errors.Is(err, bundle.ErrUnsupportedMediaType):
		return nil, "a referrer's Sigstore bundle has a media type this verifier does not know (v0.1 to v0.3 are)"
	case err != nil:
		// Its message may quote the bundle (a log entry's kind...).
		return nil, "a referrer is not a valid Sigstore bundle (missing or inconsistent parts)"
	}
	return b, ""
}

// checkStatement checks what a bundle's statement claims: a cosign image
// signature whose subject is image. sigstore-go checks the subject again
// when it verifies the signature over the statement.
func checkStatement(b *bundle.Bundle, image name.Digest) string {
	env, err := b.Envelope()
	if err != nil {
		return "the bundle holds a message signature, not a DSSE statement naming the image (cosign v3 signs images with an in-toto statement)"
	}
	st, err := env.Statement()
	if err != nil {
		return "the bundle's DSSE payload is not an in-toto statement"
	}
	if pt := st.GetPredicateType(); pt != cosignSignPredicate {
		if !predicateURI.MatchString(pt) {
			return "the bundle is an attestation of another predicate type, not a cosign image signature (" + cosignSignPredicate + ")"
		}
		return fmt.Sprintf("the bundle is an attestation of type %q, not a cosign image signature (%s)", pt, cosignSignPredicate)
	}
	want := image.DigestStr()[len("sha256:"):]
	for _, s := range st.GetSubject() {
		if s.GetDigest()["sha256"] == want {
			return ""
		}
	}
	return "the signed statement names other images, not " + image.DigestStr()
}

// runSigstore verifies entity with sigstore-go under the policy.
func (p *policy) runSigstore(entity verify.SignedEntity, artifact verify.ArtifactPolicyOption) (signer, why string) {
	vc, err := entity.VerificationContent()
	if err != nil {
		return "", "the signature carries no usable key hint or certificate"
	}
	cert := vc.Certificate()
	var opt verify.PolicyOption
	if p.keyless() {
		if cert == nil {
			return "", fmt.Sprintf("the signature was made with a key, not a certificate; policy %s expects a keyless signature by %s", p.def.Name, p.expectedIdentity())
		}
		opt = verify.WithCertificateIdentity(p.identity)
	} else {
		if cert != nil {
			return "", fmt.Sprintf("the signature was made with a certificate (keyless); policy %s expects key %s", p.def.Name, shortKey(p.keyID))
		}
		opt = verify.WithKey()
	}
	res, err := p.sigstore.Verify(entity, verify.NewPolicy(artifact, opt))
	if err != nil {
		var noID *verify.ErrNoMatchingCertificateIdentity
		switch {
		case errors.As(err, &noID):
			return "", p.identityMismatch(cert)
		case p.keyless():
			return "", fmt.Sprintf("the signature does not verify against the trusted root %s: %s", p.def.TrustedRoot, clip(err.Error()))
		default:
			return "", fmt.Sprintf("the signature does not verify with key %s: %s", shortKey(p.keyID), clip(err.Error()))
		}
	}
	if p.keyless() {
		if res.Signature == nil || res.Signature.Certificate == nil {
			return "", "sigstore-go verified no certificate"
		}
		c := res.Signature.Certificate
		return fmt.Sprintf("%s (issuer %s)", c.SubjectAlternativeName, c.Extensions.Issuer), ""
	}
	return p.keyID, ""
}

// expectedIdentity is the policy's identity as reasons show it.
func (p *policy) expectedIdentity() string {
	subject, issuer := p.def.Subject, p.def.Issuer
	if subject == "" {
		subject = "regexp " + p.def.SubjectRegexp
	}
	if issuer == "" {
		issuer = "regexp " + p.def.IssuerRegexp
	}
	return fmt.Sprintf("%s (issuer %s)", subject, issuer)
}

// identityMismatch says which part of the certificate identity differs
// from the policy (sigstore-go verified everything else before it
// compared identities).
func (p *policy) identityMismatch(cert *x509.Certificate) string {
	sum, err := certificate.SummarizeCertificate(cert)
	if err != nil {
		return "the signing certificate names no subject"
	}
	if why := mismatch("subject", sum.SubjectAlternativeName, p.def.Subject, p.def.SubjectRegexp); why != "" {
		return why
	}
	if why := mismatch("issuer", sum.Extensions.Issuer, p.def.Issuer, p.def.IssuerRegexp); why != "" {
		return why
	}
	return "the signing certificate's identity does not match " + p.expectedIdentity()
}

func mismatch(what, got, exact, re string) string {
	switch {
	case exact != "" && got != exact:
		return fmt.Sprintf("certificate %s %q does not match %q", what, clip(got), exact)
	case re != "" && !matchesWhole(re, got):
		return fmt.Sprintf("certificate %s %q does not match regexp %q", what, clip(got), re)
	}
	return ""
}

// shortKey is a key fingerprint as reasons show it (Signer has it whole).
func shortKey(keyID string) string {
	if len(keyID) > len("sha256:")+12 {
		return keyID[:len("sha256:")+12]
	}
	return keyID
}

// maxShown bounds a value from a signature or an error shown in a reason.
const maxShown = 200

// clip shortens s for a reason.
func clip(s string) string {
	if len(s) <= maxShown {
		return s
	}
	cut := maxShown
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}
