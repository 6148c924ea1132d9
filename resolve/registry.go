package resolve

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
)

// repository turns a spec's image into the repository to ask, applying
// registries.conf: the default registry and its defaultns for images
// without a host, and api_url for where the registry answers.
func (r *Resolver) repository(image string) (name.Repository, *RegistryConfig, error) {
	ref := image
	if !hasHost(image) {
		if def := r.conf.defaultRegistry(); def != nil {
			path := image
			if !strings.Contains(path, "/") {
				ns := def.DefaultNS
				if ns == "" {
					ns = "library"
				}
				path = ns + "/" + path
			}
			ref = def.prefixHost + "/" + path
		}
	}
	var opts []name.Option
	if r.insecure {
		opts = append(opts, name.Insecure)
	}
	repo, err := name.NewRepository(ref, opts...)
	if err != nil {
		return name.Repository{}, nil, fmt.Errorf("image %q is not a valid repository: %w", image, err)
	}
	reg := r.conf.forRepository(repo.RegistryStr(), repo.RepositoryStr())
	if reg == nil {
		return repo, nil, nil
	}
	if reg.Insecure || reg.plainHTTP {
		opts = append(opts, name.Insecure)
	}
	if reg.apiHost != repo.RegistryStr() || len(opts) > 0 {
		repo, err = name.NewRepository(reg.apiHost+"/"+repo.RepositoryStr(), opts...)
		if err != nil {
			return name.Repository{}, nil, fmt.Errorf("image %q on registry %s: %w", image, reg.label(), err)
		}
	}
	return repo, reg, nil
}

// registryError is a failed registry operation: what was asked, of which
// registry, and why it failed.
type registryError struct {
	Op       string // "list tags", "get digest of tag 1.2.3", ...
	Registry string
	Err      error
}

func (e *registryError) Error() string {
	var te *transport.Error
	if errors.As(e.Err, &te) && te.StatusCode != 0 && !strings.Contains(te.Error(), fmt.Sprint(te.StatusCode)) {
		return fmt.Sprintf("%s from registry %s: HTTP %d: %v", e.Op, e.Registry, te.StatusCode, e.Err)
	}
	return fmt.Sprintf("%s from registry %s: %v", e.Op, e.Registry, e.Err)
}

func (e *registryError) Unwrap() error { return e.Err }

// hint says what a person can do about a registry failure.
func (e *registryError) hint() string {
	var te *transport.Error
	if errors.As(e.Err, &te) {
		switch te.StatusCode {
		case http.StatusUnauthorized, http.StatusForbidden:
			return fmt.Sprintf("check the credentials for %s (registries.conf credentials, the pull-secret option or the docker config)", e.Registry)
		case http.StatusNotFound:
			return "check the image name: the registry does not know this repository or tag"
		case http.StatusTooManyRequests:
			return fmt.Sprintf("the registry is rate limiting; lower limit for %s in registries.conf or raise --cache-ttl", e.Registry)
		}
	}
	if errors.Is(e.Err, context.DeadlineExceeded) {
		return fmt.Sprintf("the registry %s did not answer in time; check it is reachable from the plugin", e.Registry)
	}
	return "check the registry is reachable and credentials in registries.conf"
}

// client talks to registries through go-containerregistry. It keeps one
// Puller per credential source so that pings and token exchanges are reused
// across calls.
type client struct {
	transport http.RoundTripper
	keychains *keychains

	mu      sync.Mutex
	pullers map[string]*remote.Puller
}

func (c *client) puller(pullSecret string) (*remote.Puller, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if p, ok := c.pullers[pullSecret]; ok {
		return p, nil
	}
	kc, err := c.keychains.forSpec(pullSecret)
	if err != nil {
		return nil, err
	}
	p, err := remote.NewPuller(
		remote.WithTransport(c.transport),
		remote.WithAuthFromKeychain(kc),
		remote.WithUserAgent("argocd-image-resolver"),
		// 429 is retried by limitTransport after Retry-After; other
		// failures fall back to the stale cache rather than retrying.
		remote.WithRetryStatusCodes(),
		remote.WithRetryPredicate(func(error) bool { return false }),
	)
	if err != nil {
		return nil, err
	}
	if c.pullers == nil {
		c.pullers = map[string]*remote.Puller{}
	}
	c.pullers[pullSecret] = p
	return p, nil
}

func (c *client) listTags(ctx context.Context, repo name.Repository, pullSecret string) ([]string, error) {
	p, err := c.puller(pullSecret)
	if err != nil {
		return nil, err
	}
	tags, err := p.List(ctx, repo)
	if err != nil {
		return nil, err
	}
	return tags, nil
}

func (c *client) headDigest(ctx context.Context, ref name.Tag, pullSecret string) (string, error) {
	p, err := c.puller(pullSecret)
	if err != nil {
		return "", err
	}
	desc, err := p.Head(ctx, ref)
	if err != nil {
		return "", err
	}
	return desc.Digest.String(), nil
}

// imageInfo is what the config layer keeps for one manifest digest: the
// platforms it provides and when each was built.
type imageInfo struct {
	Platforms []platformInfo `json:"platforms"`
}

type platformInfo struct {
	Platform string    `json:"platform"`
	Created  time.Time `json:"created"`
}

func (i imageInfo) summary() string {
	parts := make([]string, 0, len(i.Platforms))
	for _, p := range i.Platforms {
		parts = append(parts, p.Platform+" "+p.Created.UTC().Format(time.RFC3339))
	}
	return strings.Join(parts, ", ")
}

// imageInfo reads the image config (or, for an index, each platform's
// image config) of a manifest digest.
func (c *client) imageInfo(ctx context.Context, ref name.Digest, pullSecret string) (imageInfo, error) {
	p, err := c.puller(pullSecret)
	if err != nil {
		return imageInfo{}, err
	}
	desc, err := p.Get(ctx, ref)
	if err != nil {
		return imageInfo{}, err
	}
	if !desc.MediaType.IsIndex() {
		img, err := desc.Image()
		if err != nil {
			return imageInfo{}, err
		}
		cfg, err := img.ConfigFile()
		if err != nil {
			return imageInfo{}, err
		}
		return imageInfo{Platforms: []platformInfo{{Platform: platformString(cfg.OS, cfg.Architecture, cfg.Variant), Created: cfg.Created.Time}}}, nil
	}
	idx, err := desc.ImageIndex()
	if err != nil {
		return imageInfo{}, err
	}
	manifest, err := idx.IndexManifest()
	if err != nil {
		return imageInfo{}, err
	}
	var info imageInfo
	for _, m := range manifest.Manifests {
		if m.Platform == nil || m.Platform.OS == "unknown" || !m.MediaType.IsImage() {
			continue
		}
		img, err := idx.Image(m.Digest)
		if err != nil {
			return imageInfo{}, err
		}
		cfg, err := img.ConfigFile()
		if err != nil {
			return imageInfo{}, fmt.Errorf("config of %s: %w", platformOf(m.Platform), err)
		}
		info.Platforms = append(info.Platforms, platformInfo{Platform: platformOf(m.Platform), Created: cfg.Created.Time})
	}
	sort.Slice(info.Platforms, func(i, j int) bool { return info.Platforms[i].Platform < info.Platforms[j].Platform })
	return info, nil
}

func platformOf(p *v1.Platform) string {
	return platformString(p.OS, p.Architecture, p.Variant)
}

func platformString(os, arch, variant string) string {
	s := os + "/" + arch
	if variant != "" {
		s += "/" + variant
	}
	return s
}
