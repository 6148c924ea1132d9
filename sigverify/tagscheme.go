package sigverify

import (
	"errors"
	"net/http"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
)

// cosignTag is where cosign's tag scheme keeps the signatures of image:
// <repo>:sha256-<hex>.sig.
func cosignTag(image name.Digest) name.Tag {
	return image.Context().Tag(strings.Replace(image.DigestStr(), ":", "-", 1) + ".sig")
}

// cosignTagName is the tag as reasons show it.
func cosignTagName(image name.Digest) string {
	return cosignTag(image).TagStr()
}

// readCosignTag reads the simple-signing signatures of image from its
// cosign signature tag: an image whose layers are simple-signing payloads,
// with the signature (and certificate, chain, Rekor bundle, RFC 3161
// timestamp) in each layer's annotations. Each is handed to visit until
// it returns true; at most maxSignatures are read. A missing tag is no
// signature, not an error.
func readCosignTag(image name.Digest, opts []remote.Option, visit func(candidate) bool) error {
	tag := cosignTag(image)
	head, err := remote.Head(tag, opts...)
	if err != nil {
		var te *transport.Error
		if errors.As(err, &te) && te.StatusCode == http.StatusNotFound {
			return nil
		}
		return err
	}
	m, err := fetchManifest(image.Context(), *head, opts)
	if err != nil {
		problem, err := asProblem(err)
		if err != nil {
			return err
		}
		visit(candidate{format: formatSimpleSigning, problem: problem})
		return nil
	}
	seen := 0
	for _, layer := range m.Layers {
		if layer.MediaType != simpleSigningMediaType {
			continue
		}
		if seen == maxSignatures {
			break
		}
		seen++
		c := candidate{format: formatSimpleSigning, annotations: layer.Annotations}
		c.payload, err = readBlob(image.Context(), layer, opts)
		if err != nil {
			if c.problem, err = asProblem(err); err != nil {
				return err
			}
		}
		if visit(c) {
			return nil
		}
	}
	return nil
}
