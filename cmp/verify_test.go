package cmp

import (
	"context"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"sigs.k8s.io/yaml"

	"github.com/argocd-image-resolver/argocd-image-resolver/registriesconf"
	"github.com/argocd-image-resolver/argocd-image-resolver/resolve"
	"github.com/argocd-image-resolver/argocd-image-resolver/test/registrytest"
	"github.com/argocd-image-resolver/argocd-image-resolver/test/signtest"
)

// Identity the keyless policies of these tests trust.
const (
	verifyIssuer  = "https://token.actions.githubusercontent.com"
	verifySubject = "release@acme.example"
)

// signatureKind is one kind of signature policy: the policies
// registries.conf defines for it (the first is the one the Application
// names), a valid way of signing, and the ways of signing 1.6.3 that the
// policy refuses.
type signatureKind struct {
	policies []registriesconf.SignaturePolicy
	sign     func(t *testing.T, image name.Digest)
	refused  []refusedSignature
}

// refusedSignature signs image (1.6.3) so that the policy refuses it
// for reason; other is another image of the registry. A nil sign leaves
// 1.6.3 unsigned.
type refusedSignature struct {
	name   string
	sign   func(t *testing.T, image, other name.Digest)
	reason []string
}

func cosignKeyKind(t *testing.T) signatureKind {
	key, other := signtest.NewKey(t), signtest.NewKey(t)
	return signatureKind{
		// The wrong key is trusted too, by a policy the Application
		// does not name.
		policies: []registriesconf.SignaturePolicy{key.Policy("ci-key"), other.Policy("ci-key-legacy")},
		sign:     func(t *testing.T, image name.Digest) { key.SignTag(t, image) },
		refused: []refusedSignature{
			{
				name:   "wrong key",
				sign:   func(t *testing.T, image, _ name.Digest) { other.SignTag(t, image) },
				reason: []string{"the signature does not verify with key"},
			},
			{
				name:   "bundle with the wrong key",
				sign:   func(t *testing.T, image, _ name.Digest) { other.SignBundle(t, image) },
				reason: []string{"the signature does not verify with key"},
			},
			{
				name:   "signature of another image",
				sign:   func(t *testing.T, image, otherImage name.Digest) { key.SignTag(t, image, signtest.Of(otherImage)) },
				reason: []string{"the signature is for image sha256:"},
			},
			{
				name: "payload swapped after signing",
				sign: func(t *testing.T, image, otherImage name.Digest) {
					s := key.SignPayload(t, signtest.SimpleSigningPayload(otherImage))
					s.Payload = signtest.SimpleSigningPayload(image)
					signtest.PushTag(t, image, s)
				},
				reason: []string{"the signature does not verify with key"},
			},
		},
	}
}

func keylessKind(t *testing.T) signatureKind {
	vs, untrusted := signtest.NewSigstore(t), signtest.NewSigstore(t)
	return signatureKind{
		policies: []registriesconf.SignaturePolicy{
			vs.Policy("ci-keyless", verifyIssuer, verifySubject),
			vs.Policy("ci-keyless-nightly", verifyIssuer, "nightly@acme.example"),
		},
		sign: func(t *testing.T, image name.Digest) { vs.SignBundle(t, image, verifyIssuer, verifySubject) },
		refused: []refusedSignature{
			{
				name: "wrong issuer",
				sign: func(t *testing.T, image, _ name.Digest) {
					vs.SignBundle(t, image, "https://evil.example", verifySubject)
				},
				reason: []string{`certificate issuer "https://evil.example" does not match "` + verifyIssuer + `"`},
			},
			{
				name: "subject of another policy",
				sign: func(t *testing.T, image, _ name.Digest) {
					vs.SignBundle(t, image, verifyIssuer, "nightly@acme.example")
				},
				reason: []string{`certificate subject "nightly@acme.example" does not match "` + verifySubject + `"`},
			},
			{
				name:   "wrong subject",
				sign:   func(t *testing.T, image, _ name.Digest) { vs.SignTag(t, image, verifyIssuer, "mallory@evil.example") },
				reason: []string{`certificate subject "mallory@evil.example" does not match "` + verifySubject + `"`},
			},
			{
				name:   "untrusted Sigstore",
				sign:   func(t *testing.T, image, _ name.Digest) { untrusted.SignBundle(t, image, verifyIssuer, verifySubject) },
				reason: []string{"the signature does not verify against the trusted root " + vs.TrustedRootFile()},
			},
			{
				name: "statement of another image",
				sign: func(t *testing.T, image, otherImage name.Digest) {
					vs.SignBundle(t, image, verifyIssuer, verifySubject, signtest.Of(otherImage))
				},
				reason: []string{"the signed statement names other images"},
			},
		},
	}
}

