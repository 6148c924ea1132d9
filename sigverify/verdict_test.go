package sigverify

import (
	"bytes"
	"context"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"

	"github.com/argocd-image-resolver/argocd-image-resolver/registriesconf"
)

// newVerifier builds a Verifier over policies, failing the test on error.
func newVerifier(t *testing.T, opts []Option, policies ...registriesconf.SignaturePolicy) *Verifier {
	t.Helper()
	v, err := New(policies, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// verdictCase is one row of the per-kind tables.
type verdictCase struct {
	name string
	// setup pushes what the case needs for image.
	setup func(t *testing.T, image name.Digest)
	// policy is the policy checked (default: the table's first).
	policy     string
	verified   bool
	wantReason []string
	wantSigner string
}

// runVerdicts runs a table against one registry, one fresh image per row.
func runVerdicts(t *testing.T, reg *testRegistry, v *Verifier, defaultPolicy string, cases []verdictCase) {
	t.Helper()
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			image := reg.pushImage(t, "acme/case"+string(rune('a'+i)))
			if tc.setup != nil {
				tc.setup(t, image)
			}
			policy := tc.policy
			if policy == "" {
				policy = defaultPolicy
			}
			r, err := v.Verify(context.Background(), policy, image)
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			t.Logf("verdict %+v", r)
			if r.Verified != tc.verified {
				t.Fatalf("verified = %v, want %v (reason %q)", r.Verified, tc.verified, r.Reason)
			}
			if tc.verified && r.Reason != "" {
				t.Errorf("verified with reason %q", r.Reason)
			}
			if tc.wantSigner != "" && r.Signer != tc.wantSigner {
				t.Errorf("signer = %q, want %q", r.Signer, tc.wantSigner)
			}
			for _, w := range tc.wantReason {
				if !bytes.Contains([]byte(r.Reason), []byte(w)) {
					t.Errorf("reason %q does not contain %q", r.Reason, w)
				}
			}
		})
	}
}
