package resolve

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

// verdicts flattens candidates into "tag: reason" (accepted ones marked
// with "+") for comparison.
func verdicts(cs []Candidate) []string {
	out := make([]string, len(cs))
	for i, c := range cs {
		mark := "-"
		if c.Accepted {
			mark = "+"
		}
		out[i] = fmt.Sprintf("%s%s: %s", mark, c.Tag, c.Reason)
	}
	return out
}

func checkVerdicts(t *testing.T, got []Candidate, want []string) {
	t.Helper()
	g := verdicts(got)
	if strings.Join(g, "\n") != strings.Join(want, "\n") {
		t.Fatalf("candidates:\n  %s\nwant:\n  %s", strings.Join(g, "\n  "), strings.Join(want, "\n  "))
	}
}

type strategyCase struct {
	name string
	spec Spec
	tags []string
	meta Metadata
	want string   // chosen tag; "" means ErrNoMatch
	cand []string // expected candidates, in order; nil skips the check
}

func runStrategyCases(t *testing.T, cases []strategyCase) {
	t.Helper()
	for _, tt := range cases {
		t.Run(tt.name, func(t *testing.T) {
			s, err := NewStrategy(tt.spec)
			if err != nil {
				t.Fatalf("NewStrategy: %v", err)
			}
			got, cands, err := s.Pick(tt.tags, tt.meta)
			if tt.want == "" {
				if !errors.Is(err, ErrNoMatch) {
					t.Fatalf("Pick = %q, %v; want ErrNoMatch", got, err)
				}
			} else if err != nil || got != tt.want {
				t.Fatalf("Pick = %q, %v; want %q", got, err, tt.want)
			}
			if len(cands) != len(uniqueTags(tt.tags)) {
				t.Errorf("%d candidates for %d distinct tags", len(cands), len(uniqueTags(tt.tags)))
			}
			if tt.cand != nil {
				checkVerdicts(t, cands, tt.cand)
			}
		})
	}
}

func semverSpec(constraint string) Spec {
	return Spec{Alias: "web", Image: "ghcr.io/acme/web", Constraint: constraint, Options: Options{Strategy: StrategySemver}}
}

// looseSemverSpec reads tags as argocd-image-updater does (strict-semver
// "false"): partial versions and plain numbers count.
func looseSemverSpec(constraint string) Spec {
	s := semverSpec(constraint)
	s.Options.LooseSemver = true
	return s
}

