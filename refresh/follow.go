package refresh

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"

	"github.com/argocd-image-resolver/argocd-image-resolver/imagespec"
	"github.com/argocd-image-resolver/argocd-image-resolver/resolve"
)

// Errors of the follow source, beside resolve.ErrNotFollowed.
var (
	// ErrInvalidAppName: a follow spec names no valid Application (the
	// error also wraps resolve.ErrNotFollowed).
	ErrInvalidAppName = errors.New("not a valid Application name")
	// ErrAmbiguousFollow: the followed Application renders or runs
	// several versions of the repository.
	ErrAmbiguousFollow = errors.New("the followed Application uses several versions of this image")
)

// FollowError is a follow spec the source cannot answer: which Application
// and repository, why (Err: wrapping resolve.ErrNotFollowed when the
// Application is unknown or uses no image of the repository,
// ErrAmbiguousFollow, or a failure to read its status) and what to do.
type FollowError struct {
	// App is the Application as the spec names it.
	App        string
	Repository string
	Err        error
	Hint       string
}

func (e *FollowError) Error() string {
	msg := fmt.Sprintf("Application %s, image %s: %v", e.App, e.Repository, e.Err)
	if e.Hint != "" {
		msg += "; " + e.Hint
	}
	return msg
}

func (e *FollowError) Unwrap() error { return e.Err }

// Follow answers follow specs (it implements resolve.FollowSource): which
// version of a repository another Application renders. It answers from the
// tracker's record of that Application, which also knows since when it
// renders that digest and what it rendered before. An Application the
// plugin does not render (or whose record names no image of the
// repository) is read from its status.summary.images through a
// StatusReader, when one is given: what its live resources run, with no
// since time. App names are author input: they are checked to be
// Kubernetes names before they reach a store key or an API call.
type Follow struct {
	tracker *Tracker
	status  StatusReader
}

// FollowOption configures a Follow.
type FollowOption func(*Follow)

// WithStatusFallback reads Applications the tracker has no answer for
// through s (the Kubernetes refresh backend). Without it (the Argo CD API
// backend, or none) only Applications the plugin renders can be followed.
func WithStatusFallback(s StatusReader) FollowOption {
	return func(f *Follow) { f.status = s }
}

// NewFollow answers follow specs from t.
func NewFollow(t *Tracker, opts ...FollowOption) *Follow {
	f := &Follow{tracker: t}
	for _, o := range opts {
		o(f)
	}
	return f
}

var _ resolve.FollowSource = (*Follow)(nil)

// Followed implements resolve.FollowSource. app is "<name>" (in the
// tracker's default namespace, Argo CD's control-plane namespace) or
// "<namespace>/<name>"; repository is matched in the tracker's canonical
// spelling.
func (f *Follow) Followed(ctx context.Context, app, repository string) (resolve.Followed, error) {
	fail := func(err error, hint string) (resolve.Followed, error) {
		return resolve.Followed{}, &FollowError{App: app, Repository: repository, Err: err, Hint: hint}
	}
	ns, name, err := f.parseApp(app)
	if err != nil {
		return fail(err, `name it "<name>" (in namespace `+f.tracker.defaultNS+`) or "<namespace>/<name>", as kubectl get applications -A shows it`)
	}
	key := ns + "/" + name
	repo := f.tracker.canonical(repository)
	recs, readErr := f.tracker.codecs.read(ctx, f.tracker.store, []string{key})
	f.tracker.failed("follow", readErr)
	rec, tracked := recs[key]
	if tracked {
		got, err := f.fromRecord(key, rec, repo)
		if err != nil || got != nil {
			if err != nil {
				return fail(err, "follow an Application that renders one version of "+repo)
			}
			return *got, nil
		}
	}
	if f.status == nil {
		why := "the plugin has no record of " + key + " rendering " + repo
		if tracked {
			why = "the images " + key + " renders through the plugin include no " + repo
		}
		return fail(fmt.Errorf("%w (%s)", resolve.ErrNotFollowed, why),
			"check the Application's name and namespace and that it deploys "+repo+"; Applications the plugin does not render can be followed only with the kubernetes refresh backend, which reads their status.summary.images")
	}
	return f.fromStatus(ctx, key, ns, name, repo, tracked, fail)
}

// parseApp splits and checks an Application named by a follow spec, by
// the rule of the follow option (package imagespec).
func (f *Follow) parseApp(app string) (namespace, name string, err error) {
	namespace, name, err = imagespec.ParseAppName(strings.TrimSpace(app))
	if err != nil {
		return "", "", fmt.Errorf("%w: %w: %q: %w", resolve.ErrNotFollowed, ErrInvalidAppName, app, err)
	}
	if namespace == "" {
		namespace = f.tracker.defaultNS
	}
	return namespace, name, nil
}

