package resolve

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"

	"github.com/argocd-image-resolver/argocd-image-resolver/egress"
	"github.com/argocd-image-resolver/argocd-image-resolver/registryerror"
)

// target is the repository one spec asks for.
type target struct {
	// repo is where the registry answers (registries.conf api_url applied).
	repo name.Repository
	// host and path name the repository as the spec does, with the default
	// registry and defaultns applied; prefixes, credentials and rules
	// match on them.
	host, path string
	// entry is the registries.conf entry with the longest prefix holding
	// the repository, or nil.
	entry *RegistryConfig
}

// target turns a spec's image into the repository to ask, applying
// registries.conf: the default registry and its defaultns for images
// without a host, and api_url for where the registry answers.
func (r *Resolver) target(image string) (target, error) {
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
			ref = def.Host() + "/" + path
		}
	}
	var opts []name.Option
	if r.insecure {
		opts = append(opts, name.Insecure)
	}
	repo, err := name.NewRepository(ref, opts...)
	if err != nil {
		return target{}, fmt.Errorf("image %q is not a valid repository: %w", image, err)
	}
	t := target{repo: repo, host: repo.RegistryStr(), path: repo.RepositoryStr()}
	reg := r.conf.forRepository(t.host, t.path)
	if reg == nil {
		return t, nil
	}
	t.entry = reg
	if reg.Insecure || reg.PlainHTTP() {
		opts = append(opts, name.Insecure)
	}
	if reg.APIHost() != repo.RegistryStr() || len(opts) > 0 {
		t.repo, err = name.NewRepository(reg.APIHost()+"/"+repo.RepositoryStr(), opts...)
		if err != nil {
			return target{}, fmt.Errorf("image %q on registry %s: %w", image, reg.label(), err)
		}
	}
	return t, nil
}

// repository is the repository to ask for image and its registries.conf
// entry.
func (r *Resolver) repository(image string) (name.Repository, *RegistryConfig, error) {
	t, err := r.target(image)
	return t.repo, t.entry, err
}

// ErrNotAllowed marks an image outside the registries.conf rules of the
// Application's project.
var ErrNotAllowed = errors.New("image not allowed")

// checkRules refuses a target outside policy, before any request.
func checkRules(policy *egress.Policy, t target) error {
	if policy.AllowsRepository(t.host, t.path) {
		return nil
	}
	rules := strings.Join(policy.Patterns(), ", ")
	if rules == "" {
		rules = "none"
	}
	return fmt.Errorf("%w: %s/%s is outside the %s rules (%s); ask the Argo CD admins to add it to registries.conf", ErrNotAllowed, t.host, t.path, policy.Name(), rules)
}

// registryError is a failed registry operation: what was asked, of which
// registry, and why it failed. Its message carries the HTTP status, the
// registry's error codes and our hint, never the body or a header value of
// the answer: those may come from any service an author can point an
// image, a token realm or a redirect at. The sidecar log keeps the detail.
type registryError struct {
	Op       string // "list tags", "get digest of tag 1.2.3", ...
	Registry string
	Err      error
}

func (e *registryError) Error() string {
	return fmt.Sprintf("%s from registry %s: %s", e.Op, e.Registry, describeFailure(e.Err, e.Registry))
}

// statusCode is the HTTP status a registry answered with, 0 if none.
func statusCode(err error) int {
	var te *transport.Error
	if errors.As(err, &te) {
		return te.StatusCode
	}
	var re *recordedError
	if errors.As(err, &re) {
		return re.status
	}
	return 0
}

// recordedError is a registry failure read back from the negative cache,
// possibly recorded by another replica: its message, the HTTP status and
// whether it was a timeout.
type recordedError struct {
	msg     string
	status  int
	timeout bool
}

func (e *recordedError) Error() string { return e.msg }

// Unwrap makes errors.Is(err, context.DeadlineExceeded) hold for a
// recorded timeout.
func (e *recordedError) Unwrap() error {
	if e.timeout {
		return context.DeadlineExceeded
	}
	return nil
}

func (e *registryError) Unwrap() error { return e.Err }

// describeFailure says why a request failed in words of our own.
func describeFailure(err error, registry string) string {
	var (
		recorded *recordedError
		refused  *egress.RefusedError
		cred     *CredentialError
		limited  *LimitError
		tagList  *TagListError
		te       *transport.Error
		dns      *net.DNSError
		netErr   net.Error
		cert     *tls.CertificateVerificationError
		record   tls.RecordHeaderError
	)
	switch {
	case errors.As(err, &recorded):
		return recorded.msg
	case errors.As(err, &refused):
		return refused.Describe(sameHost(refused.Host, registry))
	case errors.As(err, &cred):
		return cred.Error()
	case errors.As(err, &limited):
		return limited.Error()
	case errors.As(err, &tagList):
		return tagList.Error()
	case errors.As(err, &te):
		return httpFailure(te)
	case errors.Is(err, context.DeadlineExceeded):
		return "no answer before the deadline"
	case errors.Is(err, context.Canceled):
		return "the request was cancelled"
	case errors.As(err, &dns):
		if dns.IsNotFound {
			return "the host name does not resolve"
		}
		return "the host name could not be resolved"
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused"
	case errors.As(err, &netErr) && netErr.Timeout():
		return "the connection timed out"
	case errors.As(err, &cert):
		return "the TLS certificate is not trusted"
	case errors.As(err, &record):
		return "the TLS handshake failed (is it plain HTTP? then set api_url http://... or insecure in registries.conf)"
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return "the connection was closed during the request"
	}
	var urlErr *url.Error
	if errors.As(err, &urlErr) {
		return "the request failed; the sidecar log has the details"
	}
	return "the answer could not be used; the sidecar log has the details"
}

