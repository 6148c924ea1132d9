package resolve

import (
	"sort"
	"strings"

	"github.com/argocd-image-resolver/argocd-image-resolver/egress"
	"github.com/argocd-image-resolver/argocd-image-resolver/registriesconf"
)

// DefaultRegistryLimit is the request rate (per second) allowed against one
// registry host when registries.conf does not set `limit`.
const DefaultRegistryLimit = registriesconf.DefaultLimit

// RegistriesConfig is argocd-image-updater's registries.conf: a list of
// registries with their API endpoint, credentials and limits, and the
// rules of where Applications may make the sidecar connect. Package
// registriesconf parses and validates it (the rules, tests and fuzz target
// live there); this type adds the lookups resolution needs.
//
// registries.conf is admin input. Application authors refer to an entry
// only by its name (the pull-secret option); they never name a file,
// variable or program of the sidecar.
type RegistriesConfig struct {
	Registries []RegistryConfig `json:"registries"`
	// Allowed are registry/path globs (`ghcr.io/acme/*`) every Application
	// may use (see registriesconf.Config).
	Allowed []string `json:"allowed,omitempty"`
	// Projects adds globs for the Applications of one AppProject, keyed on
	// ARGOCD_APP_PROJECT_NAME (which authors cannot set).
	Projects map[string][]string `json:"projects,omitempty"`

	// parsed holds the compiled egress rules; nil: no rules.
	parsed *registriesconf.Config
}

// RegistryConfig is one entry of registries.conf, with the lookups
// resolution needs.
type RegistryConfig struct {
	registriesconf.Registry
}

// LoadRegistriesConfig reads and validates a registries.conf file.
func LoadRegistriesConfig(path string) (*RegistriesConfig, error) {
	parsed, err := registriesconf.Load(path, registriesconf.WithCredentialCheck(checkCredentialRef))
	if err != nil {
		return nil, err
	}
	return fromParsed(parsed), nil
}

// ParseRegistriesConfig parses registries.conf YAML (registriesconf.Parse,
// with credential references checked as credentials are read). Unknown
// keys are rejected with their line number.
func ParseRegistriesConfig(data []byte) (*RegistriesConfig, error) {
	parsed, err := registriesconf.Parse(data, registriesconf.WithCredentialCheck(checkCredentialRef))
	if err != nil {
		return nil, err
	}
	return fromParsed(parsed), nil
}

// checkCredentialRef checks the syntax of a registries.conf credential
// reference, by the parser that reads it.
func checkCredentialRef(ref string) error {
	_, err := parseCredentialRef(ref)
	return err
}

func fromParsed(p *registriesconf.Config) *RegistriesConfig {
	c := &RegistriesConfig{Allowed: p.Allowed, Projects: p.Projects, parsed: p}
	for _, reg := range p.Registries {
		c.Registries = append(c.Registries, RegistryConfig{Registry: reg})
	}
	return c
}

// Policy is where the sidecar may connect for an Application of project
// (ARGOCD_APP_PROJECT_NAME): the `allowed` globs plus the project's own,
// or, without rules, anywhere but link-local.
func (c *RegistriesConfig) Policy(project string) *egress.Policy {
	if c == nil {
		return egress.Unrestricted()
	}
	return c.parsed.Policy(project)
}

// signaturePolicies are the registries.conf signature policies.
func (c *RegistriesConfig) signaturePolicies() []registriesconf.SignaturePolicy {
	if c == nil || c.parsed == nil {
		return nil
	}
	return c.parsed.SignaturePolicies
}

// mayFollow reports whether Applications of project may follow those of
// followed (registries.conf `follow`; always within one project).
func (c *RegistriesConfig) mayFollow(project, followed string) bool {
	if c == nil || c.parsed == nil {
		return project == followed
	}
	return c.parsed.MayFollow(project, followed)
}

func (reg *RegistryConfig) label() string { return reg.Label() }

func (reg *RegistryConfig) limit() float64 {
	if reg == nil {
		return DefaultRegistryLimit
	}
	return reg.RequestLimit()
}

// covers reports whether the entry's prefix holds the repository host/path.
func (reg *RegistryConfig) covers(host, path string) bool { return reg.Covers(host, path) }

// defaultRegistry returns the entry marked default, or nil.
func (c *RegistriesConfig) defaultRegistry() *RegistryConfig {
	if c == nil {
		return nil
	}
	for i := range c.Registries {
		if c.Registries[i].Default {
			return &c.Registries[i]
		}
	}
	return nil
}

// forRepository returns the entry whose prefix is the longest match for a
// normalised "host/path" repository, or nil.
func (c *RegistriesConfig) forRepository(host, path string) *RegistryConfig {
	if c == nil {
		return nil
	}
	var best *RegistryConfig
	for i := range c.Registries {
		reg := &c.Registries[i]
		if !reg.covers(host, path) {
			continue
		}
		if best == nil || len(reg.Path()) > len(best.Path()) {
			best = reg
		}
	}
	return best
}

// byName returns the entry called name, or nil.
func (c *RegistriesConfig) byName(name string) *RegistryConfig {
	if c == nil {
		return nil
	}
	for i := range c.Registries {
		if c.Registries[i].Name == name {
			return &c.Registries[i]
		}
	}
	return nil
}

// names lists the entry names, sorted.
func (c *RegistriesConfig) names() []string {
	var out []string
	if c != nil {
		for _, reg := range c.Registries {
			if reg.Name != "" {
				out = append(out, reg.Name)
			}
		}
	}
	sort.Strings(out)
	return out
}

// forAPIHost returns the entry whose API answers on host, or nil.
func (c *RegistriesConfig) forAPIHost(host string) *RegistryConfig {
	if c == nil {
		return nil
	}
	var best *RegistryConfig
	for i := range c.Registries {
		reg := &c.Registries[i]
		if reg.APIHost() == host && (best == nil || reg.Path() == "") {
			best = reg
		}
	}
	return best
}

// viaAPIHost maps a repository named on an entry's api_url host (a push
// event from the mirror that serves a prefix) back to the prefix's host:
// it returns the prefix host and true when an entry answers on host for a
// prefix other than host and holds path.
func (c *RegistriesConfig) viaAPIHost(host, path string) (string, bool) {
	if c == nil {
		return "", false
	}
	var best *RegistryConfig
	for i := range c.Registries {
		reg := &c.Registries[i]
		if reg.APIHost() != host || reg.Host() == host || !reg.covers(reg.Host(), path) {
			continue
		}
		if best == nil || len(reg.Path()) > len(best.Path()) {
			best = reg
		}
	}
	if best == nil {
		return "", false
	}
	return best.Host(), true
}

// hasHost reports whether the first element of an image reference is a
// registry host, by the same rule Docker uses.
func hasHost(image string) bool {
	first, _, found := strings.Cut(image, "/")
	if !found {
		return false
	}
	return strings.ContainsAny(first, ".:") || first == "localhost"
}
