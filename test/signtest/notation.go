package signtest

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"maps"
	"math/big"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/notaryproject/notation-go"
	"github.com/notaryproject/notation-go/signer"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/sigstore/sigstore/pkg/cryptoutils"

	"github.com/argocd-image-resolver/argocd-image-resolver/registriesconf"
)

// NotationStore is the name of the trust store NotationCA.Policy writes
// its root into (trust store "ca:acme" of the trust policy).
const NotationStore = "acme"

// NotationCA is a root CA and a code-signing leaf it issued, as a
// company's Notation signing setup has them. Subjects are
// "CN=<org> Root CA" and "CN=<org> Release Signing" (Leaf makes others),
// with O=<org>, L=Seattle, ST=WA, C=US.
type NotationCA struct {
	org     string
	root    *x509.Certificate
	rootKey *ecdsa.PrivateKey
	leaf    *x509.Certificate
	leafKey *ecdsa.PrivateKey
}

// NewNotationCA makes a root CA and its leaf for organisation org.
func NewNotationCA(t testing.TB, org string) *NotationCA {
	t.Helper()
	root, rootKey := issue(t, &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               subject(org, org+" Root CA"),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}, nil, nil)
	ca := &NotationCA{org: org, root: root, rootKey: rootKey}
	return ca.Leaf(t, org+" Release Signing")
}

// Leaf is another signer of the same organisation: a code-signing leaf
// with common name cn that this CA's root issued. Its signatures satisfy
// the same trust store, but not a trust policy naming the other leaf's
// subject as the trusted identity.
func (c *NotationCA) Leaf(t testing.TB, cn string) *NotationCA {
	t.Helper()
	serial, err := rand.Int(rand.Reader, big.NewInt(1<<62))
	if err != nil {
		t.Fatal(err)
	}
	leaf, leafKey := issue(t, &x509.Certificate{
		SerialNumber:          serial.Add(serial, big.NewInt(2)),
		Subject:               subject(c.org, cn),
		NotAfter:              time.Now().Add(12 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageCodeSigning},
		BasicConstraintsValid: true,
	}, c.root, c.rootKey)
	return &NotationCA{org: c.org, root: c.root, rootKey: c.rootKey, leaf: leaf, leafKey: leafKey}
}

// subject is the distinguished name of a certificate of org.
func subject(org, cn string) pkix.Name {
	return pkix.Name{CommonName: cn, Organization: []string{org}, Locality: []string{"Seattle"}, Province: []string{"WA"}, Country: []string{"US"}}
}

// issue makes a P-256 key and a certificate of template, valid from an
// hour ago, for it: issued by parent with parentKey, or self-signed when
// parent is nil.
func issue(t testing.TB, template, parent *x509.Certificate, parentKey *ecdsa.PrivateKey) (*x509.Certificate, *ecdsa.PrivateKey) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	template.NotBefore = time.Now().Add(-time.Hour)
	if parent == nil {
		parent, parentKey = template, key
	}
	der, err := x509.CreateCertificate(rand.Reader, template, parent, key.Public(), parentKey)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return cert, key
}

// Signer is the leaf's subject, as a verified signature names its signer
// ("CN=Acme Release Signing,O=Acme,L=Seattle,ST=WA,C=US").
func (c *NotationCA) Signer() string { return c.leaf.Subject.String() }

// Policy writes a trust store holding the root as store NotationStore and
// a trust policy with one statement, and returns the notation policy
// called name naming both. The statement ("acme-images") trusts the store
// for every registry scope and identity at level strict; the entries of
// override replace its fields (nil: none).
func (c *NotationCA) Policy(t testing.TB, name string, override map[string]any) registriesconf.SignaturePolicy {
	t.Helper()
	dir := t.TempDir()
	store := filepath.Join(dir, "truststore")
	certDir := filepath.Join(store, "x509", "ca", NotationStore)
	if err := os.MkdirAll(certDir, 0o700); err != nil {
		t.Fatal(err)
	}
	pemBytes, err := cryptoutils.MarshalCertificateToPEM(c.root)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(certDir, "root.crt"), pemBytes, 0o600); err != nil {
		t.Fatal(err)
	}
	statement := map[string]any{
		"name":                  "acme-images",
		"registryScopes":        []string{"*"},
		"signatureVerification": map[string]any{"level": "strict"},
		"trustStores":           []string{"ca:" + NotationStore},
		"trustedIdentities":     []string{"*"},
	}
	maps.Copy(statement, override)
	doc, err := json.Marshal(map[string]any{"version": "1.0", "trustPolicies": []any{statement}})
	if err != nil {
		t.Fatal(err)
	}
	policyPath := filepath.Join(dir, "trustpolicy.json")
	if err := os.WriteFile(policyPath, doc, 0o600); err != nil {
		t.Fatal(err)
	}
	return registriesconf.SignaturePolicy{Name: name, Kind: registriesconf.SignatureKindNotation, TrustPolicy: policyPath, TrustStore: store}
}

// Envelope makes a Notation JWS signature of target (its manifest
// descriptor, read from the registry), as `notation sign` does.
func (c *NotationCA) Envelope(t testing.TB, target name.Digest) []byte {
	t.Helper()
	desc, err := remote.Head(target)
	if err != nil {
		t.Fatalf("signtest: head %s: %v", target, err)
	}
	s, err := signer.NewGenericSigner(c.leafKey, []*x509.Certificate{c.leaf, c.root})
	if err != nil {
		t.Fatal(err)
	}
	ociDesc := ocispec.Descriptor{MediaType: string(desc.MediaType), Digest: digest.Digest(desc.Digest.String()), Size: desc.Size}
	sig, _, err := s.Sign(context.Background(), ociDesc, notation.SignerSignOptions{SignatureMediaType: NotationJWS})
	if err != nil {
		t.Fatal(err)
	}
	return sig
}

// Sign pushes a Notation signature of image as a referrer of image.
func (c *NotationCA) Sign(t testing.TB, image name.Digest, opts ...SignOption) {
	t.Helper()
	PushNotation(t, image, c.Envelope(t, signed(image, opts)))
}
