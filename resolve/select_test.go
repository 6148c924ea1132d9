package resolve

import (
	"errors"
	"fmt"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/argocd-image-resolver/argocd-image-resolver/imagespec"
)

// tagMeta is a map-backed Metadata for tests.
type tagMeta map[string]tagInfo

type tagInfo struct {
	digest    string
	created   time.Time
	platforms []string
	err       error
}

func (m tagMeta) get(tag string) (tagInfo, error) {
	info, ok := m[tag]
	if !ok {
		return tagInfo{}, fmt.Errorf("tag %s: manifest unknown", tag)
	}
	return info, info.err
}

func (m tagMeta) Digest(tag string) (string, error) {
	info, err := m.get(tag)
	return info.digest, err
}

func (m tagMeta) Created(tag string) (time.Time, error) {
	info, err := m.get(tag)
	return info.created, err
}

func (m tagMeta) Platforms(tag string) ([]string, error) {
	info, err := m.get(tag)
	return info.platforms, err
}

// countingMeta records which tags were asked about.
type countingMeta struct {
	next  Metadata
	asked map[string]int
}

func newCountingMeta(next Metadata) *countingMeta {
	return &countingMeta{next: next, asked: map[string]int{}}
}

func (c *countingMeta) calls() int {
	n := 0
	for _, v := range c.asked {
		n += v
	}
	return n
}

func (c *countingMeta) askedTags() []string {
	var out []string
	for t := range c.asked {
		out = append(out, t)
	}
	sort.Strings(out)
	return out
}

func (c *countingMeta) Digest(tag string) (string, error) {
	c.asked[tag]++
	return c.next.Digest(tag)
}

func (c *countingMeta) Created(tag string) (time.Time, error) {
	c.asked[tag]++
	return c.next.Created(tag)
}

func (c *countingMeta) Platforms(tag string) ([]string, error) {
	c.asked[tag]++
	return c.next.Platforms(tag)
}

func mustSpec(t *testing.T, image string, options map[string]string) Spec {
	t.Helper()
	specs, err := ParseSpecs([]string{image}, options)
	if err != nil {
		t.Fatal(err)
	}
	return specs[0]
}

func TestSelectIssueExample(t *testing.T) {
	spec := mustSpec(t, "web=ghcr.io/acme/web:~1.6", nil)
	tags := []string{"1.5.0", "1.6.0", "1.6.3", "1.7.0", "2.0.0-rc.1", "latest"}
	tag, cands, err := Select(spec, tags, nil)
	if err != nil || tag != "1.6.3" {
		t.Fatalf("Select = %q, %v; want 1.6.3", tag, err)
	}
	checkVerdicts(t, cands, []string{
		`+1.6.3: highest version matching "~1.6"`,
		`-2.0.0-rc.1: outside constraint "~1.6"`,
		`-1.7.0: outside constraint "~1.6"`,
		`-1.6.0: lower than 1.6.3`,
		`-1.5.0: outside constraint "~1.6"`,
		`-latest: not a semantic version`,
	})
}

func TestSelectNoMatch(t *testing.T) {
	var tags []string
	for i := 0; i < 9; i++ {
		tags = append(tags, fmt.Sprintf("1.%d.0", i))
	}
	tags = append(tags, "latest", "main", "sha-abc1234")
	tests := []struct {
		name    string
		image   string
		options map[string]string
		tags    []string
		want    string
	}{
		{
			name: "constraint and noise", image: "web=ghcr.io/acme/web:~3.0", tags: tags,
			want: `web (ghcr.io/acme/web): none of 12 tags satisfies semver "~3.0": 9 outside constraint, 3 not a semantic version`,
		},
		{
			name: "filter emptied the list", image: "web=ghcr.io/acme/web",
			options: map[string]string{"web.ignore-tags": "1.*", "web.allow-tags": "regexp:^[0-9]"}, tags: tags,
			want: `web (ghcr.io/acme/web): none of 12 tags satisfies semver (highest stable): 9 ignored by ignore-tags "1.*", 3 does not match allow-tags "regexp:^[0-9]"`,
		},
		{
			name: "empty tag list", image: "web=ghcr.io/acme/web", tags: nil,
			want: `web (ghcr.io/acme/web): none of 0 tags satisfies semver (highest stable): the repository lists no tags; check the image name and that its tags are pushed`,
		},
		{
			name: "tracked tag absent", image: "web=ghcr.io/acme/web:main",
			options: map[string]string{"web.update-strategy": "digest"}, tags: []string{"latest", "1.0.0"},
			want: `web (ghcr.io/acme/web): none of 2 tags satisfies digest of tag "main": 2 not the tracked tag`,
		},
		{
			name: "alphabetical with every tag ignored", image: "web=ghcr.io/acme/web",
			options: map[string]string{"web.update-strategy": "name", "web.ignore-tags": "*-debug"}, tags: []string{"a-debug", "b-debug"},
			want: `web (ghcr.io/acme/web): none of 2 tags satisfies alphabetical: 2 ignored by ignore-tags "*-debug"`,
		},
		{
			name: "numeric without numbers", image: "web=ghcr.io/acme/web",
			options: map[string]string{"web.update-strategy": "numeric"}, tags: []string{"latest", "main"},
			want: `web (ghcr.io/acme/web): none of 2 tags satisfies numeric: 2 not a number`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			spec := mustSpec(t, tt.image, tt.options)
			tag, cands, err := Select(spec, tt.tags, tagMeta{})
			if err == nil {
				t.Fatalf("Select picked %q", tag)
			}
			if !errors.Is(err, ErrNoMatch) {
				t.Errorf("errors.Is(err, ErrNoMatch) = false for %v", err)
			}
			var nm *NoMatchError
			if !errors.As(err, &nm) || nm.Seen != len(tt.tags) {
				t.Errorf("err = %#v; want *NoMatchError seeing %d tags", err, len(tt.tags))
			}
			if err.Error() != tt.want {
				t.Errorf("error:\n  %s\nwant:\n  %s", err, tt.want)
			}
			if len(cands) != len(tt.tags) {
				t.Errorf("%d candidates for %d tags", len(cands), len(tt.tags))
			}
		})
	}
}

