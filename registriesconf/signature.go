package registriesconf

import (
	"errors"
	"fmt"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/argocd-image-resolver/argocd-image-resolver/imagespec"
)

// Kinds of signature policy.
const (
	// SignatureKindCosignKey accepts signatures made with one public key
	// (cosign sign --key).
	SignatureKindCosignKey = "cosign-key"
	// SignatureKindKeyless accepts Sigstore keyless signatures whose
	// certificate names an expected OIDC issuer and subject.
	SignatureKindKeyless = "keyless"
	// SignatureKindNotation accepts Notary Project signatures that satisfy
	// a Notation trust policy and trust store.
	SignatureKindNotation = "notation"
)

// SignaturePolicy is one entry of `signature-policies`: what an image's
// signature must satisfy. Applications name a policy (`<alias>.verify:
// ci-key`); only the admin says which keys, identities and files it trusts.
//
// Parsing checks syntax only; package sigverify reads the files.
type SignaturePolicy struct {
	// Name is what Applications refer to; unique, a DNS label.
	Name string `json:"name"`
	// Kind is cosign-key, keyless or notation.
	Kind string `json:"kind"`
	// Key is the PEM public key file (cosign-key).
	Key string `json:"key,omitempty"`
	// Issuer is the exact OIDC issuer the signing certificate must name
	// (keyless); IssuerRegexp is the alternative, matched against the
	// whole issuer.
	Issuer       string `json:"issuer,omitempty"`
	IssuerRegexp string `json:"issuer-regexp,omitempty"`
	// Subject is the exact certificate subject (SAN: workflow URI, e-mail)
	// (keyless); SubjectRegexp is the alternative, matched against the
	// whole subject.
	Subject       string `json:"subject,omitempty"`
	SubjectRegexp string `json:"subject-regexp,omitempty"`
	// TrustedRoot is a Sigstore trusted root JSON file (keyless): the
	// Fulcio CAs, Rekor logs, CT logs and timestamp authorities trusted.
	TrustedRoot string `json:"trusted-root,omitempty"`
	// TrustPolicy is a Notation trustpolicy.json file (notation).
	TrustPolicy string `json:"trust-policy,omitempty"`
	// TrustStore is a directory in Notation's trust store layout
	// (x509/ca/<name>/*.crt, x509/signingAuthority/..., x509/tsa/...)
	// (notation).
	TrustStore string `json:"trust-store,omitempty"`
}

// SignaturePolicy returns the policy named name.
func (c *Config) SignaturePolicy(name string) (*SignaturePolicy, bool) {
	if c == nil {
		return nil, false
	}
	for i := range c.SignaturePolicies {
		if c.SignaturePolicies[i].Name == name {
			return &c.SignaturePolicies[i], true
		}
	}
	return nil, false
}

// signaturePolicyKeys are the keys of one entry, in the order errors list
// them.
var signaturePolicyKeys = []string{"name", "kind", "key", "issuer", "issuer-regexp", "subject", "subject-regexp", "trusted-root", "trust-policy", "trust-store"}

// kindKeys are the keys each kind needs or allows besides name and kind.
var kindKeys = map[string][]string{
	SignatureKindCosignKey: {"key"},
	SignatureKindKeyless:   {"issuer", "issuer-regexp", "subject", "subject-regexp", "trusted-root"},
	SignatureKindNotation:  {"trust-policy", "trust-store"},
}

// parseSignaturePolicies reads the top-level `signature-policies` list.
func parseSignaturePolicies(v *yaml.Node) ([]SignaturePolicy, error) {
	if v.Kind != yaml.SequenceNode {
		return nil, fmt.Errorf("line %d: `signature-policies` must be a list of policies, each with a name and a kind (%s, %s or %s)", v.Line, SignatureKindCosignKey, SignatureKindKeyless, SignatureKindNotation)
	}
	var errs []error
	var out []SignaturePolicy
	lines := map[string]int{}
	for _, item := range v.Content {
		p, err := parseSignaturePolicy(item)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if first, dup := lines[p.Name]; dup {
			errs = append(errs, fmt.Errorf("line %d: signature policy %q is already defined at line %d; Applications refer to policies by name, so names must be unique", item.Line, p.Name, first))
			continue
		}
		lines[p.Name] = item.Line
		out = append(out, p)
	}
	return out, errors.Join(errs...)
}

