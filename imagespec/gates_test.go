package imagespec

import (
	"strings"
	"testing"
	"time"
)

func TestParseAge(t *testing.T) {
	tests := []struct {
		in      string
		want    time.Duration
		wantErr string
	}{
		{in: "24h", want: 24 * time.Hour},
		{in: "90m", want: 90 * time.Minute},
		{in: "7d", want: 7 * 24 * time.Hour},
		{in: "0", want: 0},
		{in: "0d", want: 0},
		{in: "-1h", wantErr: "not an age"},
		{in: "1w", wantErr: "not an age"},
		{in: "d", wantErr: "not an age"},
		{in: "366d", wantErr: "at most"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseAge(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("ParseAge(%q) = %v, %v; want error containing %q", tt.in, got, err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("ParseAge(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
			}
		})
	}
}

func TestGateOptions(t *testing.T) {
	day := 24 * time.Hour
	zero := time.Duration(0)
	tests := []struct {
		name    string
		image   string
		options map[string]string
		check   func(t *testing.T, o Options)
		wantErr string
	}{
		{
			name:    "min-age in days from first sight",
			options: map[string]string{"web.min-age": "1d"},
			check: func(t *testing.T, o Options) {
				if o.MinAge == nil || *o.MinAge != day || o.MinAgeSource != "" {
					t.Fatalf("MinAge %v source %q", o.MinAge, o.MinAgeSource)
				}
			},
		},
		{
			name:    "min-age 0 turns a registry default off",
			options: map[string]string{"web.min-age": "0", "web.min-age-source": "created"},
			check: func(t *testing.T, o Options) {
				if o.MinAge == nil || *o.MinAge != zero || o.MinAgeSource != AgeCreated {
					t.Fatalf("MinAge %v source %q", o.MinAge, o.MinAgeSource)
				}
			},
		},
		{
			name:    "verify and annotate",
			options: map[string]string{"web.verify": "ci-keyless", "web.annotate": "true"},
			check: func(t *testing.T, o Options) {
				if o.Verify != "ci-keyless" || !o.Annotate {
					t.Fatalf("Verify %q Annotate %v", o.Verify, o.Annotate)
				}
			},
		},
		{
			name:    "follow with namespace and min-age",
			options: map[string]string{"web.follow": "team-a/web-staging", "web.follow-min-age": "2h"},
			check: func(t *testing.T, o Options) {
				if o.Follow != "team-a/web-staging" || o.FollowMinAge != 2*time.Hour {
					t.Fatalf("Follow %q FollowMinAge %v", o.Follow, o.FollowMinAge)
				}
			},
		},
		{name: "min-age not an age", options: map[string]string{"web.min-age": "soon"}, wantErr: `min-age "soon": not an age`},
		{name: "min-age-source unknown", options: map[string]string{"web.min-age-source": "pushed"}, wantErr: "allowed: first-seen"},
		{name: "verify names a file", options: map[string]string{"web.verify": "/etc/cosign.pub"}, wantErr: "name a signature policy"},
		{name: "verify names a variable", options: map[string]string{"web.verify": "env:KEY"}, wantErr: "name a signature policy"},
		{name: "follow a path", options: map[string]string{"web.follow": "../../etc"}, wantErr: "name an Application"},
		{name: "follow too deep", options: map[string]string{"web.follow": "a/b/c"}, wantErr: "name an Application"},
		{name: "follow upper case", options: map[string]string{"web.follow": "Staging"}, wantErr: "name an Application"},
		{name: "follow with a strategy", options: map[string]string{"web.follow": "staging", "web.update-strategy": "newest-build"}, wantErr: "update-strategy does not apply"},
		{name: "follow with a constraint", image: "web=ghcr.io/acme/web:^1", options: map[string]string{"web.follow": "staging"}, wantErr: `constraint "^1"`},
		{name: "follow-min-age alone", options: map[string]string{"web.follow-min-age": "1h"}, wantErr: "needs follow"},
		{name: "min-age with the digest strategy", options: map[string]string{"web.min-age": "1h", "web.update-strategy": "digest"}, wantErr: "use newest-build"},
		{name: "annotate not a flag", options: map[string]string{"web.annotate": "yes please"}, wantErr: `want "true" or "false"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			image := tt.image
			if image == "" {
				image = "web=ghcr.io/acme/web"
			}
			specs, err := ParseAll([]string{image}, tt.options)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v; want it to contain %q", err, tt.wantErr)
				}
				if !strings.Contains(err.Error(), "web") {
					t.Fatalf("err %q does not name the alias", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, specs[0].Options)
		})
	}
}
