package refresh_test

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/argocd-image-resolver/argocd-image-resolver/refresh"
	"github.com/argocd-image-resolver/argocd-image-resolver/resolve"
	"github.com/argocd-image-resolver/argocd-image-resolver/test/clocktest"
)

// fakeStatus answers AppImages from a map keyed "<namespace>/<name>" and
// remembers what it was asked.
type fakeStatus struct {
	apps map[string]refresh.AppImages
	err  error

	mu    sync.Mutex
	asked []string
}

func (s *fakeStatus) AppImages(_ context.Context, namespace, name string) (refresh.AppImages, error) {
	s.mu.Lock()
	s.asked = append(s.asked, namespace+"/"+name)
	s.mu.Unlock()
	if s.err != nil {
		return refresh.AppImages{}, s.err
	}
	a, ok := s.apps[namespace+"/"+name]
	if !ok {
		return refresh.AppImages{}, fmt.Errorf("application %s/%s: %w", namespace, name, refresh.ErrAppNotFound)
	}
	return a, nil
}

// TestFollowFromTheTracker: a followed Application is answered from what
// it rendered: the version, its project, since when it renders that
// digest, and what it rendered before.
func TestFollowFromTheTracker(t *testing.T) {
	ctx := context.Background()
	clock := clocktest.New(t0)
	tr := refresh.NewTracker(refresh.WithTrackerClock(clock.Now), refresh.WithDefaultNamespace("argocd"))
	staging := refresh.App{Name: "web-staging", Namespace: "argocd", Project: "staging"}
	render := func(app refresh.App, results ...resolve.Result) {
		tr.Record(app, specsOf(results), results)
	}
	nginx := resolve.Result{Alias: "proxy", Image: "nginx", Tag: "1.27.0", Digest: digestOf("1.27.0")}
	render(staging, at("web", "1.2.3"), nginx) // t0
	clock.Advance(time.Hour)
	render(staging, at("web", "1.2.3"), nginx) // same digest: since stays t0
	clock.Advance(time.Hour)
	render(staging, at("web", "1.3.0"), nginx) // t0+2h: new digest
	clock.Advance(time.Hour)
	render(staging, at("web", "1.3.0"), nginx)
	other := refresh.App{Name: "web-staging", Namespace: "team-b", Project: "team-b"}
	render(other, at("web", "0.9.0"))
	// A retag: the same digest under a new tag keeps its since.
	retag := refresh.App{Name: "retag", Namespace: "argocd", Project: "default"}
	render(retag, resolve.Result{Alias: "web", Image: "ghcr.io/acme/web", Tag: "1.3.0-rc.1", Digest: digestOf("1.3.0")})
	retagAt := clock.Now()
	clock.Advance(time.Hour)
	render(retag, resolve.Result{Alias: "web", Image: "ghcr.io/acme/web", Tag: "1.3.0", Digest: digestOf("1.3.0")})

	f := refresh.NewFollow(tr)
	for _, tc := range []struct {
		app, repository string
		want            resolve.Followed
	}{
		{
			app: "web-staging", repository: "ghcr.io/acme/web",
			want: resolve.Followed{App: "argocd/web-staging", Project: "staging", Tag: "1.3.0", Digest: digestOf("1.3.0"),
				Since: t0.Add(2 * time.Hour), From: resolve.FollowFromTracker,
				Previous: &resolve.Followed{App: "argocd/web-staging", Project: "staging", Tag: "1.2.3", Digest: digestOf("1.2.3"),
					Since: t0, From: resolve.FollowFromTracker}},
		},
		{
			app: "argocd/web-staging", repository: "index.docker.io/library/nginx",
			want: resolve.Followed{App: "argocd/web-staging", Project: "staging", Tag: "1.27.0", Digest: digestOf("1.27.0"),
				Since: t0, From: resolve.FollowFromTracker},
		},
		{
			app: "team-b/web-staging", repository: "ghcr.io/acme/web",
			want: resolve.Followed{App: "team-b/web-staging", Project: "team-b", Tag: "0.9.0", Digest: digestOf("0.9.0"),
				Since: t0.Add(3 * time.Hour), From: resolve.FollowFromTracker},
		},
		{
			app: "retag", repository: "ghcr.io/acme/web",
			want: resolve.Followed{App: "argocd/retag", Project: "default", Tag: "1.3.0", Digest: digestOf("1.3.0"),
				Since: retagAt, From: resolve.FollowFromTracker},
		},
	} {
		t.Run(tc.app+" "+tc.repository, func(t *testing.T) {
			got, err := f.Followed(ctx, tc.app, tc.repository)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("Followed = %+v (previous %+v)\nwant %+v (previous %+v)", got, got.Previous, tc.want, tc.want.Previous)
			}
		})
	}
}

