package sigverify

import (
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// Artifact and media types of signatures stored as OCI referrers.
const (
	// sigstoreBundleType prefixes the artifact type of a Sigstore bundle
	// (cosign v3 writes application/vnd.dev.sigstore.bundle.v0.3+json),
	// and the media type of the layer holding the bundle JSON.
	sigstoreBundleType = "application/vnd.dev.sigstore.bundle"
	// notationSignatureType is the artifact type of a Notation signature.
	notationSignatureType = "application/vnd.cncf.notary.signature"
	// Media types of Notation signature envelopes.
	notationJWS  = "application/jose+json"
	notationCOSE = "application/cose"
)

// referrerKind selects the referrers a policy looks at.
type referrerKind int

const (
	referrersSigstore referrerKind = iota
	referrersNotation
)

func (k referrerKind) matches(desc v1.Descriptor) bool {
	switch k {
	case referrersSigstore:
		return strings.HasPrefix(desc.ArtifactType, sigstoreBundleType)
	case referrersNotation:
		return desc.ArtifactType == notationSignatureType
	}
	return false
}

// layerMatches reports whether a referrer's layer holds the signature.
func (k referrerKind) layerMatches(desc v1.Descriptor) bool {
	switch k {
	case referrersSigstore:
		return strings.HasPrefix(string(desc.MediaType), sigstoreBundleType)
	case referrersNotation:
		return desc.MediaType == notationJWS || desc.MediaType == notationCOSE
	}
	return false
}

// readReferrers lists the referrers of image (the OCI 1.1 referrers API,
// or go-containerregistry's fallback to the referrers tag schema) and
// reads the signatures of kind among them, at most maxSignatures, handing
// each to visit until it returns true. Signatures are read one at a time,
// so a verified one ends the reading. The error is a failure to check;
// problems of one signature are its candidate's.
func readReferrers(image name.Digest, kind referrerKind, opts []remote.Option, visit func(candidate) bool) error {
	idx, err := remote.Referrers(image, opts...)
	if err != nil {
		return err
	}
	im, err := idx.IndexManifest()
	if err != nil {
		return err
	}
	seen := 0
	for _, desc := range im.Manifests {
		if !kind.matches(desc) {
			continue
		}
		if seen == maxSignatures {
			break
		}
		seen++
		c, err := readReferrer(image, kind, desc, opts)
		if err != nil {
			return err
		}
		if visit(c) {
			return nil
		}
	}
	return nil
}

// readReferrer reads one referring manifest and the signature in it.
func readReferrer(image name.Digest, kind referrerKind, desc v1.Descriptor, opts []remote.Option) (candidate, error) {
	c := candidate{format: formatBundle}
	if kind == referrersNotation {
		c.format = formatNotation
	}
	fail := func(err error) (candidate, error) {
		problem, err := asProblem(err)
		c.problem = problem
		return c, err
	}
	m, err := fetchManifest(image.Context(), desc, opts)
	if err != nil {
		return fail(err)
	}
	// The listing came from the registry too: the manifest itself must
	// name the image as its subject.
	if m.Subject == nil || m.Subject.Digest.String() != image.DigestStr() {
		return fail(&contentError{"a referrer does not name this image as its subject"})
	}
	var layer *v1.Descriptor
	for i := range m.Layers {
		if kind.layerMatches(m.Layers[i]) {
			layer = &m.Layers[i]
			break
		}
	}
	if layer == nil {
		return fail(&contentError{"a referrer holds no signature layer of a known media type"})
	}
	b, err := readBlob(image.Context(), *layer, opts)
	if err != nil {
		return fail(err)
	}
	if kind == referrersNotation {
		c.envelope, c.envelopeMediaType = b, string(layer.MediaType)
	} else {
		c.bundle = b
	}
	return c, nil
}