func TestSelectPaused(t *testing.T) {
	spec := mustSpec(t, "web=ghcr.io/acme/web", map[string]string{"web.ignore-tags": "*-debug,*"})
	m := newCountingMeta(tagMeta{})
	tag, cands, err := Select(spec, []string{"1.1.0", "1.0.0"}, m)
	if !errors.Is(err, ErrPaused) || tag != "" {
		t.Fatalf("Select = %q, %v; want ErrPaused", tag, err)
	}
	if errors.Is(err, ErrNoMatch) {
		t.Error("a paused image is not a no-match")
	}
	if !strings.HasPrefix(err.Error(), "web (ghcr.io/acme/web): ") {
		t.Errorf("error %q does not name the alias and image", err)
	}
	checkVerdicts(t, cands, []string{`-1.0.0: ignored by ignore-tags "*"`, `-1.1.0: ignored by ignore-tags "*"`})
	if m.calls() != 0 {
		t.Errorf("paused image read metadata %d times", m.calls())
	}
}

func TestSelectPlatforms(t *testing.T) {
	both := []string{"linux/amd64", "linux/arm64"}
	amd := []string{"linux/amd64"}
	meta := tagMeta{
		"1.9.0": {platforms: amd},
		"1.8.0": {platforms: amd},
		"1.7.0": {platforms: both},
		"1.6.0": {platforms: both},
		"1.5.0": {platforms: both},
	}
	spec := mustSpec(t, "web=ghcr.io/acme/web", map[string]string{"web.platforms": "linux/arm64"})
	m := newCountingMeta(meta)
	tag, cands, err := Select(spec, []string{"1.5.0", "1.6.0", "1.7.0", "1.8.0", "1.9.0", "latest"}, m)
	if err != nil || tag != "1.7.0" {
		t.Fatalf("Select = %q, %v; want 1.7.0", tag, err)
	}
	checkVerdicts(t, cands, []string{
		`+1.7.0: highest stable version`,
		`-1.9.0: missing platform linux/arm64`,
		`-1.8.0: missing platform linux/arm64`,
		`-1.6.0: lower than 1.7.0`,
		`-1.5.0: lower than 1.7.0`,
		`-latest: not a semantic version`,
	})
	if got := m.askedTags(); !reflect.DeepEqual(got, []string{"1.7.0", "1.8.0", "1.9.0"}) {
		t.Errorf("platforms read for %q; want only the tags ranked down to the winner", got)
	}
	for tag, n := range m.asked {
		if n != 1 {
			t.Errorf("tag %s asked %d times", tag, n)
		}
	}
}