// fromRecord answers from the tracker's record: nil when it renders no
// image of repo.
func (f *Follow) fromRecord(key string, rec tracked, repo string) (*resolve.Followed, error) {
	var found *resolve.Followed
	var versions []string
	for _, r := range rec.rendered {
		if r.Paused || (r.Tag == "" && r.Digest == "") || f.tracker.canonical(r.Image) != repo {
			continue
		}
		got := resolve.Followed{App: key, Project: rec.app.Project, Tag: r.Tag, Digest: r.Digest, From: resolve.FollowFromTracker}
		if st, ok := rec.images[r.Alias]; ok && st.Tag == r.Tag && st.Digest == r.Digest {
			got.Since = st.Since
			if p := st.Prev; p != nil && (p.Tag != "" || p.Digest != "") {
				got.Previous = &resolve.Followed{App: key, Project: rec.app.Project, Tag: p.Tag, Digest: p.Digest,
					Since: p.Since, From: resolve.FollowFromTracker}
			}
		}
		versions = append(versions, r.Alias+"="+entryVersion(r.Tag, r.Digest, true))
		switch {
		case found == nil:
			found = &got
		case found.Tag != got.Tag || found.Digest != got.Digest:
			return nil, fmt.Errorf("%w: %s", ErrAmbiguousFollow, strings.Join(versions, ", "))
		case !got.Since.IsZero() && (found.Since.IsZero() || got.Since.Before(found.Since)):
			found = &got
		}
	}
	return found, nil
}

// fromStatus answers from the Application's status.summary.images.
func (f *Follow) fromStatus(ctx context.Context, key, ns, name, repo string, tracked bool,
	fail func(error, string) (resolve.Followed, error)) (resolve.Followed, error) {
	st, err := f.status.AppImages(ctx, ns, name)
	if errors.Is(err, ErrAppNotFound) {
		return fail(fmt.Errorf("%w (there is no Application %s)", resolve.ErrNotFollowed, key),
			`check the name: "<name>" is looked up in namespace `+f.tracker.defaultNS+`, "<namespace>/<name>" elsewhere`)
	}
	if err != nil {
		return fail(err, "")
	}
	var found *resolve.Followed
	var versions []string
	for _, img := range st.Images {
		ref, digest, _ := strings.Cut(strings.TrimSpace(img), "@")
		tag := ""
		if colon := strings.LastIndexByte(ref, ':'); colon > strings.LastIndexByte(ref, '/') {
			ref, tag = ref[:colon], ref[colon+1:]
		}
		if f.tracker.canonical(ref) != repo {
			continue
		}
		if tag == "" && digest == "" {
			tag = "latest"
		}
		if v := entryVersion(tag, digest, true); !slices.Contains(versions, v) {
			versions = append(versions, v)
		}
		got := resolve.Followed{App: key, Project: st.Project, Tag: tag, Digest: digest, From: resolve.FollowFromStatus}
		switch {
		case found == nil:
			found = &got
		case found.Tag == got.Tag && (found.Digest == got.Digest || got.Digest == ""):
		case found.Tag == got.Tag && found.Digest == "":
			found = &got // the same tag, now with its digest
		default:
			return fail(fmt.Errorf("%w: it runs %s", ErrAmbiguousFollow, strings.Join(versions, ", ")),
				"follow an Application that runs one version of "+repo)
		}
	}
	if found == nil {
		why := "its status.summary.images names no " + repo
		if !tracked {
			why = "the plugin has no record of " + key + " rendering " + repo + ", and " + why
		}
		return fail(fmt.Errorf("%w (%s)", resolve.ErrNotFollowed, why),
			"check that the Application deploys "+repo+" and has synced (its status lists the images of its live resources)")
	}
	return *found, nil
}

// FollowLater is a resolve.FollowSource that answers through a Follow
// bound after it was handed out: serve builds the resolver, which takes
// the source, before the tracker, which spells repositories as the
// resolver does. Unbound, it answers that nothing is followed yet.
type FollowLater struct {
	follow atomic.Pointer[Follow]
}

// Bind makes f answer.
func (l *FollowLater) Bind(f *Follow) { l.follow.Store(f) }

// Followed implements resolve.FollowSource.
func (l *FollowLater) Followed(ctx context.Context, app, repository string) (resolve.Followed, error) {
	f := l.follow.Load()
	if f == nil {
		return resolve.Followed{}, &FollowError{App: app, Repository: repository,
			Err: fmt.Errorf("%w (the plugin's record of rendered Applications is not set up yet)", resolve.ErrNotFollowed)}
	}
	return f.Followed(ctx, app, repository)
}