func TestStrategySemver(t *testing.T) {
	issue := []string{"1.5.0", "1.6.0", "1.6.3", "1.7.0", "2.0.0-rc.1", "latest"}
	runStrategyCases(t, []strategyCase{
		{
			name: "issue example: tilde range",
			spec: semverSpec("~1.6"), tags: issue, want: "1.6.3",
			cand: []string{
				`+1.6.3: highest version matching "~1.6"`,
				`-2.0.0-rc.1: outside constraint "~1.6"`,
				`-1.7.0: outside constraint "~1.6"`,
				`-1.6.0: lower than 1.6.3`,
				`-1.5.0: outside constraint "~1.6"`,
				`-latest: not a semantic version`,
			},
		},
		{
			name: "pre-release inside the range but not asked for",
			spec: semverSpec("~1.6"), tags: []string{"1.6.4-rc.1", "1.6.3"}, want: "1.6.3",
			cand: []string{
				`+1.6.3: highest version matching "~1.6"`,
				`-1.6.4-rc.1: pre-release (add -0 to the constraint to allow them, e.g. ^1.0.0-0)`,
			},
		},
		{
			name: "no constraint: highest stable",
			spec: semverSpec(""), tags: issue, want: "1.7.0",
			cand: []string{
				`+1.7.0: highest stable version`,
				`-2.0.0-rc.1: pre-release (add -0 to the constraint to allow them, e.g. ^1.0.0-0)`,
				`-1.6.3: lower than 1.7.0`,
				`-1.6.0: lower than 1.7.0`,
				`-1.5.0: lower than 1.7.0`,
				`-latest: not a semantic version`,
			},
		},
		{
			name: "pre-release constraint admits pre-releases",
			spec: semverSpec(">=2.0.0-rc.0"), tags: issue, want: "2.0.0-rc.1",
		},
		{
			name: "pre-release beats lower release within a pre-release range",
			spec: semverSpec("^2.0.0-0"), tags: []string{"2.0.0-rc.1", "2.0.0-beta.3", "1.9.9"}, want: "2.0.0-rc.1",
			cand: []string{
				`+2.0.0-rc.1: highest version matching "^2.0.0-0"`,
				`-2.0.0-beta.3: lower than 2.0.0-rc.1`,
				`-1.9.9: outside constraint "^2.0.0-0"`,
			},
		},
		{
			name: "v prefix accepted",
			spec: semverSpec("^1"), tags: []string{"v1.2.0", "v1.10.1", "v2.0.0", "main"}, want: "v1.10.1",
		},
		{
			name: "equal versions prefer the canonical spelling",
			spec: semverSpec("~1.2"), tags: []string{"v1.2.3", "1.2.3", "1.2.2"}, want: "1.2.3",
			cand: []string{
				`+1.2.3: highest version matching "~1.2"`,
				`-v1.2.3: same version as 1.2.3, which is preferred`,
				`-1.2.2: lower than 1.2.3`,
			},
		},
		{
			name: "loose: equal non-canonical spellings prefer the smaller tag",
			spec: looseSemverSpec(""), tags: []string{"v1.2", "1.2"}, want: "1.2",
		},
		{
			name: "strict: dates and partial versions are not versions",
			spec: semverSpec(">=1"), tags: []string{"20240601", "1", "1.2", "v1.3", "1.6.3", "v1.6.2", "1.6.3+build.7", "2024.06.01", "1.2.3.4"}, want: "1.6.3",
			cand: []string{
				`+1.6.3: highest version matching ">=1"`,
				`-1.6.3+build.7: same version as 1.6.3, which is preferred`,
				`-v1.6.2: lower than 1.6.3`,
				`-1: partial version: strict-semver wants MAJOR.MINOR.PATCH (set strict-semver: "false" to read it as 1.0.0)`,
				`-1.2: partial version: strict-semver wants MAJOR.MINOR.PATCH (set strict-semver: "false" to read it as 1.2.0)`,
				`-1.2.3.4: not a semantic version`,
				`-2024.06.01: looks like a date, not a version MAJOR.MINOR.PATCH (rank dates with update-strategy alphabetical)`,
				`-20240601: looks like a date, not a version MAJOR.MINOR.PATCH (rank dates with update-strategy alphabetical)`,
				`-v1.3: partial version: strict-semver wants MAJOR.MINOR.PATCH (set strict-semver: "false" to read it as 1.3.0)`,
			},
		},
		{
			name: "loose (argocd-image-updater): a date outranks every version",
			spec: looseSemverSpec(">=1"), tags: []string{"20240601", "1", "1.2", "1.6.3"}, want: "20240601",
			cand: []string{
				`+20240601: highest version matching ">=1"`,
				`-1.6.3: lower than 20240601`,
				`-1.2: lower than 20240601`,
				`-1: lower than 20240601`,
			},
		},
		{
			name: "strict: nothing but partial versions",
			spec: semverSpec(""), tags: []string{"1", "2"}, want: "",
		},
		{
			name: "exact version as constraint",
			spec: semverSpec("1.2.3"), tags: []string{"1.2.4", "v1.2.3", "1.2.2"}, want: "v1.2.3",
		},
		{
			name: "noise tags only",
			spec: semverSpec("~1.6"), tags: []string{"latest", "main", "sha-abc1234"}, want: "",
			cand: []string{
				`-latest: not a semantic version`,
				`-main: not a semantic version`,
				`-sha-abc1234: not a semantic version`,
			},
		},
		{
			name: "only pre-releases without constraint",
			spec: semverSpec(""), tags: []string{"1.0.0-alpha", "1.0.0-beta"}, want: "",
		},
		{
			name: "empty tag list",
			spec: semverSpec("~1.6"), tags: nil, want: "",
		},
		{
			name: "duplicates collapse",
			spec: semverSpec(""), tags: []string{"1.0.0", "1.0.0", "0.9.0"}, want: "1.0.0",
		},
	})
}

