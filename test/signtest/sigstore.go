package signtest

import (
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	protobundle "github.com/sigstore/protobuf-specs/gen/pb-go/bundle/v1"
	protocommon "github.com/sigstore/protobuf-specs/gen/pb-go/common/v1"
	protodsse "github.com/sigstore/protobuf-specs/gen/pb-go/dsse"
	protorekor "github.com/sigstore/protobuf-specs/gen/pb-go/rekor/v1"
	"github.com/sigstore/sigstore-go/pkg/root"
	"github.com/sigstore/sigstore-go/pkg/testing/ca"
	"github.com/sigstore/sigstore-go/pkg/tlog"
	"github.com/sigstore/sigstore-go/pkg/verify"
	"github.com/sigstore/sigstore/pkg/cryptoutils"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/argocd-image-resolver/argocd-image-resolver/registriesconf"
)

// Sigstore is sigstore-go's in-process Sigstore (Fulcio CA, Rekor log,
// timestamp authority) with its trusted root written as a file under the
// test's temporary directory. Two Sigstores trust nothing of each other.
type Sigstore struct {
	*ca.VirtualSigstore
	rootPath string
}

// NewSigstore starts a virtual Sigstore and writes its trusted root.
func NewSigstore(t testing.TB) *Sigstore {
	t.Helper()
	vs, err := ca.NewVirtualSigstore()
	if err != nil {
		t.Fatal(err)
	}
	// The virtual log's ID is the hex of its key's hash; a trusted root
	// holds the raw bytes.
	logs := map[string]*root.TransparencyLog{}
	for id, l := range vs.RekorLogs() {
		raw, err := hex.DecodeString(id)
		if err != nil {
			t.Fatal(err)
		}
		c := *l
		c.ID = raw
		logs[id] = &c
	}
	// No CT log: the virtual CA embeds no SCTs in its certificates.
	tr, err := root.NewTrustedRoot(root.TrustedRootMediaType01, vs.FulcioCertificateAuthorities(), nil, vs.TimestampingAuthorities(), logs)
	if err != nil {
		t.Fatal(err)
	}
	data, err := tr.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "trusted_root.json")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return &Sigstore{VirtualSigstore: vs, rootPath: path}
}

// TrustedRootFile is the path of the trusted root file.
func (s *Sigstore) TrustedRootFile() string { return s.rootPath }

// Policy is a keyless policy called name trusting this Sigstore for
// certificates naming issuer and subject (exactly; empty leaves them to
// the policy's regexps, which the caller sets).
func (s *Sigstore) Policy(name, issuer, subject string) registriesconf.SignaturePolicy {
	return registriesconf.SignaturePolicy{Name: name, Kind: registriesconf.SignatureKindKeyless, Issuer: issuer, Subject: subject, TrustedRoot: s.rootPath}
}

// material is what a signature of the virtual Sigstore is made of: the
// signing certificate, the signature, the Rekor v1 entry with its signed
// entry timestamp (as the log signs it) and the RFC 3161 timestamps.
type material struct {
	cert       *x509.Certificate
	content    verify.SignatureContent
	entry      *tlog.Entry
	set        []byte
	timestamps [][]byte
}

func (s *Sigstore) material(t testing.TB, entity *ca.TestEntity) material {
	t.Helper()
	vc, err := entity.VerificationContent()
	if err != nil {
		t.Fatal(err)
	}
	content, err := entity.SignatureContent()
	if err != nil {
		t.Fatal(err)
	}
	entries, err := entity.TlogEntries()
	if err != nil {
		t.Fatal(err)
	}
	timestamps, err := entity.Timestamps()
	if err != nil {
		t.Fatal(err)
	}
	tle := entries[0].TransparencyLogEntry()
	set, err := s.RekorSignPayload(tlog.RekorPayload{
		Body:           base64.StdEncoding.EncodeToString(tle.CanonicalizedBody),
		IntegratedTime: tle.IntegratedTime,
		LogIndex:       tle.LogIndex,
		LogID:          hex.EncodeToString(tle.LogId.KeyId),
	})
	if err != nil {
		t.Fatal(err)
	}
	return material{cert: vc.Certificate(), content: content, entry: entries[0], set: set, timestamps: timestamps}
}

