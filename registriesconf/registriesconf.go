// Package registriesconf parses and validates registries.conf, the admin's
// list of registries (argocd-image-updater's keys: name, prefix, api_url,
// credentials, credsexpire, insecure, default, defaultns, limit) and the
// rules of where Applications may make the sidecar connect (`allowed`,
// `projects`), compiled into egress policies. Unknown keys are rejected
// with their line.
//
// It reads and checks; it never resolves credentials (package resolve
// does, and passes its check of the reference syntax in). It depends on
// yaml, go-containerregistry's name package and egress only, so that its
// fuzz target runs fast.
package registriesconf

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/argocd-image-resolver/argocd-image-resolver/egress"
)

// Config is a parsed registries.conf.
//
// registries.conf is admin input. Application authors refer to an entry
// only by its name (the pull-secret option); they never name a file,
// variable or program of the sidecar.
type Config struct {
	Registries []Registry `json:"registries"`
	// Allowed are registry/path globs (`ghcr.io/acme/*`) every Application
	// may use. With Allowed or Projects set, images outside the rules are
	// refused before any request, and every connection (redirects and
	// token realms included) must go to a host the rules name.
	Allowed []string `json:"allowed,omitempty"`
	// Projects adds globs for the Applications of one AppProject, keyed on
	// ARGOCD_APP_PROJECT_NAME (which authors cannot set).
	Projects map[string][]string `json:"projects,omitempty"`
	// Follow lets the Applications of a project follow (follow option)
	// Applications of the projects listed; within a project they always
	// may.
	Follow map[string][]string `json:"follow,omitempty"`
	// SignaturePolicies are what an image's signature must satisfy;
	// Applications name one (<alias>.verify).
	SignaturePolicies []SignaturePolicy `json:"signature-policies,omitempty"`

	// policies are the compiled rules by project; def applies to projects
	// not listed (nil: no rules).
	policies map[string]*egress.Policy
	def      *egress.Policy
}

// Top-level keys of registries.conf.
const (
	keyRegistries = "registries"
	keyAllowed    = "allowed"
	keyProjects   = "projects"
	keyFollow     = "follow"
	keySignatures = "signature-policies"
)

// Option configures Parse.
type Option func(*parser)

type parser struct {
	checkCredentials func(ref string) error
}

// WithCredentialCheck checks the `credentials` value of every entry (a
// reference such as env:VAR, never the secret) with check, whose error is
// reported with the entry's line. Without it the value is taken as it is.
func WithCredentialCheck(check func(ref string) error) Option {
	return func(p *parser) { p.checkCredentials = check }
}

// Load reads and validates a registries.conf file.
func Load(path string, opts ...Option) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("registries config: %w", err)
	}
	conf, err := Parse(data, opts...)
	if err != nil {
		return nil, fmt.Errorf("registries config %s: %w", path, err)
	}
	return conf, nil
}

// Parse parses registries.conf YAML. Unknown keys are rejected with their
// line number; every problem found is reported.
func Parse(data []byte, opts ...Option) (*Config, error) {
	var p parser
	for _, o := range opts {
		o(&p)
	}
	conf := &Config{}
	if len(bytes.TrimSpace(data)) == 0 {
		return conf, nil
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("not valid YAML: %w", err)
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) == 0 {
		return conf, nil
	}
	root := doc.Content[0]
	if root.Kind != yaml.MappingNode {
		return nil, fmt.Errorf("line %d: expected a mapping with a top-level `registries:` list", root.Line)
	}
	var errs []error
	for i := 0; i+1 < len(root.Content); i += 2 {
		k, v := root.Content[i], root.Content[i+1]
		if !isTopLevelKey(k.Value) {
			errs = append(errs, fmt.Errorf("line %d: unknown key %q; the top-level keys are %s", k.Line, k.Value, topLevelKeyList()))
			continue
		}
		if v.Kind == yaml.ScalarNode && v.Tag == "!!null" {
			continue
		}
		switch k.Value {
		case keyRegistries:
			if v.Kind != yaml.SequenceNode {
				errs = append(errs, fmt.Errorf("line %d: `registries` must be a list of registries", v.Line))
				continue
			}
			for _, item := range v.Content {
				reg, err := p.registry(item)
				if err != nil {
					errs = append(errs, err)
					continue
				}
				conf.Registries = append(conf.Registries, reg)
			}
		case keyAllowed:
			globs, err := parseGlobList(keyAllowed, v)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			conf.Allowed = globs
		case keyProjects:
			projects, err := parseProjects(v)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			conf.Projects = projects
		case keyFollow:
			follow, err := parseFollow(v)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			conf.Follow = follow
		case keySignatures:
			policies, err := parseSignaturePolicies(v)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			conf.SignaturePolicies = policies
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	if err := conf.validate(); err != nil {
		return nil, err
	}
	if err := conf.compileRules(); err != nil {
		return nil, err
	}
	return conf, nil
}

// topLevelKeys are the keys registries.conf accepts at its top.
func topLevelKeys() []string {
	return []string{keyRegistries, keyAllowed, keyProjects, keyFollow, keySignatures}
}

func isTopLevelKey(k string) bool {
	for _, known := range topLevelKeys() {
		if k == known {
			return true
		}
	}
	return false
}

func topLevelKeyList() string {
	keys := topLevelKeys()
	quoted := make([]string, len(keys))
	for i, k := range keys {
		quoted[i] = "`" + k + "`"
	}
	return strings.Join(quoted, ", ")
}

func (c *Config) validate() error {
	var defaults []string
	seen := map[string]bool{}
	names := map[string]bool{}
	for _, reg := range c.Registries {
		if reg.Default {
			defaults = append(defaults, reg.Label())
		}
		if reg.Name != "" {
			if names[reg.Name] {
				return fmt.Errorf("name %q appears twice; Applications name entries in pull-secret, so names must be unique", reg.Name)
			}
			names[reg.Name] = true
		}
		key := reg.prefixHost + "/" + reg.prefixPath
		if seen[key] {
			return fmt.Errorf("prefix %q appears twice; keep one entry per prefix", reg.Prefix)
		}
		seen[key] = true
	}
	if len(defaults) > 1 {
		sort.Strings(defaults)
		return fmt.Errorf("several registries have default: true (%s); mark only one", strings.Join(defaults, ", "))
	}
	return nil
}
