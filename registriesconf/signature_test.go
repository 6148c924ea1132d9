package registriesconf

import (
	"reflect"
	"strings"
	"testing"
)

func TestSignaturePolicies(t *testing.T) {
	conf, err := Parse([]byte(`registries:
- prefix: ghcr.io
signature-policies:
- name: ci-key
  kind: cosign-key
  key: /etc/argocd-image-resolver/cosign.pub
- name: ci-keyless
  kind: keyless
  issuer: https://token.actions.githubusercontent.com
  subject-regexp: https://github\.com/acme/.*
  trusted-root: /etc/argocd-image-resolver/trusted_root.json
- name: ci-notation
  kind: notation
  trust-policy: /etc/notation/trustpolicy.json
  trust-store: /etc/notation/truststore
`))
	if err != nil {
		t.Fatal(err)
	}
	want := []SignaturePolicy{
		{Name: "ci-key", Kind: SignatureKindCosignKey, Key: "/etc/argocd-image-resolver/cosign.pub"},
		{Name: "ci-keyless", Kind: SignatureKindKeyless, Issuer: "https://token.actions.githubusercontent.com", SubjectRegexp: `https://github\.com/acme/.*`, TrustedRoot: "/etc/argocd-image-resolver/trusted_root.json"},
		{Name: "ci-notation", Kind: SignatureKindNotation, TrustPolicy: "/etc/notation/trustpolicy.json", TrustStore: "/etc/notation/truststore"},
	}
	if !reflect.DeepEqual(conf.SignaturePolicies, want) {
		t.Fatalf("policies\n got %+v\nwant %+v", conf.SignaturePolicies, want)
	}
	p, ok := conf.SignaturePolicy("ci-keyless")
	if !ok || p.Kind != SignatureKindKeyless {
		t.Fatalf("SignaturePolicy(ci-keyless) = %+v, %v", p, ok)
	}
	if _, ok := conf.SignaturePolicy("nope"); ok {
		t.Fatal("unknown policy found")
	}
	var nilConf *Config
	if _, ok := nilConf.SignaturePolicy("ci-key"); ok {
		t.Fatal("nil config found a policy")
	}
	if empty, err := Parse([]byte("signature-policies:\n")); err != nil || len(empty.SignaturePolicies) != 0 {
		t.Fatalf("empty list: %+v %v", empty, err)
	}
}

// TestSignaturePolicyErrors: every mistake names its line and says what
// to write instead.
func TestSignaturePolicyErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		yaml string
		want []string
	}{
		{"not a list", "signature-policies: {a: b}\n", []string{"line 1", "must be a list"}},
		{"entry not a mapping", "signature-policies:\n- ci-key\n", []string{"line 2", "must be a mapping"}},
		{"unknown key", "signature-policies:\n- name: a\n  kind: cosign-key\n  key: /k.pub\n  keyfile: /x\n", []string{"line 5", `unknown key "keyfile"`, "trust-store"}},
		{"nested value", "signature-policies:\n- name: a\n  kind: cosign-key\n  key: [/k.pub]\n", []string{"line 4", "key: must be a single value"}},
		{"repeated key", "signature-policies:\n- name: a\n  kind: cosign-key\n  key: /k.pub\n  key: /l.pub\n", []string{"line 5", "given twice"}},
		{"no name", "signature-policies:\n- kind: cosign-key\n  key: /k.pub\n", []string{"line 2", "without a name", "name: ci-key"}},
		{"bad name", "signature-policies:\n- name: CI_Key\n  kind: cosign-key\n  key: /k.pub\n", []string{"line 2", `"CI_Key"`, "lower-case"}},
		{"no kind", "signature-policies:\n- name: a\n  key: /k.pub\n", []string{"line 2", `kind ""`, "cosign-key, keyless or notation"}},
		{"bad kind", "signature-policies:\n- name: a\n  kind: gpg\n", []string{"line 3", `kind "gpg"`}},
		{"key missing", "signature-policies:\n- name: a\n  kind: cosign-key\n", []string{"line 2", "needs key"}},
		{"relative key", "signature-policies:\n- name: a\n  kind: cosign-key\n  key: cosign.pub\n", []string{"line 4", "absolute path"}},
		{"foreign key", "signature-policies:\n- name: a\n  kind: cosign-key\n  key: /k.pub\n  issuer: https://x\n", []string{"line 5", "issuer does not apply to kind cosign-key"}},
		{"keyless without identity", "signature-policies:\n- name: a\n  kind: keyless\n  trusted-root: /r.json\n", []string{"line 2", "needs issuer (exact) or issuer-regexp", "needs subject (exact) or subject-regexp"}},
		{"keyless both forms", "signature-policies:\n- name: a\n  kind: keyless\n  trusted-root: /r.json\n  issuer: https://x\n  issuer-regexp: https://.*\n  subject: s\n", []string{"line 6", "not both"}},
		{"keyless bad regexp", "signature-policies:\n- name: a\n  kind: keyless\n  trusted-root: /r.json\n  issuer: https://x\n  subject-regexp: '('\n", []string{"line 6", "subject-regexp does not compile"}},
		{"keyless without root", "signature-policies:\n- name: a\n  kind: keyless\n  issuer: https://x\n  subject: s\n", []string{"line 2", "needs trusted-root"}},
		{"notation without store", "signature-policies:\n- name: a\n  kind: notation\n  trust-policy: /p.json\n", []string{"line 2", "needs trust-store"}},
		{"notation with key", "signature-policies:\n- name: a\n  kind: notation\n  trust-policy: /p.json\n  trust-store: /s\n  key: /k.pub\n", []string{"line 6", "key does not apply to kind notation"}},
		{"duplicate name", "signature-policies:\n- name: a\n  kind: cosign-key\n  key: /k.pub\n- name: a\n  kind: cosign-key\n  key: /l.pub\n", []string{"line 5", `"a" is already defined at line 2`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(tc.yaml))
			if err == nil {
				t.Fatal("accepted")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

// TestTopLevelKeysNameSignaturePolicies: the unknown-key message lists the
// new key.
func TestTopLevelKeysNameSignaturePolicies(t *testing.T) {
	_, err := Parse([]byte("signatures: []\n"))
	if err == nil || !strings.Contains(err.Error(), "`signature-policies`") {
		t.Fatalf("err = %v", err)
	}
}
