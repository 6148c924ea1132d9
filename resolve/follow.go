package resolve

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// GateFollowMinAge names follow-min-age in Held.Gate.
const GateFollowMinAge = "follow-min-age"

// SourceFollow marks a Result a follow spec took from another Application.
const SourceFollow = "follow"

// FollowError is a follow spec that cannot take a version: the followed
// Application is unknown, in a project it may not follow, or has run
// nothing long enough.
type FollowError struct {
	Alias, Image, App string
	Err               error
}

func (e *FollowError) Error() string {
	return fmt.Sprintf("follow %s: %v", e.App, e.Err)
}

func (e *FollowError) Unwrap() error { return e.Err }

// resolveFollow answers a follow spec with the version the followed
// Application renders (or runs), checked against the registries.conf
// follow rules and follow-min-age. Follow results are not cached: the
// tracker answers from memory or the store.
func (r *Resolver) resolveFollow(ctx context.Context, spec Spec, meta *repoMetadata, res Result) (Result, error) {
	app := spec.Options.Follow
	fail := func(err error) (Result, error) {
		return res, r.fail(spec, res.Registry, &FollowError{Alias: spec.Alias, Image: spec.Image, App: app, Err: err})
	}
	if r.follow == nil {
		return fail(errors.New("follow needs the plugin's record of rendered Applications, which only serve keeps; use resolve with the image's own policy instead"))
	}
	f, err := r.follow.Followed(ctx, app, res.Repository)
	if err == nil && !r.conf.mayFollow(spec.Project, f.Project) {
		err = fmt.Errorf("%w: %s is in AppProject %q, which registries.conf does not let %q follow", ErrNotFollowed, f.App, f.Project, spec.Project)
	}
	if err != nil {
		// Authors learn nothing of Applications they may not follow:
		// not whether one exists, its project or what it runs. The
		// detail goes to the operators' log.
		r.log.Info("follow refused", "alias", spec.Alias, "image", spec.Image, "follow", app, "project", spec.Project, "error", r.secrets.scrub(err.Error()))
		return fail(fmt.Errorf("%w: no Application %q that AppProject %q may follow deploys %s; check the name (<name> in Argo CD's namespace, or <namespace>/<name>), that it deploys this image, and, across AppProjects, registries.conf follow",
			ErrNotFollowed, app, spec.Project, res.Repository))
	}
	now := r.now()
	res.Rule = "follow " + f.App
	pick := f
	if need := spec.Options.FollowMinAge; need > 0 && !ranLongEnough(f, need, now) {
		held := Held{Tag: f.Tag, Digest: f.Digest, Gate: GateFollowMinAge, Reason: followAgeReason(f, need, now)}
		if !f.Since.IsZero() {
			held.EligibleAt = f.Since.Add(need)
		}
		res.HeldBack = []Held{held}
		prev := f.Previous
		if prev == nil || prev.Since.IsZero() || f.Since.Sub(prev.Since) < need {
			return fail(fmt.Errorf("%s; nothing it rendered before ran that long either, so there is no version to render yet", held.Reason))
		}
		pick = *prev
	}
	if pick.Tag == "" && spec.Options.Pin != PinDigest {
		return fail(fmt.Errorf("%s runs %s@%s without a tag; set %s.pin: digest to follow it by digest", f.App, res.Repository, pick.Digest, spec.Alias))
	}
	if pick.Digest == "" {
		d, err := meta.Digest(pick.Tag)
		if err != nil {
			return res, r.fail(spec, res.Registry, err)
		}
		pick.Digest = d
	}
	// A followed version is checked against verify too: the other
	// Application's project may trust other signers.
	vg, err := r.verifyGateFor(meta)
	if err != nil {
		return res, r.fail(spec, res.Registry, err)
	}
	if vg != nil {
		held, err := vg.check(pick.Tag, pick.Digest)
		if err != nil {
			return res, r.fail(spec, res.Registry, err)
		}
		if held != nil {
			return fail(fmt.Errorf("%s renders %s, which verify refuses: %s", f.App, pick.Digest, held.Reason))
		}
		res.Gates = append(res.Gates, vg.label())
	}
	if spec.Options.FollowMinAge > 0 {
		res.Gates = append(res.Gates, "follow-min-age "+formatAge(spec.Options.FollowMinAge))
	}
	res.Tag, res.Digest, res.ResolvedAt, res.Source = pick.Tag, pick.Digest, now, SourceFollow
	followed := f
	res.Followed = &followed
	return res, nil
}

// ranLongEnough reports whether the followed version has been rendered
// for need (an unknown start never has).
func ranLongEnough(f Followed, need time.Duration, now time.Time) bool {
	return !f.Since.IsZero() && now.Sub(f.Since) >= need
}

func followAgeReason(f Followed, need time.Duration, now time.Time) string {
	version := f.Tag
	if version == "" {
		version = f.Digest
	}
	if f.Since.IsZero() {
		return fmt.Sprintf("%s runs %s, since when is unknown (read from its %s); follow-min-age %s", f.App, version, f.From, formatAge(need))
	}
	return fmt.Sprintf("%s has rendered %s for %s; follow-min-age %s", f.App, version, formatAgo(now.Sub(f.Since)), formatAge(need))
}