// sameHost reports whether hostport (as dialled, with its port) is the
// registry the spec names (as go-containerregistry writes it, without a
// default port).
func sameHost(hostport, registry string) bool {
	for _, h := range []string{registry, registry + ":443", registry + ":80"} {
		if strings.EqualFold(hostport, h) {
			return true
		}
	}
	return false
}

// httpFailure is the status and error codes of an HTTP error answer.
func httpFailure(te *transport.Error) string {
	msg := registryerror.FromTransport(te)
	if te.Request != nil && !strings.HasPrefix(te.Request.URL.Path, "/v2/") {
		msg += " (from its token service or a redirect target)"
	}
	return msg
}

// hint says what a person can do about a registry failure. Failures of
// the plugin's own configuration or limits say so instead of blaming the
// registry.
func (e *registryError) hint() string {
	var ce *CredentialError
	if errors.As(e.Err, &ce) {
		return fmt.Sprintf("this is the plugin's configuration, not the registry: fix the credentials of registries.conf entry %q (the sidecar log names the cause)", ce.Entry)
	}
	var le *LimitError
	if errors.As(e.Err, &le) {
		return fmt.Sprintf("the registry was not asked: raise limit for %s in registries.conf, or let the cache warm up (--cache-ttl)", le.Registry)
	}
	var tl *TagListError
	if errors.As(e.Err, &tl) {
		return "the registry answered; the cap is the sidecar's configuration, not a registry failure"
	}
	var refused *egress.RefusedError
	if errors.As(e.Err, &refused) {
		if refused.Reason == egress.ReasonLinkLocal {
			return "images may not lead the sidecar to link-local addresses"
		}
		return "ask the Argo CD admins to add the host to registries.conf allowed (or the project's list)"
	}
	if code := statusCode(e.Err); code != 0 {
		switch code {
		case http.StatusUnauthorized, http.StatusForbidden:
			return fmt.Sprintf("check the credentials for %s (the registries.conf entry for its prefix, the entry the pull-secret option names, or the docker config)", e.Registry)
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

// maxLoggedBody bounds the answer text kept in the debug log.
const maxLoggedBody = 1024

// registryFailure wraps a failed operation and logs its full detail (the
// answer text, capped and scrubbed) at debug level for the operators.
func (r *Resolver) registryFailure(op string, repo name.Repository, err error) error {
	detail := r.secrets.scrub(err.Error())
	if len(detail) > maxLoggedBody {
		detail = detail[:maxLoggedBody] + "..."
	}
	r.log.Debug("registry request failed", "op", op, "repository", repo.Name(), "detail", detail)
	return &registryError{Op: op, Registry: repo.RegistryStr(), Err: err}
}

// client talks to registries through go-containerregistry. It reuses a
// Puller per policy, credential and repository (pings and token exchanges
// are per repository), among a bounded set of recent ones (pullerCache).
type client struct {
	transports *transports
	keychains  *keychains
	tagCaps    tagListCaps
	pullers    *pullerCache
}

func (c *client) puller(policy *egress.Policy, cred credential, repo name.Repository) (*remote.Puller, error) {
	key := pullerKey{policy: policy, cred: cred.key(), repository: repo.Name()}
	return c.pullers.get(key, func() (*remote.Puller, error) {
		auth, err := c.keychains.option(cred)
		if err != nil {
			return nil, err
		}
		return remote.NewPuller(
			remote.WithTransport(c.transports.forPolicy(policy)),
			auth,
			remote.WithUserAgent("argocd-image-resolver"),
			// 429 is retried by limitTransport after Retry-After; other
			// failures fall back to the stale cache rather than retrying.
			remote.WithRetryStatusCodes(),
			remote.WithRetryPredicate(func(error) bool { return false }),
		)
	})
}

// access is how one spec reaches its repository: under which policy and
// with which credential.
type access struct {
	policy *egress.Policy
	cred   credential
}

// listTags reads the repository's tag list page by page, within the caps:
// a list past --max-tags, or whose answers pass --max-tag-list-bytes
// (counted by limitTransport as they are read), is a *TagListError.
func (c *client) listTags(ctx context.Context, repo name.Repository, a access) ([]string, error) {
	p, err := c.puller(a.policy, a.cred, repo)
	if err != nil {
		return nil, err
	}
	caps := c.tagCaps
	ctx = withListBytes(ctx, &listBytes{limit: caps.maxBytes})
	tooLarge := func(err error) error {
		var exceeded *listBytesExceeded
		if errors.As(err, &exceeded) {
			return &TagListError{Repository: repo.Name(), Limit: exceeded.limit, Unit: "bytes", Flag: "--max-tag-list-bytes"}
		}
		return err
	}
	lister, err := p.Lister(ctx, repo)
	if err != nil {
		return nil, tooLarge(err)
	}
	var tags []string
	for lister.HasNext() {
		page, err := lister.Next(ctx)
		if err != nil {
			return nil, tooLarge(err)
		}
		if len(tags)+len(page.Tags) > caps.maxTags {
			return nil, &TagListError{Repository: repo.Name(), Limit: int64(caps.maxTags), Unit: "tags", Flag: "--max-tags"}
		}
		tags = append(tags, page.Tags...)
	}
	if tags == nil {
		tags = []string{}
	}
	return tags, nil
}

func (c *client) headDigest(ctx context.Context, ref name.Tag, a access) (string, error) {
	p, err := c.puller(a.policy, a.cred, ref.Context())
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
func (c *client) imageInfo(ctx context.Context, ref name.Digest, a access) (imageInfo, error) {
	p, err := c.puller(a.policy, a.cred, ref.Context())
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
