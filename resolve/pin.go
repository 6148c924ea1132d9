package resolve

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"

	"github.com/argocd-image-resolver/argocd-image-resolver/imagespec"
)

// ErrPinNotFound means a pinned tag does not exist in the registry;
// PinError matches it with errors.Is.
var ErrPinNotFound = errors.New("pinned tag not found")

// PinError is a pin (override-tag, overrideTag in the values, the tag path
// in helm-parameters) naming a tag the registry answers 404 for. Rendering
// it would deploy an image no node can pull.
type PinError struct {
	Alias    string
	Image    string
	Tag      string
	Registry string
	// Status is the registry's HTTP answer, Code its error code when the
	// answer had one (HEAD answers have no body).
	Status int
	Code   string
}

func (e *PinError) Error() string {
	answer := fmt.Sprintf("HTTP %d", e.Status)
	if e.Code != "" {
		answer += " " + e.Code
	}
	return fmt.Sprintf("%s (%s): pinned tag %s does not exist in registry %s (it answered %s to HEAD); push the tag, or pin one the registry has",
		e.Alias, e.Image, e.Tag, e.Registry, answer)
}

// Is makes errors.Is(err, ErrPinNotFound) true.
func (e *PinError) Is(target error) bool { return target == ErrPinNotFound }

// resolvePin checks a pinned tag with one HEAD through the digest layer
// (cached like any digest, stale copies used when the registry fails). A
// 404 fails; any other failure (unreachable, 5xx, credentials) keeps the
// pin, logs a warning and records it in Result.Warning, so an emergency
// rollback never waits for the registry.
func (r *Resolver) resolvePin(ctx context.Context, spec Spec, repo name.Repository, acc access, res Result) (Result, error) {
	res.Tag, res.Pinned, res.ResolvedAt = spec.Options.OverrideTag, true, r.now()
	res.Rule = imagespec.OptOverrideTag
	tr := &trace{}
	meta := &repoMetadata{ctx: ctx, r: r, repo: repo, spec: spec, access: acc, trace: tr}
	digest, err := meta.Digest(res.Tag)
	if err == nil {
		res.Digest, res.Source = digest, tr.source()
		return r.verifyPin(meta, res)
	}
	// statusCode also reads a failure another replica recorded in the
	// shared negative cache.
	if statusCode(err) == http.StatusNotFound {
		pe := &PinError{Alias: spec.Alias, Image: spec.Image, Tag: res.Tag, Registry: res.Registry, Status: http.StatusNotFound}
		var te *transport.Error
		if errors.As(err, &te) && len(te.Errors) > 0 {
			pe.Code = string(te.Errors[0].Code)
		}
		return res, r.fail(spec, res.Registry, pe)
	}
	if ctxErr := ctx.Err(); ctxErr != nil || spec.Options.Verify != "" {
		// A pin under verify is never rendered unchecked.
		return res, r.fail(spec, res.Registry, err)
	}
	res.Warning = "pinned tag not checked: " + r.secrets.scrub(err.Error())
	r.log.Warn("pinned tag not checked; using the pin",
		"alias", spec.Alias, "image", spec.Image, "registry", res.Registry, "tag", res.Tag,
		"error", r.secrets.scrub(err.Error()))
	return res, nil
}

// verifyPin holds a pin to the spec's signature policy, if it has one: a
// pin is an emergency rollback, not a way around verify.
func (r *Resolver) verifyPin(meta *repoMetadata, res Result) (Result, error) {
	vg, err := r.verifyGateFor(meta)
	if err != nil || vg == nil {
		if err != nil {
			return res, r.fail(meta.spec, res.Registry, err)
		}
		return res, nil
	}
	held, err := vg.check(res.Tag, res.Digest)
	if err == nil && held != nil {
		err = fmt.Errorf("pinned tag %s: %s", res.Tag, held.Reason)
	}
	if err != nil {
		return res, r.fail(meta.spec, res.Registry, err)
	}
	res.Gates = append(res.Gates, vg.label())
	return res, nil
}
