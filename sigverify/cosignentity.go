package sigverify

import (
	"bytes"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"time"

	protocommon "github.com/sigstore/protobuf-specs/gen/pb-go/common/v1"
	protorekor "github.com/sigstore/protobuf-specs/gen/pb-go/rekor/v1"
	"github.com/sigstore/sigstore-go/pkg/bundle"
	"github.com/sigstore/sigstore-go/pkg/root"
	"github.com/sigstore/sigstore-go/pkg/tlog"
	"github.com/sigstore/sigstore-go/pkg/verify"
	"github.com/sigstore/sigstore/pkg/cryptoutils"
)

// Layer annotations of cosign's tag scheme.
const (
	annSignature   = "dev.cosignproject.cosign/signature"
	annCertificate = "dev.sigstore.cosign/certificate"
	annChain       = "dev.sigstore.cosign/chain"
	annRekorBundle = "dev.sigstore.cosign/bundle"
	annTimestamp   = "dev.sigstore.cosign/rfc3161timestamp"
)

// maxChainCertificates bounds the certificates read from a chain
// annotation.
const maxChainCertificates = 8

// cosignEntity presents one signature of cosign's tag scheme to
// sigstore-go's verifier: a message signature over the simple-signing
// payload, verified with the policy's key, or with the certificate of the
// annotations (plus the Rekor entry and timestamps that prove when it was
// made) for keyless policies. It holds no logic of verification; that is
// all sigstore-go's.
type cosignEntity struct {
	payload       []byte
	signature     []byte
	keyful        bool
	cert          *x509.Certificate
	intermediates []*x509.Certificate
	tlogEntries   []*tlog.Entry
	timestamps    [][]byte
}

var _ verify.SignedEntity = (*cosignEntity)(nil)

// newCosignEntity reads the annotations of a tag-scheme signature. keyful
// is true for key-based policies: the signature is then checked with the
// policy's key, and certificate and log annotations are not read (see
// policy.go for why key-based policies do not require a log entry).
func newCosignEntity(c candidate, keyful bool) (*cosignEntity, error) {
	sig, err := base64.StdEncoding.DecodeString(c.annotations[annSignature])
	if err != nil || len(sig) == 0 {
		return nil, &contentError{"the signature has no base64 value in annotation " + annSignature}
	}
	e := &cosignEntity{payload: c.payload, signature: sig, keyful: keyful}
	if keyful {
		return e, nil
	}
	certs, err := cryptoutils.UnmarshalCertificatesFromPEMLimited([]byte(c.annotations[annCertificate]), 1)
	if err != nil || len(certs) != 1 {
		return nil, &contentError{"the signature has no certificate in annotation " + annCertificate + " (a keyless signature carries one)"}
	}
	e.cert = certs[0]
	if chain := c.annotations[annChain]; chain != "" {
		certs, err := cryptoutils.UnmarshalCertificatesFromPEMLimited([]byte(chain), maxChainCertificates)
		if err != nil {
			return nil, &contentError{"the signature's certificate chain annotation is not PEM certificates"}
		}
		for _, cert := range certs {
			// Roots come from the trusted root only; the chain may add
			// intermediates, which must still lead to a trusted root.
			if cert.IsCA && !bytes.Equal(cert.RawIssuer, cert.RawSubject) {
				e.intermediates = append(e.intermediates, cert)
			}
		}
	}
	if rb := c.annotations[annRekorBundle]; rb != "" {
		entry, err := parseRekorBundle([]byte(rb))
		if err != nil {
			return nil, err
		}
		e.tlogEntries = []*tlog.Entry{entry}
	}
	if ts := c.annotations[annTimestamp]; ts != "" {
		var t struct {
			SignedRFC3161Timestamp []byte `json:"SignedRFC3161Timestamp"`
		}
		if err := json.Unmarshal([]byte(ts), &t); err != nil || len(t.SignedRFC3161Timestamp) == 0 {
			return nil, &contentError{"the signature's RFC 3161 timestamp annotation is not valid"}
		}
		e.timestamps = [][]byte{t.SignedRFC3161Timestamp}
	}
	return e, nil
}

