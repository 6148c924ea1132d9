package sigverify

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sigstore/sigstore-go/pkg/root"
	"github.com/sigstore/sigstore/pkg/cryptoutils"

	"github.com/argocd-image-resolver/argocd-image-resolver/registriesconf"
	"github.com/argocd-image-resolver/argocd-image-resolver/test/signtest"
)

// TestNewErrors: every policy that cannot be loaded is a *PolicyError
// naming the policy and, for a file, the file.
func TestNewErrors(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, content []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, content, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	vs := signtest.NewSigstore(t)
	caOnly, err := root.NewTrustedRoot(root.TrustedRootMediaType01, vs.FulcioCertificateAuthorities(), nil, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	caOnlyJSON, err := caOnly.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	noCA, err := root.NewTrustedRoot(root.TrustedRootMediaType01, nil, nil, vs.TimestampingAuthorities(), nil)
	if err != nil {
		t.Fatal(err)
	}
	noCAJSON, err := noCA.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	weak, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	weakPEM, err := cryptoutils.MarshalPublicKeyToPEM(weak.Public())
	if err != nil {
		t.Fatal(err)
	}
	keyless := func(name, rootPath string) registriesconf.SignaturePolicy {
		return registriesconf.SignaturePolicy{Name: name, Kind: registriesconf.SignatureKindKeyless, Issuer: testIssuer, Subject: testSubject, TrustedRoot: rootPath}
	}
	key := signtest.NewKey(t)

	for _, tc := range []struct {
		name     string
		policies []registriesconf.SignaturePolicy
		file     string
		want     string
	}{
		{"missing key file", []registriesconf.SignaturePolicy{{Name: "p", Kind: registriesconf.SignatureKindCosignKey, Key: filepath.Join(dir, "absent.pub")}}, filepath.Join(dir, "absent.pub"), "no such file"},
		{"not a PEM key", []registriesconf.SignaturePolicy{{Name: "p", Kind: registriesconf.SignatureKindCosignKey, Key: write("x.pub", []byte("hello"))}}, filepath.Join(dir, "x.pub"), "not a PEM public key"},
		{"weak RSA key", []registriesconf.SignaturePolicy{{Name: "p", Kind: registriesconf.SignatureKindCosignKey, Key: write("weak.pub", weakPEM)}}, filepath.Join(dir, "weak.pub"), "unsupported public key"},
		{"key file too large", []registriesconf.SignaturePolicy{{Name: "p", Kind: registriesconf.SignatureKindCosignKey, Key: write("big.pub", make([]byte, maxKeyFile+1))}}, filepath.Join(dir, "big.pub"), "larger than"},
		{"not a trusted root", []registriesconf.SignaturePolicy{keyless("p", write("bad.json", []byte(`{}`)))}, filepath.Join(dir, "bad.json"), "not a Sigstore trusted root"},
		{"trusted root without log or TSA", []registriesconf.SignaturePolicy{keyless("p", write("ca-only.json", caOnlyJSON))}, filepath.Join(dir, "ca-only.json"), "neither a Rekor log nor a timestamp authority"},
		{"trusted root without CA", []registriesconf.SignaturePolicy{keyless("p", write("no-ca.json", noCAJSON))}, filepath.Join(dir, "no-ca.json"), "no certificate authority"},
		{"unknown kind", []registriesconf.SignaturePolicy{{Name: "p", Kind: "gpg"}}, "", `unknown kind "gpg"`},
		{"defined twice", []registriesconf.SignaturePolicy{key.Policy("p"), key.Policy("p")}, "", "defined twice"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := New(tc.policies)
			var pe *PolicyError
			if !errors.As(err, &pe) {
				t.Fatalf("err = %v, want a PolicyError", err)
			}
			if pe.Policy != "p" || pe.File != tc.file || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v (policy %q, file %q); want file %q and %q", err, pe.Policy, pe.File, tc.file, tc.want)
			}
			if tc.file != "" && !strings.Contains(err.Error(), tc.file) {
				t.Errorf("error %q does not name the file", err)
			}
		})
	}
}

// TestKeyTypes: ECDSA (P-256, P-384), RSA and Ed25519 public keys load.
func TestKeyTypes(t *testing.T) {
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	p256, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	r, _ := rsa.GenerateKey(rand.Reader, 2048)
	ed, _, _ := ed25519.GenerateKey(rand.Reader)
	for name, pub := range map[string]any{"p256": p256.Public(), "p384": p384.Public(), "rsa": r.Public(), "ed25519": ed} {
		pemBytes, err := cryptoutils.MarshalPublicKeyToPEM(pub)
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(t.TempDir(), name+".pub")
		if err := os.WriteFile(path, pemBytes, 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := New([]registriesconf.SignaturePolicy{{Name: name, Kind: registriesconf.SignatureKindCosignKey, Key: path}}); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// TestRegexpsAreAnchored: subject-regexp and issuer-regexp match whole
// values.
func TestRegexpsAreAnchored(t *testing.T) {
	for _, tc := range []struct {
		re, value string
		want      bool
	}{
		{`https://github\.com/acme/.*`, "https://github.com/acme/web/.github/workflows/release.yml@refs/heads/main", true},
		{`https://github\.com/acme/.*`, "https://evil.example/?https://github.com/acme/web", false},
		{`a|b`, "b", true},
		{`a|b`, "ab", false},
	} {
		if got := matchesWhole(tc.re, tc.value); got != tc.want {
			t.Errorf("matchesWhole(%q, %q) = %v", tc.re, tc.value, got)
		}
	}
}
