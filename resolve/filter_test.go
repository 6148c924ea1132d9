package resolve

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestFilterTags(t *testing.T) {
	meta := tagMeta{
		"1.0.0":       {platforms: []string{"linux/amd64", "linux/arm64/v8"}},
		"1.1.0":       {platforms: []string{"linux/amd64"}},
		"1.2.0":       {platforms: []string{"linux/amd64", "linux/arm64"}},
		"1.3.0":       {platforms: []string{"linux/arm/v7"}},
		"1.0.0-debug": {platforms: []string{"linux/amd64"}},
		"v1.0.0":      {platforms: []string{"linux/amd64"}},
		"broken":      {err: errors.New("denied")},
	}
	tests := []struct {
		name     string
		opts     Options
		tags     []string
		kept     []string
		rejected []string
	}{
		{
			name: "no filters keep everything and read no metadata",
			tags: []string{"1.0.0", "unknown-tag"}, kept: []string{"1.0.0", "unknown-tag"},
		},
		{
			name: "allow-tags any",
			opts: Options{AllowTags: "any"}, tags: []string{"1.0.0", "v1.0.0"}, kept: []string{"1.0.0", "v1.0.0"},
		},
		{
			name: "allow-tags regexp",
			opts: Options{AllowTags: "regexp:^v1"}, tags: []string{"1.0.0", "v1.0.0"}, kept: []string{"v1.0.0"},
			rejected: []string{`-1.0.0: does not match allow-tags "regexp:^v1"`},
		},
		{
			name: "ignore-tags globs",
			opts: Options{IgnoreTags: []string{"*-debug", "v*"}},
			tags: []string{"1.0.0", "1.0.0-debug", "v1.0.0"}, kept: []string{"1.0.0"},
			rejected: []string{`-1.0.0-debug: ignored by ignore-tags "*-debug"`, `-v1.0.0: ignored by ignore-tags "v*"`},
		},
		{
			name:     "allow-tags applies before ignore-tags",
			opts:     Options{AllowTags: "regexp:^1", IgnoreTags: []string{"*-debug"}},
			tags:     []string{"1.0.0-debug", "v1.0.0"},
			rejected: []string{`-1.0.0-debug: ignored by ignore-tags "*-debug"`, `-v1.0.0: does not match allow-tags "regexp:^1"`},
		},
		{
			name: "platforms: every requested one needed; arm64 means arm64/v8",
			opts: Options{Platforms: []string{"linux/amd64", "linux/arm64"}},
			tags: []string{"1.0.0", "1.1.0", "1.2.0", "1.3.0"}, kept: []string{"1.0.0", "1.2.0"},
			rejected: []string{`-1.1.0: missing platform linux/arm64`, `-1.3.0: missing platforms linux/amd64, linux/arm64`},
		},
		{
			name: "platform with variant",
			opts: Options{Platforms: []string{"linux/arm64/v8"}},
			tags: []string{"1.0.0", "1.2.0", "1.1.0"}, kept: []string{"1.0.0", "1.2.0"},
			rejected: []string{`-1.1.0: missing platform linux/arm64/v8`},
		},
		{
			name: "platform read error rejects the tag",
			opts: Options{Platforms: []string{"linux/amd64"}},
			tags: []string{"broken", "1.1.0"}, kept: []string{"1.1.0"},
			rejected: []string{`-broken: cannot read platforms: denied`},
		},
		{
			name: "name filters spare platform reads",
			opts: Options{AllowTags: "regexp:^1", Platforms: []string{"linux/amd64"}},
			tags: []string{"broken", "1.1.0"}, kept: []string{"1.1.0"},
			rejected: []string{`-broken: does not match allow-tags "regexp:^1"`},
		},
		{
			name:     "all filtered",
			opts:     Options{IgnoreTags: []string{"1.*"}},
			tags:     []string{"1.0.0", "1.1.0"},
			rejected: []string{`-1.0.0: ignored by ignore-tags "1.*"`, `-1.1.0: ignored by ignore-tags "1.*"`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := newCountingMeta(meta)
			kept, rejected, err := FilterTags(tt.opts, tt.tags, m)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(kept, tt.kept) {
				t.Errorf("kept = %q, want %q", kept, tt.kept)
			}
			if tt.rejected == nil {
				tt.rejected = []string{}
			}
			if got := verdicts(rejected); !reflect.DeepEqual(got, tt.rejected) {
				t.Errorf("rejected = %q, want %q", got, tt.rejected)
			}
			if len(tt.opts.Platforms) == 0 && m.calls() != 0 {
				t.Errorf("%d metadata calls without platforms", m.calls())
			}
		})
	}
}

func TestFilterTagsBadOptions(t *testing.T) {
	for _, o := range []Options{
		{AllowTags: "regexp:("},
		{AllowTags: "v1"},
		{IgnoreTags: []string{"["}},
		{Platforms: []string{"amd64"}},
	} {
		if _, _, err := FilterTags(o, []string{"1"}, tagMeta{}); err == nil {
			t.Errorf("FilterTags(%+v) accepted bad options", o)
		}
	}
}

func TestPlatformMatches(t *testing.T) {
	tests := []struct {
		want, have string
		ok         bool
	}{
		{"linux/amd64", "linux/amd64", true},
		{"linux/arm64", "linux/arm64/v8", true},
		{"linux/arm64/v8", "linux/arm64", true},
		{"linux/arm/v7", "linux/arm/v6", false},
		{"linux/arm", "linux/arm/v6", true},
		{"linux/amd64", "windows/amd64", false},
		{"linux/amd64", "linux/arm64", false},
	}
	for _, tt := range tests {
		if got := platformMatches(tt.want, tt.have); got != tt.ok {
			t.Errorf("platformMatches(%q, %q) = %v", tt.want, tt.have, got)
		}
	}
}

// TestArtifactTagsAreNotCandidates: signature and referrer tags never win,
// whatever the strategy.
func TestArtifactTagsAreNotCandidates(t *testing.T) {
	hex := strings.Repeat("ab", 32)
	tags := []string{"main-1", "sha256-" + hex + ".sig", "sha256-" + hex, "sha256-" + hex + ".att", "zzz", "sha256-abc.sig"}
	for _, strategy := range []string{"alphabetical", "semver"} {
		spec := specFor(t, "web=ghcr.io/acme/web", map[string]string{"web.update-strategy": strategy, "web.allow-tags": "any"})
		tag, cands, _ := Select(spec, tags, tagMeta{})
		if strategy == "alphabetical" && tag != "zzz" {
			t.Fatalf("%s picked %q", strategy, tag)
		}
		dropped := 0
		for _, c := range cands {
			if strings.Contains(c.Reason, "a signature, attestation or SBOM tag") {
				dropped++
			}
		}
		if dropped != 3 {
			t.Fatalf("%s: %d artifact tags dropped, want 3: %+v", strategy, dropped, cands)
		}
	}
}