func notationKind(t *testing.T) signatureKind {
	acme, other := signtest.NewNotationCA(t, "Acme"), signtest.NewNotationCA(t, "Other")
	dev := acme.Leaf(t, "Acme Dev Signing")
	return signatureKind{
		// The dev leaf is trusted by ci-notation-any, not by the policy
		// the Application names.
		policies: []registriesconf.SignaturePolicy{
			acme.Policy(t, "ci-notation", map[string]any{
				"trustedIdentities": []string{"x509.subject: C=US, ST=WA, L=Seattle, O=Acme, CN=Acme Release Signing"},
			}),
			acme.Policy(t, "ci-notation-any", nil),
		},
		sign: func(t *testing.T, image name.Digest) { acme.Sign(t, image) },
		refused: []refusedSignature{
			{
				name:   "untrusted CA",
				sign:   func(t *testing.T, image, _ name.Digest) { other.Sign(t, image) },
				reason: []string{"does not contain any trusted certificate"},
			},
			{
				name:   "wrong identity",
				sign:   func(t *testing.T, image, _ name.Digest) { dev.Sign(t, image) },
				reason: []string{"does not match the X.509 trusted identities"},
			},
			{
				name:   "signature of another image",
				sign:   func(t *testing.T, image, otherImage name.Digest) { acme.Sign(t, image, signtest.Of(otherImage)) },
				reason: []string{"the signature is for image sha256:"},
			},
		},
	}
}

// verifySetup is one case's registry (acme/web 1.6.0 and 1.6.3, and
// acme/other) and server, whose resolver reads registries.conf with
// policies and records what it resolves.
type verifySetup struct {
	reg          *testRegistry
	h            *harness
	v160, v163   name.Digest
	other        name.Digest
	mu           sync.Mutex
	results      []resolve.Result
	resolveCalls int
}

func newVerifySetup(t *testing.T, policies []registriesconf.SignaturePolicy) *verifySetup {
	t.Helper()
	s := &verifySetup{reg: newTestRegistry(t)}
	s.v160 = pushDigest(t, s.reg, "acme/web", "1.6.0")
	s.v163 = pushDigest(t, s.reg, "acme/web", "1.6.3")
	s.other = pushDigest(t, s.reg, "acme/other", "1.0.0")
	conf, err := yaml.Marshal(map[string]any{"signature-policies": policies})
	if err != nil {
		t.Fatal(err)
	}
	rc, err := resolve.ParseRegistriesConfig(conf)
	if err != nil {
		t.Fatalf("registries.conf:\n%s\n%v", conf, err)
	}
	s.h = startServerSetup(t, s.reg, serverSetup{resolver: []resolve.Option{resolve.WithRegistriesConfig(rc)}},
		WithRecorder(recorderFunc(func(_ App, _ []resolve.Spec, r []resolve.Result) {
			s.mu.Lock()
			defer s.mu.Unlock()
			s.resolveCalls++
			s.results = r
		})))
	return s
}

