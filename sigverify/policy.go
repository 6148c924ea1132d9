package sigverify

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"os"
	"regexp"
	"time"

	"github.com/notaryproject/notation-go"
	"github.com/sigstore/sigstore-go/pkg/root"
	"github.com/sigstore/sigstore-go/pkg/verify"
	"github.com/sigstore/sigstore/pkg/cryptoutils"
	"github.com/sigstore/sigstore/pkg/signature"

	"github.com/argocd-image-resolver/argocd-image-resolver/registriesconf"
)

// Bounds on the admin's files (they are small; a larger one is a mistake).
const (
	maxKeyFile         = 64 << 10
	maxTrustedRootFile = 8 << 20
)

// policy is a signature policy with its files read and its verifier
// built.
type policy struct {
	def registriesconf.SignaturePolicy
	// fingerprint identifies the definition and the content of its files:
	// cached verdicts are keyed by it.
	fingerprint string

	// cosign-key and keyless: sigstore-go's verifier over the policy's
	// trusted material.
	sigstore *verify.Verifier
	// cosign-key: the key's fingerprint (sha256 of its DER
	// SubjectPublicKeyInfo), reported as the signer.
	keyID string
	// keyless: the certificate identity that must have signed.
	identity verify.CertificateIdentity

	// notation: notation-go's verifier over the trust policy and a
	// snapshot of the trust store.
	notation notation.Verifier
}

func (p *policy) keyless() bool { return p.def.Kind == registriesconf.SignatureKindKeyless }

// loadPolicy reads the files of def and builds its verifier.
func loadPolicy(def registriesconf.SignaturePolicy) (*policy, error) {
	p := &policy{def: def}
	fp := newFingerprint(def)
	var err error
	switch def.Kind {
	case registriesconf.SignatureKindCosignKey:
		err = p.loadKey(fp)
	case registriesconf.SignatureKindKeyless:
		err = p.loadKeyless(fp)
	case registriesconf.SignatureKindNotation:
		err = p.loadNotation(fp)
	default:
		err = &PolicyError{Policy: def.Name, Err: fmt.Errorf("unknown kind %q", def.Kind)}
	}
	if err != nil {
		return nil, err
	}
	p.fingerprint = fp.sum()
	return p, nil
}

// loadKey reads a cosign-key policy's public key.
//
// Key-based policies accept signatures without a transparency log entry
// or timestamp (sigstore-go's WithNoObserverTimestamps): private setups
// often sign with `cosign sign --tlog-upload=false`, and the key alone is
// what the admin trusts. A log entry present in a signature is not
// checked, since the policy names no log to check it against.
func (p *policy) loadKey(fp *fingerprint) error {
	data, err := readAdminFile(p.def.Name, p.def.Key, maxKeyFile)
	if err != nil {
		return err
	}
	fp.file(p.def.Key, data)
	pub, err := cryptoutils.UnmarshalPEMToPublicKey(data)
	if err != nil {
		return &PolicyError{Policy: p.def.Name, File: p.def.Key, Err: errors.New("not a PEM public key (ECDSA, RSA or Ed25519, as `cosign public-key` writes it)")}
	}
	if err := cryptoutils.ValidatePubKey(pub); err != nil {
		return &PolicyError{Policy: p.def.Name, File: p.def.Key, Err: fmt.Errorf("unsupported public key: %w", err)}
	}
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return &PolicyError{Policy: p.def.Name, File: p.def.Key, Err: errors.New("unsupported public key type")}
	}
	sum := sha256.Sum256(der)
	p.keyID = "sha256:" + hex.EncodeToString(sum[:])
	kv, err := newKeyVerifier(pub)
	if err != nil {
		return &PolicyError{Policy: p.def.Name, File: p.def.Key, Err: fmt.Errorf("unsupported public key: %w", err)}
	}
	key := root.NewExpiringKey(kv, time.Time{}, time.Time{})
	material := root.NewTrustedPublicKeyMaterial(func(string) (root.TimeConstrainedVerifier, error) { return key, nil })
	p.sigstore, err = verify.NewVerifier(material, verify.WithNoObserverTimestamps())
	if err != nil {
		return &PolicyError{Policy: p.def.Name, Err: err}
	}
	return nil
}

