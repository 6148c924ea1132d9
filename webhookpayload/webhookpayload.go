// Package webhookpayload decodes the push notifications of container
// registries (Docker Hub, GitHub Packages, Harbor, Quay, CNCF
// distribution, and the generic form the notify command sends) into the
// repositories and tags they report, and signs and verifies their bodies.
// Repositories come out as the registry names them, tag and digest
// removed; the receiver spells them canonically (it knows registries.conf,
// this package does not). It depends on go-containerregistry's name
// package and imagespec (whose rule of what names a repository it
// applies) only, so that its fuzz target runs fast.
package webhookpayload

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"sort"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"

	"github.com/argocd-image-resolver/argocd-image-resolver/imagespec"
)

// Providers accepted by Parse (the `type` query parameter of the
// receiver).
const (
	DockerHub    = "dockerhub"
	GHCR         = "ghcr"
	Harbor       = "harbor"
	Quay         = "quay"
	Distribution = "distribution"
	Generic      = "generic"
)

// Providers lists the accepted provider names, sorted.
func Providers() []string {
	p := []string{DockerHub, GHCR, Harbor, Quay, Distribution, Generic}
	sort.Strings(p)
	return p
}

// SignatureHeader carries the HMAC-SHA256 of a generic event body as
// "sha256=<hex>"; GitHub sends the same form in GitHubSignatureHeader.
const (
	SignatureHeader       = "X-Signature-256"
	GitHubSignatureHeader = "X-Hub-Signature-256"
	GitHubEventHeader     = "X-GitHub-Event"
)

var (
	// ErrUnknown is returned for a provider name Parse does not know.
	ErrUnknown = errors.New("unknown webhook type")
	// ErrMalformed wraps every payload that cannot be decoded or lacks the
	// repository.
	ErrMalformed = errors.New("malformed webhook payload")
	// ErrIgnored is returned for well-formed events that are not an image
	// push (a delete, a blob upload, an npm package...). Receivers
	// acknowledge them without acting.
	ErrIgnored = errors.New("webhook event is not an image push")
)

// PushEvent is one image push a registry reported.
type PushEvent struct {
	// Repository is the repository as the registry names it, without tag
	// or digest ("docker.io/library/nginx", "ghcr.io/acme/web"; a generic
	// event may name "nginx"). Receivers spell it canonically before
	// comparing (resolve.Resolver.CanonicalRepository).
	Repository string `json:"repository"`
	Tag        string `json:"tag,omitempty"`
	Digest     string `json:"digest,omitempty"`
}

// GenericEvent is the body of a `generic` webhook, as the notify command
// sends it.
type GenericEvent struct {
	Repository string `json:"repository"`
	Tag        string `json:"tag,omitempty"`
	Digest     string `json:"digest,omitempty"`
}

// Parse decodes a registry's push notification into the pushes it
// reports. provider is one of Providers. It returns ErrUnknown,
// ErrMalformed or ErrIgnored (wrapped with the detail) when the body does
// not describe at least one push.
func Parse(provider string, body []byte) ([]PushEvent, error) {
	var (
		events []PushEvent
		err    error
	)
	switch provider {
	case DockerHub:
		events, err = parseDockerHub(body)
	case GHCR:
		events, err = parseGHCR(body)
	case Harbor:
		events, err = parseHarbor(body)
	case Quay:
		events, err = parseQuay(body)
	case Distribution:
		events, err = parseDistribution(body)
	case Generic:
		events, err = parseGeneric(body)
	default:
		return nil, fmt.Errorf("%w %q: use one of %s", ErrUnknown, provider, strings.Join(Providers(), ", "))
	}
	if err != nil {
		return nil, fmt.Errorf("%s webhook: %w", provider, err)
	}
	return events, nil
}

func malformed(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrMalformed, fmt.Sprintf(format, args...))
}

func ignored(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrIgnored, fmt.Sprintf(format, args...))
}

func decodeJSON(body []byte, v any) error {
	if err := json.Unmarshal(body, v); err != nil {
		return malformed("invalid JSON: %v", err)
	}
	return nil
}

// repository turns a repository or a full reference (with tag or digest)
// into the repository as written, tag and digest removed. It applies no
// default registry or namespace: which registry a name without one means
// is registries.conf's to say, and the receiver's canonicaliser knows it.
func repository(ref string) (string, error) {
	ref = strings.TrimSpace(ref)
	if ref == "" {
		return "", malformed("no repository in the payload")
	}
	if _, err := name.ParseReference(ref, name.WeakValidation); err != nil {
		return "", malformed("repository %q: %v", ref, err)
	}
	repo, _, _ := strings.Cut(ref, "@")
	if colon := strings.LastIndexByte(repo, ':'); colon > strings.LastIndexByte(repo, '/') {
		repo = repo[:colon]
	}
	// A name no image spec could hold ("." passes go-containerregistry)
	// names nothing to invalidate.
	if err := imagespec.CheckRepository(repo); err != nil {
		return "", malformed("%v", err)
	}
	return repo, nil
}