func TestStrategyNewestBuild(t *testing.T) {
	base := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	spec := Spec{Alias: "web", Image: "ghcr.io/acme/web", Options: Options{Strategy: StrategyNewestBuild}}
	meta := tagMeta{
		"main-aaa": {created: base},
		"main-bbb": {created: base.Add(2 * time.Hour)},
		"main-ccc": {created: base.Add(time.Hour)},
		"v1":       {created: base.Add(2 * time.Hour)},
		"broken":   {err: errors.New("manifest unknown")},
		"nodate":   {},
		"ko-build": {created: time.Unix(0, 0)},
	}
	runStrategyCases(t, []strategyCase{
		{
			name: "newest wins", spec: spec, meta: meta,
			tags: []string{"main-aaa", "main-ccc", "main-bbb"}, want: "main-bbb",
			cand: []string{
				`+main-bbb: newest build, created 2026-05-01T14:00:00Z`,
				`-main-ccc: older than main-bbb (created 2026-05-01T13:00:00Z)`,
				`-main-aaa: older than main-bbb (created 2026-05-01T12:00:00Z)`,
			},
		},
		{
			name: "tie broken by the higher tag name", spec: spec, meta: meta,
			tags: []string{"main-bbb", "v1", "main-aaa"}, want: "v1",
			cand: []string{
				`+v1: newest build, created 2026-05-01T14:00:00Z`,
				`-main-bbb: created at the same time as v1, which sorts higher`,
				`-main-aaa: older than v1 (created 2026-05-01T12:00:00Z)`,
			},
		},
		{
			name: "unreadable tag rejected with its error", spec: spec, meta: meta,
			tags: []string{"broken", "main-aaa"}, want: "main-aaa",
			cand: []string{
				`+main-aaa: newest build, created 2026-05-01T12:00:00Z`,
				`-broken: cannot read created time: manifest unknown`,
			},
		},
		{
			name: "a missing created time is said, not ordered as the oldest", spec: spec, meta: meta,
			tags: []string{"main-aaa", "nodate"}, want: "main-aaa",
			cand: []string{
				`+main-aaa: newest build, created 2026-05-01T12:00:00Z`,
				`-nodate: the image config has no created time, so newest-build cannot place it (rebuild with a created time, or use another strategy)`,
			},
		},
		{
			name: "a reproducible build's epoch is said, not ordered as the oldest", spec: spec, meta: meta,
			tags: []string{"main-aaa", "ko-build"}, want: "main-aaa",
			cand: []string{
				`+main-aaa: newest build, created 2026-05-01T12:00:00Z`,
				`-ko-build: the image config says created 1970-01-01T00:00:00Z, as reproducible builds (ko, Bazel, Jib, Nix) write, so newest-build cannot place it (set SOURCE_DATE_EPOCH to the commit time, or use semver or another strategy)`,
			},
		},
		{
			name: "only missing created times", spec: spec, meta: meta,
			tags: []string{"nodate"}, want: "",
		},
		{name: "empty tag list", spec: spec, meta: meta, want: ""},
	})

	t.Run("every tag unreadable is an error, not a policy outcome", func(t *testing.T) {
		s, _ := NewStrategy(spec)
		_, cands, err := s.Pick([]string{"broken", "missing"}, meta)
		if err == nil || errors.Is(err, ErrNoMatch) {
			t.Fatalf("err = %v; want a metadata error", err)
		}
		if !strings.Contains(err.Error(), "any of 2 tags") || !strings.Contains(err.Error(), "manifest unknown") {
			t.Errorf("err = %v", err)
		}
		if len(cands) != 2 {
			t.Errorf("candidates = %v", cands)
		}
	})
}

