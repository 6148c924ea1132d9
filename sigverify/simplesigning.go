package sigverify

import (
	"bytes"
	"encoding/json"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// Media type and claim type of cosign's simple-signing payload (the
// "Red Hat simple signing" format cosign signs for the tag scheme).
const (
	simpleSigningMediaType = "application/vnd.dev.cosign.simplesigning.v1+json"
	simpleSigningType      = "cosign container image signature"
)

// simpleSigning is the part of the payload a verdict depends on:
//
//	{"critical": {"identity": {"docker-reference": "ghcr.io/acme/web"},
//	              "image": {"docker-manifest-digest": "sha256:..."},
//	              "type": "cosign container image signature"},
//	 "optional": {...}}
type simpleSigning struct {
	Critical struct {
		Identity struct {
			DockerReference string `json:"docker-reference"`
		} `json:"identity"`
		Image struct {
			DockerManifestDigest string `json:"docker-manifest-digest"`
		} `json:"image"`
		Type string `json:"type"`
	} `json:"critical"`
}

// payloadError is a simple-signing payload that cannot be used; its
// message is ours, never a piece of the payload.
type payloadError struct{ why string }

func (e *payloadError) Error() string { return "the simple-signing payload " + e.why }

// parseSimpleSigning reads a simple-signing payload and returns the image
// digest it signs. The signature over the payload is checked elsewhere;
// this only says what the payload claims.
func parseSimpleSigning(payload []byte) (v1.Hash, error) {
	if len(payload) > maxBlobSize {
		return v1.Hash{}, &payloadError{"is too large"}
	}
	var ss simpleSigning
	dec := json.NewDecoder(bytes.NewReader(payload))
	if err := dec.Decode(&ss); err != nil {
		return v1.Hash{}, &payloadError{"is not valid JSON"}
	}
	if dec.More() {
		return v1.Hash{}, &payloadError{"has data after its JSON object"}
	}
	if ss.Critical.Type != simpleSigningType {
		return v1.Hash{}, &payloadError{"is not of type \"" + simpleSigningType + "\""}
	}
	h, err := v1.NewHash(ss.Critical.Image.DockerManifestDigest)
	if err != nil || h.Algorithm != "sha256" {
		return v1.Hash{}, &payloadError{"does not name an image digest (critical.image.docker-manifest-digest)"}
	}
	return h, nil
}