// Docker Hub: https://docs.docker.com/docker-hub/repos/manage/webhooks/
type dockerHubPayload struct {
	PushData struct {
		Tag string `json:"tag"`
	} `json:"push_data"`
	Repository struct {
		RepoName  string `json:"repo_name"`
		Namespace string `json:"namespace"`
		Name      string `json:"name"`
	} `json:"repository"`
}

func parseDockerHub(body []byte) ([]PushEvent, error) {
	var p dockerHubPayload
	if err := decodeJSON(body, &p); err != nil {
		return nil, err
	}
	repo := p.Repository.RepoName
	if repo == "" && p.Repository.Name != "" {
		repo = p.Repository.Namespace + "/" + p.Repository.Name
	}
	if repo == "" {
		return nil, malformed("repository.repo_name is empty")
	}
	canon, err := repository("docker.io/" + strings.TrimPrefix(repo, "/"))
	if err != nil {
		return nil, err
	}
	return []PushEvent{{Repository: canon, Tag: p.PushData.Tag}}, nil
}

// GitHub Packages `package` / `registry_package` events:
// https://docs.github.com/en/webhooks/webhook-events-and-payloads#package
type ghcrPackageVersion struct {
	Version           string `json:"version"`
	PackageURL        string `json:"package_url"`
	ContainerMetadata *struct {
		Tag struct {
			Name   string `json:"name"`
			Digest string `json:"digest"`
		} `json:"tag"`
	} `json:"container_metadata"`
}

type ghcrPackage struct {
	Name           string                 `json:"name"`
	Namespace      string                 `json:"namespace"`
	PackageType    string                 `json:"package_type"`
	Ecosystem      string                 `json:"ecosystem"`
	Owner          struct{ Login string } `json:"owner"`
	PackageVersion *ghcrPackageVersion    `json:"package_version"`
}

type ghcrPayload struct {
	Action          string       `json:"action"`
	Package         *ghcrPackage `json:"package"`
	RegistryPackage *ghcrPackage `json:"registry_package"`
}

func parseGHCR(body []byte) ([]PushEvent, error) {
	var p ghcrPayload
	if err := decodeJSON(body, &p); err != nil {
		return nil, err
	}
	pkg := p.Package
	if pkg == nil {
		pkg = p.RegistryPackage
	}
	if pkg == nil {
		return nil, malformed("no package object (expected a GitHub package event)")
	}
	if p.Action != "published" && p.Action != "updated" {
		return nil, ignored("package action %q", p.Action)
	}
	kind := strings.ToLower(pkg.PackageType)
	if kind == "" {
		kind = strings.ToLower(pkg.Ecosystem)
	}
	if kind != "container" && kind != "docker" {
		return nil, ignored("package type %q is not a container", pkg.PackageType)
	}
	var ev PushEvent
	if v := pkg.PackageVersion; v != nil {
		if v.ContainerMetadata != nil {
			ev.Tag = v.ContainerMetadata.Tag.Name
			ev.Digest = v.ContainerMetadata.Tag.Digest
		}
		if ev.Digest == "" && strings.HasPrefix(v.Version, "sha256:") {
			ev.Digest = v.Version
		}
		if v.PackageURL != "" {
			canon, err := repository(v.PackageURL)
			if err != nil {
				return nil, err
			}
			ev.Repository = canon
			return []PushEvent{ev}, nil
		}
	}
	owner := pkg.Namespace
	if owner == "" {
		owner = pkg.Owner.Login
	}
	pkgName, err := url.PathUnescape(pkg.Name)
	if err != nil || owner == "" || pkgName == "" {
		return nil, malformed("package name %q or owner %q missing or invalid", pkg.Name, owner)
	}
	canon, err := repository("ghcr.io/" + strings.ToLower(owner) + "/" + strings.ToLower(pkgName))
	if err != nil {
		return nil, err
	}
	ev.Repository = canon
	return []PushEvent{ev}, nil
}

// Harbor: https://goharbor.io/docs/main/working-with-projects/project-configuration/configure-webhooks/
type harborPayload struct {
	Type      string `json:"type"`
	EventData struct {
		Resources []struct {
			Digest      string `json:"digest"`
			Tag         string `json:"tag"`
			ResourceURL string `json:"resource_url"`
		} `json:"resources"`
		Repository struct {
			RepoFullName string `json:"repo_full_name"`
		} `json:"repository"`
	} `json:"event_data"`
}

