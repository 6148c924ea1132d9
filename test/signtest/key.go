package signtest

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/secure-systems-lab/go-securesystemslib/dsse"
	protobundle "github.com/sigstore/protobuf-specs/gen/pb-go/bundle/v1"
	protocommon "github.com/sigstore/protobuf-specs/gen/pb-go/common/v1"
	protodsse "github.com/sigstore/protobuf-specs/gen/pb-go/dsse"
	"github.com/sigstore/sigstore/pkg/cryptoutils"
	"github.com/sigstore/sigstore/pkg/signature"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/argocd-image-resolver/argocd-image-resolver/registriesconf"
)

// Key is a cosign ECDSA P-256 key pair; its public half is a PEM file
// under the test's temporary directory.
type Key struct {
	signer  signature.SignerVerifier
	pubPEM  []byte
	pubPath string
}

// NewKey generates a key pair and writes the public key file.
func NewKey(t testing.TB) *Key {
	t.Helper()
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	sv, err := signature.LoadECDSASignerVerifier(priv, crypto.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := cryptoutils.MarshalPublicKeyToPEM(priv.Public())
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "cosign.pub")
	if err := os.WriteFile(path, pub, 0o600); err != nil {
		t.Fatal(err)
	}
	return &Key{signer: sv, pubPEM: pub, pubPath: path}
}

// PublicKeyPEM is the public key, PEM-encoded.
func (k *Key) PublicKeyPEM() []byte { return bytes.Clone(k.pubPEM) }

// PublicKeyFile is the path of the public key file.
func (k *Key) PublicKeyFile() string { return k.pubPath }

// Policy is a cosign-key policy called name trusting this key.
func (k *Key) Policy(name string) registriesconf.SignaturePolicy {
	return registriesconf.SignaturePolicy{Name: name, Kind: registriesconf.SignatureKindCosignKey, Key: k.pubPath}
}

// SignPayload signs payload as `cosign sign --key --tlog-upload=false`
// does for the tag scheme.
func (k *Key) SignPayload(t testing.TB, payload []byte) TagSignature {
	t.Helper()
	sig, err := k.signer.SignMessage(bytes.NewReader(payload))
	if err != nil {
		t.Fatal(err)
	}
	return TagSignature{Payload: payload, Annotations: map[string]string{AnnotationSignature: base64.StdEncoding.EncodeToString(sig)}}
}

// Bundle signs an in-toto statement into a DSSE envelope and wraps it in
// a v0.3 bundle with a public key hint, as cosign v3 does with --key and
// without a log upload.
func (k *Key) Bundle(t testing.TB, statement []byte) []byte {
	t.Helper()
	sig, err := k.signer.SignMessage(bytes.NewReader(dsse.PAE(InTotoPayloadType, statement)))
	if err != nil {
		t.Fatal(err)
	}
	b := &protobundle.Bundle{
		MediaType: BundleMediaType,
		VerificationMaterial: &protobundle.VerificationMaterial{
			Content: &protobundle.VerificationMaterial_PublicKey{PublicKey: &protocommon.PublicKeyIdentifier{Hint: "test-key"}},
		},
		Content: &protobundle.Bundle_DsseEnvelope{DsseEnvelope: &protodsse.Envelope{
			Payload:     statement,
			PayloadType: InTotoPayloadType,
			Signatures:  []*protodsse.Signature{{Sig: sig}},
		}},
	}
	out, err := protojson.Marshal(b)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// SignTag pushes a signature of image in cosign's tag scheme, as its
// cosign signature tag.
func (k *Key) SignTag(t testing.TB, image name.Digest, opts ...SignOption) {
	t.Helper()
	PushTag(t, image, k.SignPayload(t, SimpleSigningPayload(signed(image, opts))))
}

// SignBundle pushes a bundle signing image as a referrer of image.
func (k *Key) SignBundle(t testing.TB, image name.Digest, opts ...SignOption) {
	t.Helper()
	PushBundle(t, image, k.Bundle(t, Statement(signed(image, opts), SignPredicate)))
}