// pushDigest pushes a random image to repo:tag and returns its digest
// reference.
func pushDigest(t *testing.T, reg *testRegistry, repo, tag string) name.Digest {
	t.Helper()
	h := registrytest.Push(t, reg.host+"/"+repo+":"+tag)
	d, err := name.NewDigest(reg.host + "/" + repo + "@" + h.String())
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// render renders the web Application with web.verify: policy.
func (s *verifySetup) render(t *testing.T, policy string) (string, error) {
	t.Helper()
	resp, err := s.h.generate(context.Background(), t, "apps/web", gateParams(t, s.reg, map[string]string{"web.verify": policy}))
	if err != nil {
		return "", err
	}
	return manifestsText(resp), nil
}

// result is what the recorder saw of the last render's one image.
func (s *verifySetup) result(t *testing.T) resolve.Result {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.resolveCalls == 0 || len(s.results) != 1 {
		t.Fatalf("recorder called %d times, last with %d results; want 1 result", s.resolveCalls, len(s.results))
	}
	return s.results[0]
}

// TestVerifyThroughTheSocket: with `web.verify: <policy>`, a render
// through the CMP socket deploys the newest tag whose digest is signed
// for the policy, for every kind of policy: a 1.6.3 the policy refuses is
// held back (the recorder sees why) and 1.6.0 is rendered; with nothing
// signed, or a policy registries.conf does not define, the render fails
// saying why.
func TestVerifyThroughTheSocket(t *testing.T) {
	for _, k := range []struct {
		name string
		new  func(*testing.T) signatureKind
	}{
		{registriesconf.SignatureKindCosignKey, cosignKeyKind},
		{registriesconf.SignatureKindKeyless, keylessKind},
		{registriesconf.SignatureKindNotation, notationKind},
	} {
		t.Run(k.name, func(t *testing.T) {
			kind := k.new(t)
			policy := kind.policies[0].Name

			t.Run("newest signed", func(t *testing.T) {
				s := newVerifySetup(t, kind.policies)
				kind.sign(t, s.v160)
				kind.sign(t, s.v163)
				text, err := s.render(t, policy)
				if err != nil {
					t.Fatal(err)
				}
				mustContain(t, text, `image: "`+s.reg.host+`/acme/web:1.6.3"`)
				r := s.result(t)
				if r.Tag != "1.6.3" || r.Digest != s.v163.DigestStr() || len(r.HeldBack) != 0 {
					t.Fatalf("resolved %s@%s, held back %+v; want 1.6.3@%s, none held back", r.Tag, r.Digest, r.HeldBack, s.v163.DigestStr())
				}
			})

			refused := slices.Concat(kind.refused, []refusedSignature{{name: "unsigned", reason: []string{"no signature found"}}})
			for _, rc := range refused {
				t.Run(rc.name, func(t *testing.T) {
					s := newVerifySetup(t, kind.policies)
					kind.sign(t, s.v160)
					if rc.sign != nil {
						rc.sign(t, s.v163, s.other)
					}
					text, err := s.render(t, policy)
					if err != nil {
						t.Fatal(err)
					}
					mustContain(t, text, `image: "`+s.reg.host+`/acme/web:1.6.0"`)
					if strings.Contains(text, "1.6.3") {
						t.Fatalf("1.6.3 is refused by %s, yet rendered:\n%s", policy, text)
					}
					r := s.result(t)
					if r.Tag != "1.6.0" || len(r.HeldBack) != 1 {
						t.Fatalf("resolved %s, held back %+v; want 1.6.0 with 1.6.3 held back", r.Tag, r.HeldBack)
					}
					held := r.HeldBack[0]
					if held.Tag != "1.6.3" || held.Digest != s.v163.DigestStr() || held.Gate != resolve.GateVerify {
						t.Errorf("held back %+v; want 1.6.3@%s by gate %s", held, s.v163.DigestStr(), resolve.GateVerify)
					}
					for _, w := range append([]string{"no valid signature for policy " + policy + ": "}, rc.reason...) {
						if !strings.Contains(held.Reason, w) {
							t.Errorf("held-back reason %q does not contain %q", held.Reason, w)
						}
					}
				})
			}

			t.Run("nothing signed", func(t *testing.T) {
				s := newVerifySetup(t, kind.policies)
				text, err := s.render(t, policy)
				if err == nil {
					t.Fatalf("rendered with no signed tag:\n%s", text)
				}
				// The alias, the image, the version policy and the gate
				// with its signature policy.
				mustContain(t, errText(err), "resolve web ("+s.reg.host+"/acme/web)", `none of 2 tags satisfies semver "~1.6"`, "2 held back by verify "+policy)
			})

			t.Run("undefined policy", func(t *testing.T) {
				s := newVerifySetup(t, kind.policies)
				kind.sign(t, s.v163)
				text, err := s.render(t, "nope")
				if err == nil {
					t.Fatalf("rendered with an undefined policy:\n%s", text)
				}
				var names []string
				for _, p := range kind.policies {
					names = append(names, p.Name)
				}
				slices.Sort(names)
				mustContain(t, errText(err), `no signature policy "nope"`, "defined: "+strings.Join(names, ", "))
			})
		})
	}
}
