package sigverify

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/notaryproject/notation-go"
	"github.com/notaryproject/notation-go/dir"
	"github.com/notaryproject/notation-go/verifier"
	"github.com/notaryproject/notation-go/verifier/trustpolicy"
	"github.com/notaryproject/notation-go/verifier/truststore"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// maxTrustPolicyFile bounds a Notation trust policy file.
const maxTrustPolicyFile = 1 << 20

// loadNotation reads a notation policy's trust policy and the trust
// stores it names. The stores are read now and kept (a snapshot): files
// are admin input read at start, like the keys of the other kinds, and
// the fingerprint covers exactly what is used.
//
// Trust policy statements must enforce integrity and authenticity (levels
// strict or permissive, without overrides that weaken authenticity):
// `audit` and `skip` accept signatures by anyone, which a signature policy
// must not. Revocation is checked as the statement says, by notation-go,
// which may ask the OCSP and CRL endpoints named in the admin's
// certificates.
func (p *policy) loadNotation(fp *fingerprint) error {
	data, err := readAdminFile(p.def.Name, p.def.TrustPolicy, maxTrustPolicyFile)
	if err != nil {
		return err
	}
	fp.file(p.def.TrustPolicy, data)
	bad := func(file string, err error) error {
		return &PolicyError{Policy: p.def.Name, File: file, Err: err}
	}
	var doc trustpolicy.Document
	if err := json.Unmarshal(data, &doc); err != nil {
		return bad(p.def.TrustPolicy, errors.New("not a Notation trust policy (JSON with version and trustPolicies)"))
	}
	if err := doc.Validate(); err != nil {
		return bad(p.def.TrustPolicy, err)
	}
	ts := &trustStoreSnapshot{certs: map[string][]*x509.Certificate{}}
	files := truststore.NewX509TrustStore(trustStoreDir{FS: os.DirFS(p.def.TrustStore), root: p.def.TrustStore})
	for _, statement := range doc.TrustPolicies {
		level, err := statement.SignatureVerification.GetVerificationLevel()
		if err != nil {
			return bad(p.def.TrustPolicy, fmt.Errorf("statement %q: %w", statement.Name, err))
		}
		if level.Enforcement[trustpolicy.TypeIntegrity] != trustpolicy.ActionEnforce || level.Enforcement[trustpolicy.TypeAuthenticity] != trustpolicy.ActionEnforce {
			return bad(p.def.TrustPolicy, fmt.Errorf("statement %q: verification level %q does not enforce who signed; use strict or permissive", statement.Name, level.Name))
		}
		for _, store := range statement.TrustStores {
			typ, storeName, _ := strings.Cut(store, ":")
			key := typ + "/" + storeName
			if _, done := ts.certs[key]; done {
				continue
			}
			certs, err := files.GetCertificates(context.Background(), truststore.Type(typ), storeName)
			if err != nil {
				return bad(p.def.TrustStore, fmt.Errorf("trust store %s of statement %q: %w", store, statement.Name, err))
			}
			ts.certs[key] = certs
			for _, c := range certs {
				fp.file("truststore:"+key, c.Raw)
			}
		}
	}
	p.notation, err = verifier.NewWithOptions(&doc, ts, nil, verifier.VerifierOptions{})
	if err != nil {
		return bad(p.def.TrustPolicy, err)
	}
	return nil
}

// trustStoreDir presents a trust store directory in Notation's layout
// (x509/<type>/<name>/...) as notation-go's file system, whose paths start
// with "truststore/".
type trustStoreDir struct {
	fs.FS
	root string
}

func (d trustStoreDir) SysPath(items ...string) (string, error) {
	rel := strings.TrimPrefix(path.Join(items...), dir.TrustStoreDir+"/")
	return filepath.Join(d.root, filepath.FromSlash(rel)), nil
}

// trustStoreSnapshot is the certificates of the trust stores a trust
// policy names, as read by New.
type trustStoreSnapshot struct {
	certs map[string][]*x509.Certificate
}

func (s *trustStoreSnapshot) GetCertificates(_ context.Context, storeType truststore.Type, namedStore string) ([]*x509.Certificate, error) {
	certs, ok := s.certs[string(storeType)+"/"+namedStore]
	if !ok {
		return nil, truststore.TrustStoreError{Msg: fmt.Sprintf("trust store %s:%s was not loaded", storeType, namedStore)}
	}
	return certs, nil
}

// notationReference is how Notation trust policies name an image
// (registryScopes use docker.io, not index.docker.io).
func notationReference(image name.Digest) string {
	registry := image.Context().RegistryStr()
	if registry == name.DefaultRegistry {
		registry = "docker.io"
	}
	return registry + "/" + image.Context().RepositoryStr() + "@" + image.DigestStr()
}

// ociDescriptor converts the image's descriptor for notation-go, which
// compares it with the target artifact the signature names.
func ociDescriptor(d v1.Descriptor) ocispec.Descriptor {
	return ocispec.Descriptor{MediaType: string(d.MediaType), Digest: digest.Digest(d.Digest.String()), Size: d.Size}
}

// verifyNotation checks one Notation signature envelope of image, whose
// manifest descriptor is target. It returns the signing certificate's
// subject, or why the signature does not count.
func (p *policy) verifyNotation(ctx context.Context, image name.Digest, target v1.Descriptor, c candidate) (signer, why string) {
	outcome, err := p.notation.Verify(ctx, ociDescriptor(target), c.envelope, notation.VerifierVerifyOptions{
		ArtifactReference:  notationReference(image),
		SignatureMediaType: c.envelopeMediaType,
	})
	if err != nil {
		var noPolicy notation.NoApplicableTrustPolicyError
		if errors.As(err, &noPolicy) {
			return "", fmt.Sprintf("no statement of trust policy %s covers %s", p.def.TrustPolicy, image.Context().Name())
		}
		if integrityFailed(outcome) {
			// notation-go's message may quote the envelope.
			return "", "the Notation signature envelope is malformed or its signature does not verify"
		}
		if other := signedTarget(outcome); other != "" && other != image.DigestStr() {
			return "", fmt.Sprintf("the signature is for image %s, not %s", clip(other), image.DigestStr())
		}
		return "", "notation: " + clip(err.Error())
	}
	if outcome == nil || outcome.EnvelopeContent == nil || len(outcome.EnvelopeContent.SignerInfo.CertificateChain) == 0 {
		return "", "notation verified nothing (no signer)"
	}
	return outcome.EnvelopeContent.SignerInfo.CertificateChain[0].Subject.String(), ""
}

// signedTarget is the digest a Notation signature names as its target,
// once notation-go has checked the envelope's integrity ("" before).
func signedTarget(outcome *notation.VerificationOutcome) string {
	if outcome == nil || outcome.EnvelopeContent == nil {
		return ""
	}
	var payload struct {
		TargetArtifact struct {
			Digest string `json:"digest"`
		} `json:"targetArtifact"`
	}
	if json.Unmarshal(outcome.EnvelopeContent.Payload.Content, &payload) != nil {
		return ""
	}
	return payload.TargetArtifact.Digest
}

// integrityFailed reports whether notation-go found the envelope itself
// unusable (before any trust decision).
func integrityFailed(outcome *notation.VerificationOutcome) bool {
	if outcome == nil || outcome.EnvelopeContent == nil {
		return true
	}
	for _, r := range outcome.VerificationResults {
		if r != nil && r.Type == trustpolicy.TypeIntegrity && r.Error != nil {
			return true
		}
	}
	return false
}
