package registriesconf

import (
	"strings"
	"testing"
	"time"
)

func TestFollowAndMinAge(t *testing.T) {
	conf, err := Parse([]byte(`
registries:
- name: ghcr
  prefix: ghcr.io
  min-age: 2d
follow:
  production: [staging, qa]
`))
	if err != nil {
		t.Fatal(err)
	}
	if got := conf.Registries[0].MinAge; got != 48*time.Hour {
		t.Fatalf("min-age = %v, want 48h", got)
	}
	for _, tt := range []struct {
		project, followed string
		want              bool
	}{
		{"production", "staging", true},
		{"production", "qa", true},
		{"staging", "production", false},
		{"team-a", "team-a", true},
		{"team-a", "production", false},
	} {
		if got := conf.MayFollow(tt.project, tt.followed); got != tt.want {
			t.Errorf("MayFollow(%q, %q) = %v, want %v", tt.project, tt.followed, got, tt.want)
		}
	}
}

func TestFollowAndMinAgeErrors(t *testing.T) {
	for _, tt := range []struct{ name, conf, want string }{
		{"min-age not an age", "registries:\n- prefix: ghcr.io\n  min-age: tomorrow\n", "line 3: min-age: not an age"},
		{"follow not a map", "follow: [staging]\n", "line 1: `follow` must map"},
		{"follow wildcard", "follow:\n  production: ['*']\n", "no wildcards"},
		{"follow not a list", "follow:\n  production: staging\n", "must be a list"},
		{"unknown top-level key", "folow: {}\n", "the top-level keys are `registries`"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.conf))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v; want it to contain %q", err, tt.want)
			}
		})
	}
}
