// Package signtest signs images for tests as cosign and Notation do, and
// pushes the signatures with go-containerregistry's remote package into
// the registry the image reference names (a registrytest registry on
// loopback). It is imported by _test.go files only.
//
// Three signers stand for the three kinds of signature policy:
//
//   - Key: a cosign key pair (cosign sign --key, without a log upload),
//     signing in cosign's tag scheme (<repo>:sha256-<hex>.sig) or as a
//     Sigstore bundle referring to the image (cosign v3);
//   - Sigstore: sigstore-go's virtual Sigstore (Fulcio CA, Rekor log,
//     timestamp authority), signing keylessly for any issuer and subject;
//   - NotationCA: a root CA and code-signing leaf, signing as `notation
//     sign` does.
//
// Each writes the files of its policy (public key, trusted root, trust
// policy and trust store) under the test's temporary directory and
// returns the registries.conf policy naming them.
//
// Besides valid signatures, the option Of makes the Sign methods push
// under one image a signature of another (valid, but not for this image),
// and the lower-level methods (SignPayload, Bundle, Envelope) with
// PushTag, PushBundle and PushNotation let a test push anything else:
// a payload swapped after signing, a hand-made bundle, several signatures.
package signtest

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Media and artifact types of the signatures pushed.
const (
	// BundleMediaType is the artifact type of a Sigstore bundle referring
	// to an image, and the media type of the layer holding it, as cosign
	// v3 pushes them.
	BundleMediaType = "application/vnd.dev.sigstore.bundle.v0.3+json"
	// SimpleSigningMediaType is the media type of the layers of a cosign
	// signature tag.
	SimpleSigningMediaType = "application/vnd.dev.cosign.simplesigning.v1+json"
	// NotationArtifactType is the artifact type of a Notation signature.
	NotationArtifactType = "application/vnd.cncf.notary.signature"
	// NotationJWS is the media type of a Notation JWS envelope.
	NotationJWS = "application/jose+json"
	// InTotoPayloadType is the DSSE payload type of an in-toto statement.
	InTotoPayloadType = "application/vnd.in-toto+json"
)

// Predicate types of in-toto statements.
const (
	// SignPredicate is the predicate of the statement cosign v3 signs for
	// `cosign sign`.
	SignPredicate = "https://sigstore.dev/cosign/sign/v1"
	// SLSAProvenancePredicate is an attestation's, not a signature's.
	SLSAProvenancePredicate = "https://slsa.dev/provenance/v1"
)

// Layer annotations of cosign's tag scheme.
const (
	AnnotationSignature   = "dev.cosignproject.cosign/signature"
	AnnotationCertificate = "dev.sigstore.cosign/certificate"
	AnnotationChain       = "dev.sigstore.cosign/chain"
	AnnotationRekorBundle = "dev.sigstore.cosign/bundle"
	AnnotationTimestamp   = "dev.sigstore.cosign/rfc3161timestamp"
)

// SimpleSigningPayload is the payload cosign signs for image in the tag
// scheme.
func SimpleSigningPayload(image name.Digest) []byte {
	b, _ := json.Marshal(map[string]any{
		"critical": map[string]any{
			"identity": map[string]string{"docker-reference": image.Context().Name()},
			"image":    map[string]string{"docker-manifest-digest": image.DigestStr()},
			"type":     "cosign container image signature",
		},
		"optional": nil,
	})
	return b
}

// Statement is the in-toto statement of predicateType about image, as
// cosign v3 signs it (SignPredicate for a signature).
func Statement(image name.Digest, predicateType string) []byte {
	b, _ := json.Marshal(map[string]any{
		"_type":         "https://in-toto.io/Statement/v1",
		"subject":       []map[string]any{{"name": image.Context().Name(), "digest": map[string]string{"sha256": strings.TrimPrefix(image.DigestStr(), "sha256:")}}},
		"predicateType": predicateType,
		"predicate":     map[string]any{},
	})
	return b
}

// SignOption changes what a Sign method signs.
type SignOption func(*signSpec)

type signSpec struct {
	of *name.Digest
}

// Of makes a Sign method sign other (its simple-signing payload, in-toto
// statement or manifest descriptor) and push that signature under the
// image it is given: a signature moved from another image.
func Of(other name.Digest) SignOption {
	return func(s *signSpec) { s.of = &other }
}

