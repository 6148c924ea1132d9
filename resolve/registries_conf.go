package resolve

import (
	"bytes"
	"errors"
	"fmt"
	"net/url"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"gopkg.in/yaml.v3"
)

// DefaultRegistryLimit is the request rate (per second) allowed against one
// registry host when registries.conf does not set `limit`.
const DefaultRegistryLimit = 20

// RegistriesConfig is argocd-image-updater's registries.conf: a list of
// registries with their API endpoint, credentials and limits.
type RegistriesConfig struct {
	Registries []RegistryConfig `json:"registries"`
}

// RegistryConfig is one entry of registries.conf.
type RegistryConfig struct {
	// Name is a label for logs and errors.
	Name string `json:"name"`
	// Prefix is the registry host (optionally with a path) that images
	// start with, e.g. "ghcr.io" or "docker.io".
	Prefix string `json:"prefix"`
	// APIURL is where the registry API answers; empty means https://<prefix host>.
	APIURL string `json:"api_url,omitempty"`
	// Credentials is a credential reference: env:VAR, ext:/path/to/script or
	// file:/path. Never the secret itself.
	Credentials string `json:"credentials,omitempty"`
	// CredsExpire is how long credentials are reused before they are read
	// again; zero reads them once.
	CredsExpire time.Duration `json:"credsexpire,omitempty"`
	// Insecure allows plain HTTP and skips TLS verification.
	Insecure bool `json:"insecure,omitempty"`
	// Default makes this registry the one for images without a host.
	Default bool `json:"default,omitempty"`
	// DefaultNS replaces "library" for single-element images on the default
	// registry.
	DefaultNS string `json:"defaultns,omitempty"`
	// Limit is the request rate per second; zero means DefaultRegistryLimit.
	Limit float64 `json:"limit,omitempty"`

	// prefixHost and prefixPath are Prefix split and normalised ("docker.io"
	// becomes "index.docker.io"); apiHost is the host to contact.
	prefixHost string
	prefixPath string
	apiHost    string
	plainHTTP  bool
}

var registryKeys = []string{"name", "prefix", "api_url", "credentials", "credsexpire", "insecure", "default", "defaultns", "limit"}

// LoadRegistriesConfig reads and validates a registries.conf file.
func LoadRegistriesConfig(path string) (*RegistriesConfig, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("registries config: %w", err)
	}
	conf, err := ParseRegistriesConfig(data)
	if err != nil {
		return nil, fmt.Errorf("registries config %s: %w", path, err)
	}
	return conf, nil
}