func parseSignaturePolicy(n *yaml.Node) (SignaturePolicy, error) {
	var p SignaturePolicy
	if n.Kind != yaml.MappingNode {
		return p, fmt.Errorf("line %d: each signature policy must be a mapping with keys %s", n.Line, strings.Join(signaturePolicyKeys, ", "))
	}
	var errs []error
	lineOf := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		field := p.field(k.Value)
		if field == nil {
			errs = append(errs, fmt.Errorf("line %d: unknown key %q; signature policies have keys %s", k.Line, k.Value, strings.Join(signaturePolicyKeys, ", ")))
			continue
		}
		if v.Kind != yaml.ScalarNode {
			errs = append(errs, fmt.Errorf("line %d: %s: must be a single value", k.Line, k.Value))
			continue
		}
		if _, dup := lineOf[k.Value]; dup {
			errs = append(errs, fmt.Errorf("line %d: %s: given twice", k.Line, k.Value))
			continue
		}
		lineOf[k.Value] = k.Line
		*field = strings.TrimSpace(v.Value)
	}
	if len(errs) > 0 {
		return p, errors.Join(errs...)
	}
	return p, p.validate(n.Line, lineOf)
}

// field maps a key to the field it sets.
func (p *SignaturePolicy) field(key string) *string {
	switch key {
	case "name":
		return &p.Name
	case "kind":
		return &p.Kind
	case "key":
		return &p.Key
	case "issuer":
		return &p.Issuer
	case "issuer-regexp":
		return &p.IssuerRegexp
	case "subject":
		return &p.Subject
	case "subject-regexp":
		return &p.SubjectRegexp
	case "trusted-root":
		return &p.TrustedRoot
	case "trust-policy":
		return &p.TrustPolicy
	case "trust-store":
		return &p.TrustStore
	}
	return nil
}

// validate checks one policy; line is the entry's, lineOf the line of each
// key given.
func (p *SignaturePolicy) validate(line int, lineOf map[string]int) error {
	at := func(key string) int {
		if l, ok := lineOf[key]; ok {
			return l
		}
		return line
	}
	if p.Name == "" {
		return fmt.Errorf("line %d: signature policy without a name; add e.g. `name: ci-key` (Applications refer to it with <alias>.verify)", line)
	}
	if !imagespec.ValidPolicyName(p.Name) {
		return fmt.Errorf("line %d: signature policy name %q: use lower-case letters, digits and '-', at most 63, e.g. ci-key", at("name"), p.Name)
	}
	allowed, ok := kindKeys[p.Kind]
	if !ok {
		return fmt.Errorf("line %d: signature policy %q: kind %q: write %s, %s or %s", at("kind"), p.Name, p.Kind, SignatureKindCosignKey, SignatureKindKeyless, SignatureKindNotation)
	}
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("line %d: signature policy %q: %s", at(key), p.Name, fmt.Sprintf(format, args...)))
	}
	for _, key := range signaturePolicyKeys {
		if _, given := lineOf[key]; !given || key == "name" || key == "kind" || slices.Contains(allowed, key) {
			continue
		}
		bad(key, "%s does not apply to kind %s (its keys: %s)", key, p.Kind, strings.Join(allowed, ", "))
	}
	file := func(key, value, what string) {
		switch {
		case value == "":
			bad(key, "kind %s needs %s: the path of %s", p.Kind, key, what)
		case !filepath.IsAbs(value):
			bad(key, "%s %q must be an absolute path (of %s)", key, value, what)
		}
	}
	switch p.Kind {
	case SignatureKindCosignKey:
		file("key", p.Key, "a PEM public key, e.g. /etc/argocd-image-resolver/cosign.pub")
	case SignatureKindKeyless:
		file("trusted-root", p.TrustedRoot, "a Sigstore trusted_root.json")
		exactOrRegexp := func(exactKey, exact, reKey, re, example string) {
			switch {
			case exact == "" && re == "":
				bad(exactKey, "kind keyless needs %s (exact) or %s, e.g. %s: %s", exactKey, reKey, exactKey, example)
			case exact != "" && re != "":
				bad(reKey, "give %s or %s, not both", exactKey, reKey)
			case re != "":
				if _, err := regexp.Compile(re); err != nil {
					bad(reKey, "%s does not compile: %v", reKey, err)
				}
			}
		}
		exactOrRegexp("issuer", p.Issuer, "issuer-regexp", p.IssuerRegexp, "https://token.actions.githubusercontent.com")
		exactOrRegexp("subject", p.Subject, "subject-regexp", p.SubjectRegexp, "https://github.com/acme/web/.github/workflows/release.yml@refs/heads/main")
	case SignatureKindNotation:
		file("trust-policy", p.TrustPolicy, "a Notation trustpolicy.json")
		file("trust-store", p.TrustStore, "a directory in Notation's trust store layout (x509/ca/<name>/...)")
	}
	return errors.Join(errs...)
}