func TestSelectPlatformsManyMissing(t *testing.T) {
	meta := tagMeta{}
	var tags []string
	for i := 0; i < 50; i++ {
		tag := fmt.Sprintf("1.%d.0", i)
		tags = append(tags, tag)
		meta[tag] = tagInfo{platforms: []string{"linux/amd64"}}
	}
	meta["1.3.0"] = tagInfo{platforms: []string{"linux/amd64", "linux/arm64"}}
	spec := mustSpec(t, "web=ghcr.io/acme/web", map[string]string{"web.platforms": "linux/arm64"})
	m := newCountingMeta(meta)
	tag, cands, err := Select(spec, tags, m)
	if err != nil || tag != "1.3.0" {
		t.Fatalf("Select = %q, %v; want 1.3.0", tag, err)
	}
	if len(cands) != len(tags) || cands[0].Tag != "1.3.0" || !cands[0].Accepted {
		t.Fatalf("candidates = %v", verdicts(cands))
	}
	for tag, n := range m.asked {
		if n != 1 {
			t.Errorf("tag %s asked %d times", tag, n)
		}
	}
	missing := 0
	for _, c := range cands[1:] {
		if c.Accepted {
			t.Errorf("second accepted candidate %v", c)
		}
		if c.Reason == "missing platform linux/arm64" {
			missing++
		}
	}
	if missing != 49 {
		t.Errorf("%d tags reported missing the platform; want 49", missing)
	}
}

func TestSelectPlatformErrors(t *testing.T) {
	spec := mustSpec(t, "web=ghcr.io/acme/web", map[string]string{"web.platforms": "linux/arm64"})
	_, _, err := Select(spec, []string{"1.0.0", "1.1.0"}, tagMeta{})
	if err == nil || errors.Is(err, ErrNoMatch) {
		t.Fatalf("err = %v; want a metadata error", err)
	}
	for _, w := range []string{"web (ghcr.io/acme/web)", "cannot read the platforms of any of 2 tags", "manifest unknown"} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q does not contain %q", err, w)
		}
	}
}

func TestSelectNewestBuild(t *testing.T) {
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	meta := tagMeta{
		"main-1":       {created: base},
		"main-2":       {created: base.Add(time.Hour)},
		"main-3-debug": {created: base.Add(2 * time.Hour)},
		"pr-7":         {created: base.Add(3 * time.Hour)},
	}
	spec := mustSpec(t, "web=ghcr.io/acme/web", map[string]string{
		"web.update-strategy": "latest", "web.allow-tags": "regexp:^main-", "web.ignore-tags": "*-debug",
	})
	m := newCountingMeta(meta)
	tag, cands, err := Select(spec, []string{"main-1", "pr-7", "main-3-debug", "main-2"}, m)
	if err != nil || tag != "main-2" {
		t.Fatalf("Select = %q, %v; want main-2", tag, err)
	}
	checkVerdicts(t, cands, []string{
		`+main-2: newest build, created 2026-01-01T01:00:00Z`,
		`-main-1: older than main-2 (created 2026-01-01T00:00:00Z)`,
		`-main-3-debug: ignored by ignore-tags "*-debug"`,
		`-pr-7: does not match allow-tags "regexp:^main-"`,
	})
	if got := m.askedTags(); !reflect.DeepEqual(got, []string{"main-1", "main-2"}) {
		t.Errorf("created read for %q; filtered tags must not be read", got)
	}

	_, _, err = Select(spec, []string{"main-9"}, tagMeta{})
	if err == nil || errors.Is(err, ErrNoMatch) || !strings.Contains(err.Error(), "web (ghcr.io/acme/web): newest-build: cannot read the created time") {
		t.Errorf("unreadable metadata: err = %v", err)
	}
}

func TestSelectEveryTagOnce(t *testing.T) {
	spec := mustSpec(t, "web=ghcr.io/acme/web:^1", map[string]string{"web.ignore-tags": "*-rc*"})
	tags := []string{"1.0.0", "1.0.0", "v1.0.0", "1.1.0-rc.1", "2.0.0", "", "x"}
	tag, cands, err := Select(spec, tags, nil)
	if err != nil || tag != "1.0.0" {
		t.Fatalf("Select = %q, %v", tag, err)
	}
	seen := map[string]int{}
	for _, c := range cands {
		seen[c.Tag]++
	}
	want := map[string]int{"1.0.0": 1, "v1.0.0": 1, "1.1.0-rc.1": 1, "2.0.0": 1, "x": 1}
	if !reflect.DeepEqual(seen, want) {
		t.Errorf("candidate tags %v; want each distinct tag once: %v", seen, want)
	}
}

func TestSelectBadSpec(t *testing.T) {
	_, _, err := Select(Spec{Alias: "web", Image: "ghcr.io/acme/web", Options: Options{AllowTags: "regexp:("}}, []string{"1.0.0"}, nil)
	var oe *imagespec.OptionError
	if !errors.As(err, &oe) || oe.Option != OptAllowTags || !strings.Contains(err.Error(), `alias "web" (ghcr.io/acme/web): allow-tags`) {
		t.Errorf("err = %v", err)
	}
}