// ParseRegistriesConfig parses registries.conf YAML. Unknown keys are
// rejected with their line number.
func ParseRegistriesConfig(data []byte) (*RegistriesConfig, error) {
	conf := &RegistriesConfig{}
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
		if k.Value != "registries" {
			errs = append(errs, fmt.Errorf("line %d: unknown key %q; the only top-level key is `registries`", k.Line, k.Value))
			continue
		}
		if v.Kind == yaml.ScalarNode && v.Tag == "!!null" {
			continue
		}
		if v.Kind != yaml.SequenceNode {
			errs = append(errs, fmt.Errorf("line %d: `registries` must be a list of registries", v.Line))
			continue
		}
		for _, item := range v.Content {
			reg, err := parseRegistryNode(item)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			conf.Registries = append(conf.Registries, reg)
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	if err := conf.validate(); err != nil {
		return nil, err
	}
	return conf, nil
}

func parseRegistryNode(n *yaml.Node) (RegistryConfig, error) {
	var reg RegistryConfig
	if n.Kind != yaml.MappingNode {
		return reg, fmt.Errorf("line %d: each registry must be a mapping with keys %s", n.Line, strings.Join(registryKeys, ", "))
	}
	var errs []error
	bad := func(k *yaml.Node, format string, args ...any) {
		errs = append(errs, fmt.Errorf("line %d: %s: %s", k.Line, k.Value, fmt.Sprintf(format, args...)))
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if v.Kind != yaml.ScalarNode {
			if isRegistryKey(k.Value) {
				bad(k, "must be a single value")
			} else {
				errs = append(errs, unknownKey(k))
			}
			continue
		}
		val := strings.TrimSpace(v.Value)
		switch k.Value {
		case "name":
			reg.Name = val
		case "prefix":
			reg.Prefix = val
		case "api_url":
			reg.APIURL = val
		case "credentials":
			reg.Credentials = val
		case "credsexpire":
			if val == "" {
				continue
			}
			d, err := time.ParseDuration(val)
			if err != nil || d < 0 {
				bad(k, "%q is not a duration; write e.g. 30m or 2h", val)
				continue
			}
			reg.CredsExpire = d
		case "insecure", "default":
			b, err := strconv.ParseBool(val)
			if err != nil {
				bad(k, "%q is not true or false", val)
				continue
			}
			if k.Value == "insecure" {
				reg.Insecure = b
			} else {
				reg.Default = b
			}
		case "defaultns":
			reg.DefaultNS = val
		case "limit":
			f, err := strconv.ParseFloat(val, 64)
			if err != nil || f < 0 {
				bad(k, "%q is not a non-negative number of requests per second", val)
				continue
			}
			reg.Limit = f
		default:
			errs = append(errs, unknownKey(k))
		}
	}
	if len(errs) > 0 {
		return reg, errors.Join(errs...)
	}
	if reg.Prefix == "" {
		return reg, fmt.Errorf("line %d: registry %q has no prefix; set prefix to the registry host, e.g. ghcr.io", n.Line, reg.Name)
	}
	if err := reg.normalise(); err != nil {
		return reg, fmt.Errorf("line %d: registry %q: %w", n.Line, reg.label(), err)
	}
	return reg, nil
}

func isRegistryKey(k string) bool {
	for _, known := range registryKeys {
		if k == known {
			return true
		}
	}
	return false
}

func unknownKey(k *yaml.Node) error {
	return fmt.Errorf("line %d: unknown key %q; allowed keys: %s", k.Line, k.Value, strings.Join(registryKeys, ", "))
}

// normalise fills the derived host fields and checks api_url and credentials.
func (reg *RegistryConfig) normalise() error {
	host, path, _ := strings.Cut(strings.TrimSuffix(reg.Prefix, "/"), "/")
	r, err := name.NewRegistry(host)
	if err != nil {
		return fmt.Errorf("prefix %q: %v", reg.Prefix, err)
	}
	reg.prefixHost, reg.prefixPath = r.RegistryStr(), path
	reg.apiHost = reg.prefixHost
	if reg.APIURL != "" {
		u, err := url.Parse(reg.APIURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("api_url %q: write a URL such as https://registry.example.com", reg.APIURL)
		}
		ar, err := name.NewRegistry(u.Host)
		if err != nil {
			return fmt.Errorf("api_url %q: %v", reg.APIURL, err)
		}
		reg.apiHost = ar.RegistryStr()
		reg.plainHTTP = u.Scheme == "http"
		if reg.apiHost == "registry-1.docker.io" {
			reg.apiHost = name.DefaultRegistry
		}
	}
	if reg.Credentials != "" {
		if _, err := parseCredentialRef(reg.Credentials); err != nil {
			return fmt.Errorf("credentials: %w", err)
		}
	}
	return nil
}

func (reg *RegistryConfig) label() string {
	if reg.Name != "" {
		return reg.Name
	}
	return reg.Prefix
}

func (reg *RegistryConfig) limit() float64 {
	if reg == nil || reg.Limit == 0 {
		return DefaultRegistryLimit
	}
	return reg.Limit
}

func (c *RegistriesConfig) validate() error {
	var defaults []string
	seen := map[string]bool{}
	for _, reg := range c.Registries {
		if reg.Default {
			defaults = append(defaults, reg.label())
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
		if reg.prefixHost != host {
			continue
		}
		if reg.prefixPath != "" && path != reg.prefixPath && !strings.HasPrefix(path, reg.prefixPath+"/") {
			continue
		}
		if best == nil || len(reg.prefixPath) > len(best.prefixPath) {
			best = reg
		}
	}
	return best
}

// forAPIHost returns the entry whose API answers on host, or nil.
func (c *RegistriesConfig) forAPIHost(host string) *RegistryConfig {
	if c == nil {
		return nil
	}
	var best *RegistryConfig
	for i := range c.Registries {
		reg := &c.Registries[i]
		if reg.apiHost == host && (best == nil || reg.prefixPath == "") {
			best = reg
		}
	}
	return best
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