func TestStrategyDigest(t *testing.T) {
	spec := func(tag string) Spec {
		return Spec{Alias: "web", Image: "ghcr.io/acme/web", Constraint: tag, Options: Options{Strategy: StrategyDigest}}
	}
	runStrategyCases(t, []strategyCase{
		{
			name: "follows the named tag", spec: spec("main"), tags: []string{"1.0.0", "main", "latest"}, want: "main",
			cand: []string{
				`+main: tracked tag; its digest is followed`,
				`-1.0.0: not the tracked tag "main"`,
				`-latest: not the tracked tag "main"`,
			},
		},
		{name: "defaults to latest", spec: spec(""), tags: []string{"1.0.0", "latest"}, want: "latest"},
		{name: "tracked tag absent", spec: spec("main"), tags: []string{"1.0.0", "latest"}, want: ""},
		{name: "empty tag list", spec: spec("main"), want: ""},
	})
}

func TestStrategyAlphabetical(t *testing.T) {
	spec := Spec{Alias: "web", Image: "ghcr.io/acme/web", Options: Options{Strategy: StrategyAlphabetical}}
	runStrategyCases(t, []strategyCase{
		{
			name: "lexically highest", spec: spec,
			tags: []string{"2026-05-01", "2026-06-01", "2026-05-31"}, want: "2026-06-01",
			cand: []string{
				`+2026-06-01: lexically highest tag`,
				`-2026-05-31: sorts before 2026-06-01`,
				`-2026-05-01: sorts before 2026-06-01`,
			},
		},
		{name: "byte order, not numbers", spec: spec, tags: []string{"10", "9"}, want: "9"},
		{name: "empty tag list", spec: spec, want: ""},
	})
}

func TestStrategyNumeric(t *testing.T) {
	spec := Spec{Alias: "web", Image: "ghcr.io/acme/web", Options: Options{Strategy: StrategyNumeric}}
	runStrategyCases(t, []strategyCase{
		{
			name: "highest number", spec: spec,
			tags: []string{"9", "10", "latest", "100", "v2"}, want: "100",
			cand: []string{
				`+100: highest number`,
				`-10: lower than 100`,
				`-9: lower than 100`,
				`-latest: not a number`,
				`-v2: not a number`,
			},
		},
		{name: "decimals", spec: spec, tags: []string{"1.5", "1.25", "1"}, want: "1.5"},
		{name: "numbers beyond 64 bits", spec: spec, tags: []string{"99999999999999999999", "100000000000000000000"}, want: "100000000000000000000"},
		{
			name: "equal values prefer the shortest spelling", spec: spec,
			tags: []string{"007", "7.0", "7", "6"}, want: "7",
			cand: []string{
				`+7: highest number`,
				`-007: same number as 7, which is preferred`,
				`-7.0: same number as 7, which is preferred`,
				`-6: lower than 7`,
			},
		},
		{name: "no numbers", spec: spec, tags: []string{"latest", "-1", "1e3"}, want: ""},
		{name: "empty tag list", spec: spec, want: ""},
	})
}

func TestCompareDecimal(t *testing.T) {
	tests := []struct {
		a, b string
		want int
	}{
		{"1", "1", 0}, {"01", "1", 0}, {"1.0", "1", 0}, {"1.50", "1.5", 0},
		{"2", "10", -1}, {"10", "9", 1}, {"1.5", "1.25", 1}, {"0.05", "0.5", -1},
		{"100000000000000000001", "100000000000000000000", 1},
	}
	for _, tt := range tests {
		if got := compareDecimal(tt.a, tt.b); got != tt.want {
			t.Errorf("compareDecimal(%q, %q) = %d, want %d", tt.a, tt.b, got, tt.want)
		}
	}
}

func TestNewStrategyErrors(t *testing.T) {
	tests := []struct {
		spec Spec
		want string
	}{
		{Spec{Alias: "web", Image: "ghcr.io/acme/web", Constraint: "latest"}, `alias "web" (ghcr.io/acme/web): constraint "latest": not a semver range`},
		{Spec{Alias: "web", Image: "ghcr.io/acme/web", Options: Options{Strategy: "newest"}}, `alias "web" (ghcr.io/acme/web): update-strategy "newest": unknown strategy`},
	}
	for _, tt := range tests {
		_, err := NewStrategy(tt.spec)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("NewStrategy(%+v) = %v; want %q", tt.spec, err, tt.want)
		}
	}
}
