// Package registrytest serves go-containerregistry's in-memory OCI registry
// on loopback for tests and pushes random images into it (or into any other
// registry). It is imported by _test.go files only.
package registrytest

import (
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// Registry is an in-memory registry behind an httptest server on loopback,
// closed when the test that started it ends.
type Registry struct {
	url string
}

// Option configures New.
type Option func(*config)

type config struct {
	wrap func(http.Handler) http.Handler
}

// WithHandler puts wrap's handler in front of the registry, for tests that
// count, hold or fail requests; wrap receives the registry's own handler.
func WithHandler(wrap func(http.Handler) http.Handler) Option {
	return func(c *config) { c.wrap = wrap }
}

// New starts a registry that lives until t and its subtests end.
func New(t testing.TB, opts ...Option) *Registry {
	t.Helper()
	var c config
	for _, o := range opts {
		o(&c)
	}
	var h http.Handler = registry.New(registry.Logger(log.New(io.Discard, "", 0)))
	if c.wrap != nil {
		h = c.wrap(h)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return &Registry{url: srv.URL}
}

// URL is the registry's base URL, such as http://127.0.0.1:41234.
func (r *Registry) URL() string { return r.url }

// Host is the registry's host:port, the prefix of its image references.
func (r *Registry) Host() string { return strings.TrimPrefix(r.url, "http://") }

// Push writes a random image to repoTag ("acme/web:1.0.0") in this registry
// and returns its digest.
func (r *Registry) Push(t testing.TB, repoTag string, opts ...ImageOption) v1.Hash {
	t.Helper()
	return Push(t, r.Host()+"/"+repoTag, opts...)
}

// PushTags writes a distinct random image under each tag of repo and returns
// the digests by tag.
func (r *Registry) PushTags(t testing.TB, repo string, tags ...string) map[string]string {
	t.Helper()
	digests := make(map[string]string, len(tags))
	for _, tag := range tags {
		digests[tag] = r.Push(t, repo+":"+tag).String()
	}
	return digests
}

// ImageOption shapes the image Push writes.
type ImageOption func(*image)

type image struct {
	created    time.Time
	createdFor map[string]time.Time
	platforms  []string
	remoteOpts []remote.Option
}

// Created sets the created time in the config of every image pushed.
func Created(at time.Time) ImageOption {
	return func(i *image) { i.created = at }
}

// Platforms sets the os/arch[/variant] of the image; with several, Push
// writes an OCI index holding one image per platform.
func Platforms(platforms ...string) ImageOption {
	return func(i *image) { i.platforms = append(i.platforms, platforms...) }
}

// CreatedFor sets the created time of the image of one of the Platforms,
// over Created.
func CreatedFor(platform string, at time.Time) ImageOption {
	return func(i *image) {
		if i.createdFor == nil {
			i.createdFor = map[string]time.Time{}
		}
		i.createdFor[platform] = at
	}
}

// RemoteOptions are passed to remote.Write or remote.WriteIndex, e.g.
// remote.WithAuth for a registry that wants credentials.
func RemoteOptions(opts ...remote.Option) ImageOption {
	return func(i *image) { i.remoteOpts = append(i.remoteOpts, opts...) }
}

// Push writes a random image to ref ("host:port/acme/web:1.0.0") in any
// registry and returns the digest of what it wrote. Without options the
// image is random.Image's as is: no platform and no created time.
func Push(t testing.TB, ref string, opts ...ImageOption) v1.Hash {
	t.Helper()
	var spec image
	for _, o := range opts {
		o(&spec)
	}
	tag, err := name.NewTag(ref)
	if err != nil {
		t.Fatalf("registrytest: reference %q: %v", ref, err)
	}
	var (
		digest v1.Hash
		werr   error
	)
	if len(spec.platforms) <= 1 {
		platform := ""
		if len(spec.platforms) == 1 {
			platform = spec.platforms[0]
		}
		img := spec.build(t, platform)
		werr = remote.Write(tag, img, spec.remoteOpts...)
		digest, err = img.Digest()
	} else {
		adds := make([]mutate.IndexAddendum, 0, len(spec.platforms))
		for _, p := range spec.platforms {
			adds = append(adds, mutate.IndexAddendum{
				Add:        spec.build(t, p),
				Descriptor: v1.Descriptor{Platform: parsePlatform(p)},
			})
		}
		idx := mutate.AppendManifests(empty.Index, adds...) // an OCI index
		werr = remote.WriteIndex(tag, idx, spec.remoteOpts...)
		digest, err = idx.Digest()
	}
	if werr != nil {
		t.Fatalf("registrytest: push %s: %v", ref, werr)
	}
	if err != nil {
		t.Fatal(err)
	}
	return digest
}

// build makes one random image for platform ("" leaves the platform unset).
func (i *image) build(t testing.TB, platform string) v1.Image {
	t.Helper()
	img, err := random.Image(256, 1)
	if err != nil {
		t.Fatal(err)
	}
	created := i.created
	if at, ok := i.createdFor[platform]; ok {
		created = at
	}
	if platform == "" && created.IsZero() {
		return img
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	cf = cf.DeepCopy()
	if !created.IsZero() {
		cf.Created = v1.Time{Time: created}
	}
	if platform != "" {
		p := parsePlatform(platform)
		cf.OS, cf.Architecture, cf.Variant = p.OS, p.Architecture, p.Variant
	}
	img, err = mutate.ConfigFile(img, cf)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

// parsePlatform reads os/arch[/variant].
func parsePlatform(s string) *v1.Platform {
	parts := strings.SplitN(s, "/", 3)
	p := &v1.Platform{OS: parts[0]}
	if len(parts) > 1 {
		p.Architecture = parts[1]
	}
	if len(parts) > 2 {
		p.Variant = parts[2]
	}
	return p
}