// loadKeyless reads a keyless policy's trusted root and identity.
//
// Keyless signatures are verified as sigstore-go verifies them: the
// certificate must chain to a certificate authority of the trusted root
// at a time proven by an observer timestamp (a Rekor entry's integrated
// time or an RFC 3161 timestamp); when the trusted root lists Rekor logs
// a log entry is required, and when it lists CT logs an embedded SCT is.
func (p *policy) loadKeyless(fp *fingerprint) error {
	data, err := readAdminFile(p.def.Name, p.def.TrustedRoot, maxTrustedRootFile)
	if err != nil {
		return err
	}
	fp.file(p.def.TrustedRoot, data)
	tr, err := root.NewTrustedRootFromJSON(data)
	if err != nil {
		return &PolicyError{Policy: p.def.Name, File: p.def.TrustedRoot, Err: errors.New("not a Sigstore trusted root (JSON of media type " + root.TrustedRootMediaType01 + ", as `cosign trusted-root create` or the Sigstore TUF repository give it)")}
	}
	if len(tr.FulcioCertificateAuthorities()) == 0 {
		return &PolicyError{Policy: p.def.Name, File: p.def.TrustedRoot, Err: errors.New("the trusted root lists no certificate authority to check signing certificates against")}
	}
	if len(tr.RekorLogs()) == 0 && len(tr.TimestampingAuthorities()) == 0 {
		return &PolicyError{Policy: p.def.Name, File: p.def.TrustedRoot, Err: errors.New("the trusted root lists neither a Rekor log nor a timestamp authority; keyless signatures need one of them to prove when they were made")}
	}
	opts := []verify.VerifierOption{verify.WithObserverTimestamps(1)}
	if len(tr.RekorLogs()) > 0 {
		opts = append(opts, verify.WithTransparencyLog(1))
	}
	if len(tr.CTLogs()) > 0 {
		opts = append(opts, verify.WithSignedCertificateTimestamps(1))
	}
	if p.sigstore, err = verify.NewVerifier(tr, opts...); err != nil {
		return &PolicyError{Policy: p.def.Name, Err: err}
	}
	p.identity, err = verify.NewShortCertificateIdentity(p.def.Issuer, anchored(p.def.IssuerRegexp), p.def.Subject, anchored(p.def.SubjectRegexp))
	if err != nil {
		return &PolicyError{Policy: p.def.Name, Err: fmt.Errorf("certificate identity: %w", err)}
	}
	return nil
}

// anchored makes a policy regexp match the whole value (sigstore-go's
// matchers are unanchored, so `https://github.com/acme/.*` would also
// match a subject that merely contains it).
func anchored(re string) string {
	if re == "" {
		return ""
	}
	return "^(?:" + re + ")$"
}

// matchesWhole reports whether value matches re as a whole.
func matchesWhole(re, value string) bool {
	ok, err := regexp.MatchString(anchored(re), value)
	return err == nil && ok
}

// readAdminFile reads a file a policy names, at most limit bytes.
func readAdminFile(policyName, path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, &PolicyError{Policy: policyName, File: path, Err: withoutPath(err)}
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, &PolicyError{Policy: policyName, File: path, Err: withoutPath(err)}
	}
	if int64(len(data)) > limit {
		return nil, &PolicyError{Policy: policyName, File: path, Err: fmt.Errorf("larger than %d bytes", limit)}
	}
	return data, nil
}

// withoutPath drops the path from a file error (PolicyError names it).
func withoutPath(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// fingerprint hashes a policy's definition and its files' content.
type fingerprint struct{ h hash.Hash }

func newFingerprint(def registriesconf.SignaturePolicy) *fingerprint {
	fp := &fingerprint{h: sha256.New()}
	for _, kv := range [][2]string{
		{"name", def.Name}, {"kind", def.Kind}, {"key", def.Key},
		{"issuer", def.Issuer}, {"issuer-regexp", def.IssuerRegexp},
		{"subject", def.Subject}, {"subject-regexp", def.SubjectRegexp},
		{"trusted-root", def.TrustedRoot}, {"trust-policy", def.TrustPolicy}, {"trust-store", def.TrustStore},
	} {
		fmt.Fprintf(fp.h, "%d:%s=%d:%s\n", len(kv[0]), kv[0], len(kv[1]), kv[1])
	}
	return fp
}

func (fp *fingerprint) file(path string, data []byte) {
	fmt.Fprintf(fp.h, "file %d:%s %d\n", len(path), path, len(data))
	fp.h.Write(data)
}

func (fp *fingerprint) sum() string { return hex.EncodeToString(fp.h.Sum(nil))[:32] }

// keyVerifier verifies with one public key, accepting the hash choices
// cosign has used: SHA-256 always, and the curve's own hash for ECDSA
// P-384/P-521 (sigstore-go's default).
type keyVerifier struct {
	verifiers []signature.Verifier
}

func newKeyVerifier(pub crypto.PublicKey) (signature.Verifier, error) {
	def, err := signature.LoadDefaultVerifier(pub)
	if err != nil {
		return nil, err
	}
	ec, ok := pub.(*ecdsa.PublicKey)
	if !ok || ec.Curve == elliptic.P256() {
		return def, nil
	}
	sha, err := signature.LoadVerifier(pub, crypto.SHA256)
	if err != nil {
		return nil, err
	}
	return &keyVerifier{verifiers: []signature.Verifier{def, sha}}, nil
}

func (k *keyVerifier) PublicKey(opts ...signature.PublicKeyOption) (crypto.PublicKey, error) {
	return k.verifiers[0].PublicKey(opts...)
}

func (k *keyVerifier) VerifySignature(sig, message io.Reader, opts ...signature.VerifyOption) error {
	s, err := io.ReadAll(io.LimitReader(sig, maxBlobSize))
	if err != nil {
		return err
	}
	m, err := io.ReadAll(io.LimitReader(message, maxBlobSize+1))
	if err != nil {
		return err
	}
	for _, v := range k.verifiers {
		if err = v.VerifySignature(bytes.NewReader(s), bytes.NewReader(m), opts...); err == nil {
			return nil
		}
	}
	return err
}
