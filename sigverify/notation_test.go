package sigverify

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/argocd-image-resolver/argocd-image-resolver/registriesconf"
	"github.com/argocd-image-resolver/argocd-image-resolver/test/signtest"
)

func TestNotation(t *testing.T) {
	reg := newTestRegistry(t)
	acme, other := signtest.NewNotationCA(t, "Acme"), signtest.NewNotationCA(t, "Other")
	v := newVerifier(t, nil,
		acme.Policy(t, "ci-notation", nil),
		acme.Policy(t, "ci-notation-identity", map[string]any{
			"trustedIdentities": []string{"x509.subject: C=US, ST=WA, L=Seattle, O=Acme, CN=Someone Else"},
		}),
		acme.Policy(t, "ci-notation-scoped", map[string]any{
			"registryScopes": []string{reg.host + "/elsewhere/web"},
		}),
	)
	otherImage := reg.pushImage(t, "acme/other")
	sign := func(ca *signtest.NotationCA, target func(name.Digest) name.Digest) func(*testing.T, name.Digest) {
		return func(t *testing.T, img name.Digest) { ca.Sign(t, img, signtest.Of(target(img))) }
	}
	self := func(img name.Digest) name.Digest { return img }

	runVerdicts(t, reg, v, "ci-notation", []verdictCase{
		{name: "valid", setup: sign(acme, self), verified: true, wantSigner: acme.Signer()},
		{name: "signed by an untrusted CA", setup: sign(other, self), wantReason: []string{"no valid signature for policy ci-notation: notation: ", "does not contain any trusted certificate"}},
		{name: "untrusted identity", policy: "ci-notation-identity", setup: sign(acme, self), wantReason: []string{"no valid signature for policy ci-notation-identity: notation: ", "does not match the X.509 trusted identities"}},
		{
			name:       "signature of another image",
			setup:      sign(acme, func(name.Digest) name.Digest { return otherImage }),
			wantReason: []string{"the signature is for image " + otherImage.DigestStr()},
		},
		{name: "repository outside the trust policy's scopes", policy: "ci-notation-scoped", setup: sign(acme, self), wantReason: []string{"no statement of trust policy", "covers " + reg.host + "/acme/"}},
		{
			name: "cosign signatures do not count",
			setup: func(t *testing.T, img name.Digest) {
				k := signtest.NewKey(t)
				k.SignTag(t, img)
			},
			wantReason: []string{"no signature found (looked for OCI referrers of type application/vnd.cncf.notary.signature)"},
		},
		{name: "no signature", wantReason: []string{"no valid signature for policy ci-notation: no signature found"}},
	})

	t.Run("registry down", func(t *testing.T) {
		image := reg.pushImage(t, "acme/down")
		acme.Sign(t, image)
		reg.fail(http.StatusInternalServerError, "")
		defer reg.fail(0, "")
		_, err := v.Verify(context.Background(), "ci-notation", image, remote.WithRetryBackoff(remote.Backoff{Duration: time.Millisecond, Factor: 1, Steps: 1}))
		var ce *CheckError
		if !errors.As(err, &ce) {
			t.Fatalf("err = %v, want a CheckError", err)
		}
	})
}

// TestNotationPolicyLevels: trust policies that do not enforce who signed
// are refused when the policy is loaded.
func TestNotationPolicyLevels(t *testing.T) {
	acme := signtest.NewNotationCA(t, "Acme")
	for _, tc := range []struct {
		name      string
		statement map[string]any
		want      string
	}{
		{"audit", map[string]any{"signatureVerification": map[string]any{"level": "audit"}}, `verification level "audit" does not enforce who signed`},
		{"skip", map[string]any{"signatureVerification": map[string]any{"level": "skip"}, "trustStores": []string{}, "trustedIdentities": []string{}}, `level "skip"`},
		{"authenticity logged", map[string]any{"signatureVerification": map[string]any{"level": "strict", "override": map[string]string{"authenticity": "log"}}}, `verification level "custom" does not enforce who signed`},
		{"missing store", map[string]any{"trustStores": []string{"ca:nope"}}, `trust store ca:nope of statement "acme-images"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := New([]registriesconf.SignaturePolicy{acme.Policy(t, "n", tc.statement)})
			var pe *PolicyError
			if !errors.As(err, &pe) || pe.Policy != "n" || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want a PolicyError containing %q", err, tc.want)
			}
		})
	}
	if _, err := New([]registriesconf.SignaturePolicy{acme.Policy(t, "n", map[string]any{"signatureVerification": map[string]any{"level": "permissive"}})}); err != nil {
		t.Fatalf("permissive refused: %v", err)
	}
}
