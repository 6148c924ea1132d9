package sigverify

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
)

// Bounds on what is read from a registry for one digest. Registries are
// untrusted: a signature manifest or blob larger than these is skipped,
// and only the first maxSignatures signatures of each place are looked at.
const (
	maxBlobSize     = 4 << 20
	maxManifestSize = 4 << 20
	maxSignatures   = 16
)

// Signature formats a candidate holds.
const (
	formatBundle        = "sigstore bundle"
	formatSimpleSigning = "cosign simple signing"
	formatNotation      = "notation"
)

// candidate is one signature found for a digest, read and bounded, not yet
// verified. problem is set when it could not be read into something to
// verify (too large, missing blob...); it is then a reason, not an error.
type candidate struct {
	format  string
	problem string

	// bundle: the Sigstore bundle JSON.
	bundle []byte
	// simple signing: the payload and the layer's annotations.
	payload     []byte
	annotations map[string]string
	// notation: the signature envelope and its media type.
	envelope          []byte
	envelopeMediaType string
}

// contentError is a registry answer that cannot be used as a signature:
// it makes the candidate fail, it is not a failure to check.
type contentError struct{ why string }

func (e *contentError) Error() string { return e.why }

// asProblem splits a fetch error: content problems and missing objects (a
// signature whose manifest or blob is gone) become a candidate's problem;
// anything else (network, 5xx, auth) is returned as a failure to check.
func asProblem(err error) (string, error) {
	var ce *contentError
	if errors.As(err, &ce) {
		return ce.why, nil
	}
	var te *transport.Error
	if errors.As(err, &te) && te.StatusCode == http.StatusNotFound {
		return "a signature manifest or blob is missing from the registry (HTTP 404)", nil
	}
	return "", err
}

// fetchManifest reads the manifest at digest d of repo, whose size the
// referring descriptor declares. go-containerregistry checks the content
// against the digest; the declared size is checked first so that a
// hostile listing cannot make us read a large manifest.
func fetchManifest(repo name.Repository, desc v1.Descriptor, opts []remote.Option) (*v1.Manifest, error) {
	if desc.Size <= 0 || desc.Size > maxManifestSize {
		return nil, &contentError{fmt.Sprintf("a signature manifest declares %d bytes (at most %d are read)", desc.Size, maxManifestSize)}
	}
	got, err := remote.Get(repo.Digest(desc.Digest.String()), opts...)
	if err != nil {
		return nil, err
	}
	if int64(len(got.Manifest)) > maxManifestSize {
		return nil, &contentError{"a signature manifest is too large"}
	}
	m, err := v1.ParseManifest(bytes.NewReader(got.Manifest))
	if err != nil {
		return nil, &contentError{"a signature manifest is not an OCI image manifest"}
	}
	return m, nil
}

// readBlob reads the blob desc of repo, at most maxBlobSize bytes, checked
// against its digest and declared size.
func readBlob(repo name.Repository, desc v1.Descriptor, opts []remote.Option) ([]byte, error) {
	if desc.Size <= 0 || desc.Size > maxBlobSize {
		return nil, &contentError{fmt.Sprintf("a signature blob declares %d bytes (at most %d are read)", desc.Size, maxBlobSize)}
	}
	layer, err := remote.Layer(repo.Digest(desc.Digest.String()), opts...)
	if err != nil {
		return nil, err
	}
	rc, err := layer.Compressed()
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	// Reading to the end makes go-containerregistry compare the digest.
	b, err := io.ReadAll(io.LimitReader(rc, desc.Size+1))
	if err != nil {
		if isNetError(err) {
			return nil, err
		}
		return nil, &contentError{"a signature blob does not match its digest"}
	}
	if int64(len(b)) != desc.Size {
		return nil, &contentError{"a signature blob does not have its declared size"}
	}
	return b, nil
}