func parseHarbor(body []byte) ([]PushEvent, error) {
	var p harborPayload
	if err := decodeJSON(body, &p); err != nil {
		return nil, err
	}
	switch p.Type {
	case "PUSH_ARTIFACT", "pushImage":
	case "":
		return nil, malformed("no event type")
	default:
		return nil, ignored("harbor event %q", p.Type)
	}
	if len(p.EventData.Resources) == 0 {
		return nil, malformed("event_data.resources is empty")
	}
	var events []PushEvent
	for _, r := range p.EventData.Resources {
		if r.ResourceURL == "" {
			return nil, malformed("resource without resource_url (repository %q)", p.EventData.Repository.RepoFullName)
		}
		canon, err := repository(r.ResourceURL)
		if err != nil {
			return nil, err
		}
		events = append(events, PushEvent{Repository: canon, Tag: r.Tag, Digest: r.Digest})
	}
	return events, nil
}

// Quay "Push to Repository" notification:
// https://docs.quay.io/guides/notifications.html
type quayPayload struct {
	Repository  string   `json:"repository"`
	DockerURL   string   `json:"docker_url"`
	UpdatedTags []string `json:"updated_tags"`
}

func parseQuay(body []byte) ([]PushEvent, error) {
	var p quayPayload
	if err := decodeJSON(body, &p); err != nil {
		return nil, err
	}
	ref := p.DockerURL
	if ref == "" && p.Repository != "" {
		ref = "quay.io/" + p.Repository
	}
	canon, err := repository(ref)
	if err != nil {
		return nil, err
	}
	if len(p.UpdatedTags) == 0 {
		return []PushEvent{{Repository: canon}}, nil
	}
	events := make([]PushEvent, 0, len(p.UpdatedTags))
	for _, t := range p.UpdatedTags {
		events = append(events, PushEvent{Repository: canon, Tag: t})
	}
	return events, nil
}

// CNCF distribution notifications envelope:
// https://distribution.github.io/distribution/about/notifications/
type distributionEnvelope struct {
	Events *[]struct {
		Action string `json:"action"`
		Target struct {
			MediaType  string `json:"mediaType"`
			Digest     string `json:"digest"`
			Repository string `json:"repository"`
			URL        string `json:"url"`
			Tag        string `json:"tag"`
		} `json:"target"`
		Request struct {
			Host string `json:"host"`
		} `json:"request"`
	} `json:"events"`
}

func isManifestMediaType(mt string) bool {
	return strings.Contains(mt, "manifest") || strings.Contains(mt, "image.index")
}

func parseDistribution(body []byte) ([]PushEvent, error) {
	var p distributionEnvelope
	if err := decodeJSON(body, &p); err != nil {
		return nil, err
	}
	if p.Events == nil {
		return nil, malformed("no events array")
	}
	var events []PushEvent
	for _, e := range *p.Events {
		if e.Action != "push" || (e.Target.Tag == "" && !isManifestMediaType(e.Target.MediaType)) {
			continue
		}
		host := e.Request.Host
		if u, err := url.Parse(e.Target.URL); err == nil && u.Host != "" {
			host = u.Host
		}
		if host == "" || e.Target.Repository == "" {
			return nil, malformed("push event without registry host or repository")
		}
		canon, err := repository(host + "/" + e.Target.Repository)
		if err != nil {
			return nil, err
		}
		events = append(events, PushEvent{Repository: canon, Tag: e.Target.Tag, Digest: e.Target.Digest})
	}
	if len(events) == 0 {
		return nil, ignored("no manifest push among %d events", len(*p.Events))
	}
	return events, nil
}

func parseGeneric(body []byte) ([]PushEvent, error) {
	var p GenericEvent
	if err := decodeJSON(body, &p); err != nil {
		return nil, err
	}
	canon, err := repository(p.Repository)
	if err != nil {
		return nil, err
	}
	return []PushEvent{{Repository: canon, Tag: p.Tag, Digest: p.Digest}}, nil
}

// Sign returns the signature header value ("sha256=<hex>") of body
// under secret, as GitHub and the generic receiver expect it.
func Sign(secret, body []byte) string {
	m := hmac.New(sha256.New, secret)
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

// VerifySignature checks a "sha256=<hex>" header against body in
// constant time. The error says what is wrong, never the expected value.
func VerifySignature(secret, body []byte, header string) error {
	if header == "" {
		return errors.New("signature header missing")
	}
	hexSig, ok := strings.CutPrefix(header, "sha256=")
	if !ok {
		return errors.New(`signature must have the form "sha256=<hex>"`)
	}
	got, err := hex.DecodeString(hexSig)
	if err != nil {
		return errors.New("signature is not hexadecimal")
	}
	m := hmac.New(sha256.New, secret)
	m.Write(body)
	if !hmac.Equal(got, m.Sum(nil)) {
		return errors.New("signature does not match the body")
	}
	return nil
}
