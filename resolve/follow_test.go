package resolve

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

// followTable answers follow lookups from a table: the rules under test
// are resolve's (projects, follow-min-age, tags); the tracker that answers
// in serve is tested in package refresh and end to end.
type followTable map[string]Followed

func (f followTable) Followed(_ context.Context, app, repository string) (Followed, error) {
	got, ok := f[app+" "+repository]
	if !ok {
		return Followed{}, fmt.Errorf("%s renders no image of %s: %w", app, repository, ErrNotFollowed)
	}
	return got, nil
}

func TestFollowRules(t *testing.T) {
	reg := newTestRegistry(t)
	clock := newFakeClock()
	now := clock.Now()
	digests := pushTags(t, reg.host, "acme/web", now, nil, "1.4.0", "1.5.0")
	repo := reg.host + "/acme/web"
	staging := Followed{App: "argocd/web-staging", Project: "staging", Tag: "1.5.0", Digest: digests["1.5.0"], Since: now.Add(-30 * time.Minute), From: FollowFromTracker,
		Previous: &Followed{App: "argocd/web-staging", Tag: "1.4.0", Digest: digests["1.4.0"], Since: now.Add(-50 * time.Hour)}}
	fromStatus := Followed{App: "argocd/web-qa", Project: "staging", Tag: "1.5.0", From: FollowFromStatus}
	digestOnly := Followed{App: "argocd/web-dev", Project: "staging", Digest: digests["1.4.0"], From: FollowFromStatus}
	table := followTable{
		"web-staging " + repo: staging, "web-qa " + repo: fromStatus, "web-dev " + repo: digestOnly,
	}
	conf, err := ParseRegistriesConfig([]byte("follow:\n  production: [staging]\n"))
	if err != nil {
		t.Fatal(err)
	}
	r := newTestResolver(t, WithFollowSource(table), WithRegistriesConfig(conf), WithClock(clock.Now))

	tests := []struct {
		name       string
		project    string
		options    map[string]string
		wantTag    string
		wantDigest string
		wantErr    string
		// mustNotSay: what an author of another project must not learn.
		mustNotSay []string
	}{
		{name: "same project", project: "staging", options: map[string]string{"web.follow": "web-staging"}, wantTag: "1.5.0", wantDigest: digests["1.5.0"]},
		{name: "allowed across projects", project: "production", options: map[string]string{"web.follow": "web-staging"}, wantTag: "1.5.0"},
		{name: "not allowed across projects", project: "team-b", options: map[string]string{"web.follow": "web-staging"},
			wantErr: `no Application "web-staging" that AppProject "team-b" may follow deploys`, mustNotSay: []string{`"staging"`, "1.5.0", digests["1.5.0"]}},
		{name: "unknown application", project: "staging", options: map[string]string{"web.follow": "nope"}, wantErr: `no Application "nope" that AppProject "staging" may follow deploys`},
		{name: "follow-min-age keeps the previous version", project: "staging", options: map[string]string{"web.follow": "web-staging", "web.follow-min-age": "2h"},
			wantTag: "1.4.0", wantDigest: digests["1.4.0"]},
		{name: "follow-min-age met", project: "staging", options: map[string]string{"web.follow": "web-staging", "web.follow-min-age": "20m"}, wantTag: "1.5.0"},
		{name: "follow-min-age and nothing older", project: "staging", options: map[string]string{"web.follow": "web-qa", "web.follow-min-age": "1h"},
			wantErr: "since when is unknown (read from its application status)"},
		{name: "status gives a tag: the digest is looked up", project: "staging", options: map[string]string{"web.follow": "web-qa"}, wantTag: "1.5.0", wantDigest: digests["1.5.0"]},
		{name: "a digest without a tag needs pin digest", project: "staging", options: map[string]string{"web.follow": "web-dev"}, wantErr: "set web.pin: digest"},
		{name: "a digest with pin digest", project: "staging", options: map[string]string{"web.follow": "web-dev", "web.pin": "digest"}, wantDigest: digests["1.4.0"]},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			spec := specFor(t, "web="+repo, tt.options)
			spec.Project = tt.project
			res, err := r.ResolveOne(context.Background(), spec)
			if tt.wantErr != "" {
				var fe *FollowError
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !errors.As(err, &fe) {
					t.Fatalf("err = %v; want a FollowError containing %q", err, tt.wantErr)
				}
				for _, secret := range tt.mustNotSay {
					if strings.Contains(err.Error(), secret) {
						t.Fatalf("err %q tells another project %q", err, secret)
					}
				}
				if !strings.Contains(err.Error(), "web ("+repo+")") {
					t.Fatalf("err %q does not name the alias and image", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if res.Tag != tt.wantTag || (tt.wantDigest != "" && res.Digest != tt.wantDigest) || res.Source != SourceFollow || res.Followed == nil || !strings.HasPrefix(res.Rule, "follow ") {
				t.Fatalf("got %+v, want tag %q digest %q", res, tt.wantTag, tt.wantDigest)
			}
		})
	}

	// Without a follow source (one-shot commands) the error says why.
	bare := newTestResolver(t)
	_, err = bare.ResolveOne(context.Background(), specFor(t, "web="+repo, map[string]string{"web.follow": "web-staging"}))
	if err == nil || !strings.Contains(err.Error(), "only serve keeps") {
		t.Fatalf("no follow source: %v", err)
	}
}
