package registriesconf

import (
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"gopkg.in/yaml.v3"

	"github.com/argocd-image-resolver/argocd-image-resolver/imagespec"
)

// DefaultLimit is the request rate (per second) allowed against one
// registry host when an entry does not set `limit`.
const DefaultLimit = 20

// Registry is one entry of registries.conf.
type Registry struct {
	// Name is a label for logs and errors, and what the pull-secret option
	// of an Application names to use this entry's credentials. Names are
	// unique.
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
	// Limit is the request rate per second; zero means DefaultLimit.
	Limit float64 `json:"limit,omitempty"`
	// MinAge is the min-age of images under the prefix whose spec sets
	// none; zero holds nothing back.
	MinAge time.Duration `json:"min-age,omitempty"`

	// prefixHost and prefixPath are Prefix split and normalised ("docker.io"
	// becomes "index.docker.io"); apiHost is the host to contact.
	prefixHost string
	prefixPath string
	apiHost    string
	plainHTTP  bool
}

// Host is the prefix's registry host as go-containerregistry names it
// ("docker.io" is "index.docker.io").
func (r *Registry) Host() string { return r.prefixHost }

// Path is the prefix's repository path ("" for a whole registry).
func (r *Registry) Path() string { return r.prefixPath }

// APIHost is where the registry answers: api_url's host, or Host.
func (r *Registry) APIHost() string { return r.apiHost }

// PlainHTTP reports whether api_url uses http.
func (r *Registry) PlainHTTP() bool { return r.plainHTTP }

// Label names the entry in logs and errors: its name, or its prefix.
func (r *Registry) Label() string {
	if r.Name != "" {
		return r.Name
	}
	return r.Prefix
}

// RequestLimit is the entry's request rate per second (DefaultLimit when
// unset, and for no entry).
func (r *Registry) RequestLimit() float64 {
	if r == nil || r.Limit == 0 {
		return DefaultLimit
	}
	return r.Limit
}

// Covers reports whether the entry's prefix holds the repository host/path.
func (r *Registry) Covers(host, path string) bool {
	return r.prefixHost == host && (r.prefixPath == "" || path == r.prefixPath || strings.HasPrefix(path, r.prefixPath+"/"))
}

// Keys of one entry.
var registryKeys = []string{"name", "prefix", "api_url", "credentials", "credsexpire", "insecure", "default", "defaultns", "limit", "min-age"}

func (p *parser) registry(n *yaml.Node) (Registry, error) {
	var reg Registry
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
		case "min-age":
			d, err := imagespec.ParseAge(val)
			if err != nil {
				bad(k, "%v", err)
				continue
			}
			reg.MinAge = d
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
	if err := p.normalise(&reg); err != nil {
		return reg, fmt.Errorf("line %d: registry %q: %w", n.Line, reg.Label(), err)
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
func (p *parser) normalise(reg *Registry) error {
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
	if reg.Credentials != "" && p.checkCredentials != nil {
		if err := p.checkCredentials(reg.Credentials); err != nil {
			return fmt.Errorf("credentials: %w", err)
		}
	}
	return nil
}