// TestFollowErrors: an Application that is unknown, does not use the
// repository, uses several versions of it or is not a valid name is an
// error naming the Application and the repository; invalid names never
// reach the store or the API.
func TestFollowErrors(t *testing.T) {
	ctx := context.Background()
	tr := refresh.NewTracker()
	tr.Record(refresh.App{Name: "web", Namespace: "argocd"}, nil, []resolve.Result{at("web", "1.2.3")})
	tr.Record(refresh.App{Name: "two", Namespace: "argocd"}, nil, []resolve.Result{
		at("web", "1.2.3"), {Alias: "worker", Image: "ghcr.io/acme/web", Tag: "1.1.0", Digest: digestOf("1.1.0")}})
	status := &fakeStatus{apps: map[string]refresh.AppImages{}}
	for _, tc := range []struct {
		name, app, repository string
		status                bool
		is                    []error
		says                  []string
	}{
		{name: "unknown", app: "nope", repository: "ghcr.io/acme/web",
			is: []error{resolve.ErrNotFollowed}, says: []string{"argocd/nope", "ghcr.io/acme/web", "no record", "kubernetes refresh backend"}},
		{name: "unknown with status", app: "team-a/nope", repository: "ghcr.io/acme/web", status: true,
			is: []error{resolve.ErrNotFollowed}, says: []string{"no Application team-a/nope", "check the name"}},
		{name: "another image", app: "web", repository: "ghcr.io/acme/api",
			is: []error{resolve.ErrNotFollowed}, says: []string{"include no ghcr.io/acme/api"}},
		{name: "two versions", app: "two", repository: "ghcr.io/acme/web",
			is: []error{refresh.ErrAmbiguousFollow}, says: []string{"web=1.2.3@", "worker=1.1.0@"}},
		{name: "bad name", app: "Web_App", repository: "ghcr.io/acme/web", status: true,
			is: []error{resolve.ErrNotFollowed, refresh.ErrInvalidAppName}, says: []string{`"Web_App"`, `"<namespace>/<name>"`}},
		{name: "bad namespace", app: "team.a/web", repository: "ghcr.io/acme/web", status: true,
			is: []error{resolve.ErrNotFollowed, refresh.ErrInvalidAppName}, says: []string{`"team.a/web"`}},
		{name: "path", app: "argocd/../web", repository: "ghcr.io/acme/web", status: true,
			is: []error{resolve.ErrNotFollowed, refresh.ErrInvalidAppName}},
		{name: "empty", app: "", repository: "ghcr.io/acme/web", status: true,
			is: []error{resolve.ErrNotFollowed, refresh.ErrInvalidAppName}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var opts []refresh.FollowOption
			if tc.status {
				opts = append(opts, refresh.WithStatusFallback(status))
			}
			status.asked = nil
			_, err := refresh.NewFollow(tr, opts...).Followed(ctx, tc.app, tc.repository)
			var fe *refresh.FollowError
			if !errors.As(err, &fe) || fe.App != tc.app || fe.Repository != tc.repository {
				t.Fatalf("err = %v, want a *FollowError naming %q and %q", err, tc.app, tc.repository)
			}
			for _, target := range tc.is {
				if !errors.Is(err, target) {
					t.Errorf("err = %v, want it to wrap %v", err, target)
				}
			}
			for _, s := range append(tc.says, tc.repository) {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("err = %v, want it to say %q", err, s)
				}
			}
			if errors.Is(err, refresh.ErrInvalidAppName) && len(status.asked) > 0 {
				t.Errorf("an invalid name reached the API: %v", status.asked)
			}
		})
	}
}