// rekorBundle is cosign's annotation of a Rekor v1 entry with its signed
// entry timestamp (inclusion promise).
type rekorBundle struct {
	SignedEntryTimestamp []byte `json:"SignedEntryTimestamp"`
	Payload              struct {
		Body           string `json:"body"`
		IntegratedTime int64  `json:"integratedTime"`
		LogIndex       int64  `json:"logIndex"`
		LogID          string `json:"logID"`
	} `json:"Payload"`
}

// parseRekorBundle turns the annotation into a transparency log entry
// sigstore-go verifies (signed entry timestamp against the trusted root's
// Rekor keys, and the entry's signature, key and digest against ours).
func parseRekorBundle(b []byte) (*tlog.Entry, error) {
	invalid := &contentError{"the signature's Rekor bundle annotation is not valid"}
	var rb rekorBundle
	if err := json.Unmarshal(b, &rb); err != nil {
		return nil, invalid
	}
	body, err := base64.StdEncoding.DecodeString(rb.Payload.Body)
	if err != nil {
		return nil, invalid
	}
	logID, err := hex.DecodeString(rb.Payload.LogID)
	if err != nil {
		return nil, invalid
	}
	var kind struct {
		Kind       string `json:"kind"`
		APIVersion string `json:"apiVersion"`
	}
	if err := json.Unmarshal(body, &kind); err != nil {
		return nil, invalid
	}
	entry, err := tlog.ParseTransparencyLogEntry(&protorekor.TransparencyLogEntry{
		LogIndex:          rb.Payload.LogIndex,
		LogId:             &protocommon.LogId{KeyId: logID},
		KindVersion:       &protorekor.KindVersion{Kind: kind.Kind, Version: kind.APIVersion},
		IntegratedTime:    rb.Payload.IntegratedTime,
		InclusionPromise:  &protorekor.InclusionPromise{SignedEntryTimestamp: rb.SignedEntryTimestamp},
		CanonicalizedBody: body,
	})
	if err != nil {
		return nil, invalid
	}
	return entry, nil
}

func (e *cosignEntity) HasInclusionPromise() bool {
	for _, t := range e.tlogEntries {
		if t.HasInclusionPromise() {
			return true
		}
	}
	return false
}

func (e *cosignEntity) HasInclusionProof() bool { return false }

func (e *cosignEntity) SignatureContent() (verify.SignatureContent, error) {
	digest := sha256.Sum256(e.payload)
	return bundle.NewMessageSignature(digest[:], "SHA2_256", e.signature), nil
}

func (e *cosignEntity) Timestamps() ([][]byte, error) { return e.timestamps, nil }

func (e *cosignEntity) TlogEntries() ([]*tlog.Entry, error) { return e.tlogEntries, nil }

func (e *cosignEntity) VerificationContent() (verify.VerificationContent, error) {
	if e.keyful {
		// The trusted material of a key-based policy holds one key and
		// ignores the hint.
		return &bundle.PublicKey{}, nil
	}
	return &certificateContent{cert: e.cert, intermediates: e.intermediates}, nil
}

// Version is that of the oldest bundle format: tag-scheme signatures come
// from older clients, and sigstore-go then also accepts ECDSA P-384/P-521
// certificate signatures made with SHA-256, as those clients made them.
func (e *cosignEntity) Version() (string, error) { return "v0.1", nil }

// certificateContent is a leaf certificate with the intermediates its
// signature carried.
type certificateContent struct {
	cert          *x509.Certificate
	intermediates []*x509.Certificate
}

var _ verify.VerificationContent = (*certificateContent)(nil)

func (c *certificateContent) CompareKey(key any, _ root.TrustedMaterial) bool {
	cert, ok := key.(*x509.Certificate)
	return ok && c.cert.Equal(cert)
}

func (c *certificateContent) ValidAtTime(t time.Time, _ root.TrustedMaterial) bool {
	return !c.cert.NotAfter.Before(t) && !c.cert.NotBefore.After(t)
}

func (c *certificateContent) Certificate() *x509.Certificate { return c.cert }

func (c *certificateContent) Intermediates() []*x509.Certificate { return c.intermediates }

func (c *certificateContent) PublicKey() verify.PublicKeyProvider { return nil }