// Bundle signs statement keylessly, for a certificate naming issuer and
// subject, as cosign v3 does for an image: a DSSE in-toto statement, a
// Fulcio certificate, a Rekor entry with inclusion proof and promise, and
// an RFC 3161 timestamp, in a v0.3 bundle.
func (s *Sigstore) Bundle(t testing.TB, issuer, subject string, statement []byte) []byte {
	t.Helper()
	entity, err := s.AttestAtTime(subject, issuer, statement, time.Now().Add(5*time.Minute), true)
	if err != nil {
		t.Fatal(err)
	}
	m := s.material(t, entity)
	env := m.content.EnvelopeContent().RawEnvelope()
	payload, err := env.DecodeB64Payload()
	if err != nil {
		t.Fatal(err)
	}
	sig, err := base64.StdEncoding.DecodeString(env.Signatures[0].Sig)
	if err != nil {
		t.Fatal(err)
	}
	tle := proto.Clone(m.entry.TransparencyLogEntry()).(*protorekor.TransparencyLogEntry)
	tle.KindVersion = &protorekor.KindVersion{Kind: "dsse", Version: "0.0.1"}
	tle.InclusionPromise = &protorekor.InclusionPromise{SignedEntryTimestamp: m.set}
	var tsas []*protocommon.RFC3161SignedTimestamp
	for _, ts := range m.timestamps {
		tsas = append(tsas, &protocommon.RFC3161SignedTimestamp{SignedTimestamp: ts})
	}
	b := &protobundle.Bundle{
		MediaType: BundleMediaType,
		VerificationMaterial: &protobundle.VerificationMaterial{
			Content:                   &protobundle.VerificationMaterial_Certificate{Certificate: &protocommon.X509Certificate{RawBytes: m.cert.Raw}},
			TlogEntries:               []*protorekor.TransparencyLogEntry{tle},
			TimestampVerificationData: &protobundle.TimestampVerificationData{Rfc3161Timestamps: tsas},
		},
		Content: &protobundle.Bundle_DsseEnvelope{DsseEnvelope: &protodsse.Envelope{
			Payload:     payload,
			PayloadType: env.PayloadType,
			Signatures:  []*protodsse.Signature{{Sig: sig}},
		}},
	}
	out, err := protojson.Marshal(b)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// SignPayload signs payload keylessly, for a certificate naming issuer and
// subject, as cosign (before v3) did for the tag scheme: a hashedrekord
// entry in Rekor, its signed entry timestamp in the bundle annotation, the
// certificate and chain and an RFC 3161 timestamp in annotations.
func (s *Sigstore) SignPayload(t testing.TB, issuer, subject string, payload []byte) TagSignature {
	t.Helper()
	entity, err := s.SignAtTime(subject, issuer, payload, time.Now().Add(5*time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	m := s.material(t, entity)
	tle := m.entry.TransparencyLogEntry()
	rekorBundle, err := json.Marshal(map[string]any{
		"SignedEntryTimestamp": m.set,
		"Payload": map[string]any{
			"body":           base64.StdEncoding.EncodeToString(tle.CanonicalizedBody),
			"integratedTime": tle.IntegratedTime,
			"logIndex":       tle.LogIndex,
			"logID":          hex.EncodeToString(tle.LogId.KeyId),
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	certPEM, err := cryptoutils.MarshalCertificateToPEM(m.cert)
	if err != nil {
		t.Fatal(err)
	}
	fca := s.FulcioCertificateAuthorities()[0].(*root.FulcioCertificateAuthority)
	chainPEM, err := cryptoutils.MarshalCertificatesToPEM(append(fca.Intermediates, fca.Root))
	if err != nil {
		t.Fatal(err)
	}
	timestamp, err := json.Marshal(map[string][]byte{"SignedRFC3161Timestamp": m.timestamps[0]})
	if err != nil {
		t.Fatal(err)
	}
	return TagSignature{Payload: payload, Annotations: map[string]string{
		AnnotationSignature:   base64.StdEncoding.EncodeToString(m.content.Signature()),
		AnnotationCertificate: string(certPEM),
		AnnotationChain:       string(chainPEM),
		AnnotationRekorBundle: string(rekorBundle),
		AnnotationTimestamp:   string(timestamp),
	}}
}

// SignTag pushes a keyless signature of image, for a certificate naming
// issuer and subject, in cosign's tag scheme.
func (s *Sigstore) SignTag(t testing.TB, image name.Digest, issuer, subject string, opts ...SignOption) {
	t.Helper()
	PushTag(t, image, s.SignPayload(t, issuer, subject, SimpleSigningPayload(signed(image, opts))))
}

// SignBundle pushes a keyless bundle signing image, for a certificate
// naming issuer and subject, as a referrer of image.
func (s *Sigstore) SignBundle(t testing.TB, image name.Digest, issuer, subject string, opts ...SignOption) {
	t.Helper()
	PushBundle(t, image, s.Bundle(t, issuer, subject, Statement(signed(image, opts), SignPredicate)))
}