// TestFollowFromStatus: an Application the plugin does not render is read
// from its status.summary.images: tag and digest as its live resources
// name them, no since time.
func TestFollowFromStatus(t *testing.T) {
	ctx := context.Background()
	tr := refresh.NewTracker(refresh.WithDefaultNamespace("argocd"))
	tr.Record(refresh.App{Name: "rendered", Namespace: "argocd"}, nil, []resolve.Result{at("api", "2.0.0")})
	d := digestOf("x")
	status := &fakeStatus{apps: map[string]refresh.AppImages{
		"argocd/legacy": {Project: "prod", Images: []string{"ghcr.io/acme/web:1.2.3", "ghcr.io/acme/api@" + d, "nginx", "registry.local:5000/tools/cli:2.1"}},
		"team-a/pair":   {Project: "a", Images: []string{"ghcr.io/acme/web:1.2.3", "ghcr.io/acme/web:1.2.3@" + d}},
		"team-a/mixed":  {Project: "a", Images: []string{"ghcr.io/acme/web:1.2.3", "ghcr.io/acme/web:1.3.0"}},
		// Rendered by the plugin, but the image comes from the chart.
		"argocd/rendered": {Project: "default", Images: []string{"ghcr.io/acme/api:2.0.0", "ghcr.io/acme/sidecar:0.3"}},
	}}
	f := refresh.NewFollow(tr, refresh.WithStatusFallback(status))
	for _, tc := range []struct {
		app, repository string
		want            resolve.Followed
		err             error
	}{
		{app: "legacy", repository: "ghcr.io/acme/web",
			want: resolve.Followed{App: "argocd/legacy", Project: "prod", Tag: "1.2.3", From: resolve.FollowFromStatus}},
		{app: "legacy", repository: "ghcr.io/acme/api",
			want: resolve.Followed{App: "argocd/legacy", Project: "prod", Digest: d, From: resolve.FollowFromStatus}},
		{app: "legacy", repository: "index.docker.io/library/nginx",
			want: resolve.Followed{App: "argocd/legacy", Project: "prod", Tag: "latest", From: resolve.FollowFromStatus}},
		{app: "legacy", repository: "registry.local:5000/tools/cli",
			want: resolve.Followed{App: "argocd/legacy", Project: "prod", Tag: "2.1", From: resolve.FollowFromStatus}},
		{app: "team-a/pair", repository: "ghcr.io/acme/web",
			want: resolve.Followed{App: "team-a/pair", Project: "a", Tag: "1.2.3", Digest: d, From: resolve.FollowFromStatus}},
		{app: "rendered", repository: "ghcr.io/acme/sidecar",
			want: resolve.Followed{App: "argocd/rendered", Project: "default", Tag: "0.3", From: resolve.FollowFromStatus}},
		{app: "team-a/mixed", repository: "ghcr.io/acme/web", err: refresh.ErrAmbiguousFollow},
		{app: "legacy", repository: "ghcr.io/acme/db", err: resolve.ErrNotFollowed},
	} {
		t.Run(tc.app+" "+tc.repository, func(t *testing.T) {
			got, err := f.Followed(ctx, tc.app, tc.repository)
			if tc.err != nil {
				if !errors.Is(err, tc.err) {
					t.Fatalf("err = %v, want %v", err, tc.err)
				}
				return
			}
			if err != nil || !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("Followed = %+v, %v\nwant %+v", got, err, tc.want)
			}
		})
	}

	// A failure to read the status is not "not followed": the render
	// fails with it rather than with a wrong answer.
	broken := refresh.NewFollow(tr, refresh.WithStatusFallback(&fakeStatus{err: errors.New("forbidden")}))
	if _, err := broken.Followed(ctx, "legacy", "ghcr.io/acme/web"); err == nil || errors.Is(err, resolve.ErrNotFollowed) || !strings.Contains(err.Error(), "forbidden") {
		t.Fatalf("status read failure: err = %v", err)
	}
}

func TestFollowLater(t *testing.T) {
	ctx := context.Background()
	var l refresh.FollowLater
	if _, err := l.Followed(ctx, "web", "ghcr.io/acme/web"); !errors.Is(err, resolve.ErrNotFollowed) {
		t.Fatalf("unbound: err = %v", err)
	}
	tr := refresh.NewTracker()
	tr.Record(refresh.App{Name: "web", Namespace: "argocd"}, nil, []resolve.Result{at("web", "1.2.3")})
	l.Bind(refresh.NewFollow(tr))
	var src resolve.FollowSource = &l
	if got, err := src.Followed(ctx, "web", "ghcr.io/acme/web"); err != nil || got.Tag != "1.2.3" {
		t.Fatalf("bound: %+v, %v", got, err)
	}
}