// signed is the image a Sign method signs for image under opts.
func signed(image name.Digest, opts []SignOption) name.Digest {
	var spec signSpec
	for _, o := range opts {
		o(&spec)
	}
	if spec.of != nil {
		return *spec.of
	}
	return image
}

// TagSignature is one layer of a cosign signature tag: the signed payload
// and the annotations carrying the signature (and certificate, chain,
// Rekor bundle and timestamp for keyless signatures). A test may change
// either before pushing it.
type TagSignature struct {
	Payload     []byte
	Annotations map[string]string
}

// cosignTag is where cosign's tag scheme keeps the signatures of image:
// <repo>:sha256-<hex>.sig.
func cosignTag(image name.Digest) name.Tag {
	return image.Context().Tag(strings.Replace(image.DigestStr(), ":", "-", 1) + ".sig")
}

// PushTag pushes image's cosign signature tag holding sigs, one
// simple-signing layer each, replacing the tag's earlier content.
func PushTag(t testing.TB, image name.Digest, sigs ...TagSignature) {
	t.Helper()
	img := mutate.ConfigMediaType(mutate.MediaType(empty.Image, types.OCIManifestSchema1), types.OCIConfigJSON)
	for _, s := range sigs {
		var err error
		img, err = mutate.Append(img, mutate.Addendum{
			Layer:       static.NewLayer(s.Payload, SimpleSigningMediaType),
			Annotations: s.Annotations,
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := remote.Write(cosignTag(image), img); err != nil {
		t.Fatalf("signtest: push %s: %v", cosignTag(image), err)
	}
}

// PushBundle pushes a Sigstore bundle as a referrer of image.
func PushBundle(t testing.TB, image name.Digest, bundle []byte) {
	t.Helper()
	PushReferrer(t, image, BundleMediaType, BundleMediaType, bundle)
}

// PushNotation pushes a Notation JWS envelope as a referrer of image.
func PushNotation(t testing.TB, image name.Digest, envelope []byte) {
	t.Helper()
	PushReferrer(t, image, NotationArtifactType, NotationJWS, envelope)
}

// rawManifest is a manifest pushed as it is.
type rawManifest struct {
	b  []byte
	mt types.MediaType
}

func (m rawManifest) RawManifest() ([]byte, error)        { return m.b, nil }
func (m rawManifest) MediaType() (types.MediaType, error) { return m.mt, nil }

// PushReferrer pushes an OCI 1.1 artifact whose subject is image and whose
// one layer is data, as cosign v3 and Notation push signatures. On a
// registry without the referrers API, remote maintains the referrers tag
// schema. go-containerregistry's in-memory registry reports a referrer's
// config media type as its artifact type, so the config carries it too.
func PushReferrer(t testing.TB, image name.Digest, artifactType, layerMediaType string, data []byte) {
	t.Helper()
	subject, err := remote.Head(image)
	if err != nil {
		t.Fatalf("signtest: head %s: %v", image, err)
	}
	repo := image.Context()
	config := static.NewLayer([]byte("{}"), types.MediaType(artifactType))
	layer := static.NewLayer(data, types.MediaType(layerMediaType))
	for _, l := range []v1.Layer{config, layer} {
		if err := remote.WriteLayer(repo, l); err != nil {
			t.Fatal(err)
		}
	}
	desc := func(l v1.Layer) v1.Descriptor {
		d, _ := l.Digest()
		s, _ := l.Size()
		mt, _ := l.MediaType()
		return v1.Descriptor{MediaType: mt, Digest: d, Size: s}
	}
	m := v1.Manifest{
		SchemaVersion: 2,
		MediaType:     types.OCIManifestSchema1,
		ArtifactType:  artifactType,
		Config:        desc(config),
		Layers:        []v1.Descriptor{desc(layer)},
		Subject:       &v1.Descriptor{MediaType: subject.MediaType, Digest: subject.Digest, Size: subject.Size},
	}
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	h, _, err := v1.SHA256(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Put(repo.Digest(h.String()), rawManifest{b: b, mt: types.OCIManifestSchema1}); err != nil {
		t.Fatalf("signtest: push a referrer of %s: %v", image, err)
	}
}
