package imagespec

import (
	"reflect"
	"strings"
	"testing"
)

func TestParseSpecImages(t *testing.T) {
	tests := []struct {
		in         string
		alias      string
		image      string
		constraint string
	}{
		{"nginx", "nginx", "nginx", ""},
		{"web=ghcr.io/acme/web:~1.6", "web", "ghcr.io/acme/web", "~1.6"},
		{"registry:5000/team/app:^2", "app", "registry:5000/team/app", "^2"},
		{"127.0.0.1:5000/acme/web:~1.6", "web", "127.0.0.1:5000/acme/web", "~1.6"},
		{"localhost:5000/web", "web", "localhost:5000/web", ""},
		{"api=nginx:>=1.2 <2", "api", "nginx", ">=1.2 <2"},
		{"nginx:>=1.2", "nginx", "nginx", ">=1.2"},
		{"nginx:=1.2.3", "nginx", "nginx", "=1.2.3"},
		{"  web = ghcr.io/acme/web:1.2.3  ", "web", "ghcr.io/acme/web", "1.2.3"},
		{"ghcr.io/acme/my.app", "my.app", "ghcr.io/acme/my.app", ""},
		{"Front_End=docker.io/library/nginx:1.x || 2.x", "Front_End", "docker.io/library/nginx", "1.x || 2.x"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := Parse(tt.in)
			if err != nil {
				t.Fatalf("Parse(%q): %v", tt.in, err)
			}
			if got.Alias != tt.alias || got.Image != tt.image || got.Constraint != tt.constraint {
				t.Fatalf("Parse(%q) = alias %q image %q constraint %q; want %q %q %q",
					tt.in, got.Alias, got.Image, got.Constraint, tt.alias, tt.image, tt.constraint)
			}
			if got.Options.Strategy != StrategySemver || got.Options.Pin != PinTag {
				t.Fatalf("defaults: strategy %q pin %q; want semver, tag", got.Options.Strategy, got.Options.Pin)
			}
		})
	}
}

func TestParseSpecsOptions(t *testing.T) {
	tests := []struct {
		name       string
		images     []string
		options    map[string]string
		alias      string
		constraint string
		want       Options
	}{
		{
			name:   "updater prefix stripped and latest alias",
			images: []string{"web=ghcr.io/acme/web"},
			options: map[string]string{
				"argocd-image-updater.argoproj.io/web.update-strategy": "latest",
				"argocd-image-updater.argoproj.io/web.allow-tags":      "regexp:^main-[0-9a-f]+$",
			},
			alias: "web",
			want:  Options{Strategy: StrategyNewestBuild, AllowTags: "regexp:^main-[0-9a-f]+$", Pin: PinTag},
		},
		{
			name:    "name is alphabetical",
			images:  []string{"web=ghcr.io/acme/web"},
			options: map[string]string{"web.update-strategy": "name"},
			alias:   "web",
			want:    Options{Strategy: StrategyAlphabetical, Pin: PinTag},
		},
		{
			name:    "numeric",
			images:  []string{"web=ghcr.io/acme/web"},
			options: map[string]string{"web.update-strategy": " Numeric "},
			alias:   "web",
			want:    Options{Strategy: StrategyNumeric, Pin: PinTag},
		},
		{
			name:       "semver range in the strategy sets the constraint",
			images:     []string{"web=ghcr.io/acme/web"},
			options:    map[string]string{"web.update-strategy": "semver:~1.6"},
			alias:      "web",
			constraint: "~1.6",
			want:       Options{Strategy: StrategySemver, Pin: PinTag},
		},
		{
			name:       "same range in both places is fine",
			images:     []string{"web=ghcr.io/acme/web:^2"},
			options:    map[string]string{"web.update-strategy": "semver:^2"},
			alias:      "web",
			constraint: "^2",
			want:       Options{Strategy: StrategySemver, Pin: PinTag},
		},
		{
			name:       "digest defaults to latest and pins the digest",
			images:     []string{"web=ghcr.io/acme/web"},
			options:    map[string]string{"web.update-strategy": "digest"},
			alias:      "web",
			constraint: "latest",
			want:       Options{Strategy: StrategyDigest, Pin: PinDigest},
		},
		{
			name:       "digest follows the spec tag, pin overridable",
			images:     []string{"web=ghcr.io/acme/web:main"},
			options:    map[string]string{"web.update-strategy": "digest", "web.pin": "tag+digest"},
			alias:      "web",
			constraint: "main",
			want:       Options{Strategy: StrategyDigest, Pin: PinTagDigest},
		},
		{
			name:   "filters, credentials and helm paths",
			images: []string{"web=ghcr.io/acme/web:~1.6", "ghcr.io/acme/api"},
			options: map[string]string{
				"web.ignore-tags":       " *-debug, sha-* ,",
				"web.platforms":         "linux/amd64, linux/arm64/v8",
				"web.pull-secret":       "ghcr-acme",
				"web.helm.image-name":   "web.image.repository",
				"web.helm.image-tag":    "web.image.tag",
				"web.helm.image-spec":   "web.image.spec",
				"web.helm.image-shasum": "web.image.shasum",
				"web.helm.override-tag": "web.image.pinned",
				"web.override-tag":      "1.6.2",
				"api.pin":               "digest",
			},
			alias:      "web",
			constraint: "~1.6",
			want: Options{
				Strategy: StrategySemver, Pin: PinTag,
				IgnoreTags: []string{"*-debug", "sha-*"}, Platforms: []string{"linux/amd64", "linux/arm64/v8"},
				PullSecret: "ghcr-acme", HelmImageName: "web.image.repository", HelmImageTag: "web.image.tag",
				HelmImageSpec: "web.image.spec", HelmImageShasum: "web.image.shasum", HelmOverrideTag: "web.image.pinned",
				OverrideTag: "1.6.2",
			},
		},
		{
			name:    "alias with dots",
			images:  []string{"ghcr.io/acme/my.app"},
			options: map[string]string{"my.app.helm.image-tag": "app.tag"},
			alias:   "my.app",
			want:    Options{Strategy: StrategySemver, Pin: PinTag, HelmImageTag: "app.tag"},
		},
		{
			name:   "prefixed and plain key with the same value",
			images: []string{"web=ghcr.io/acme/web"},
			options: map[string]string{
				"web.pin": "digest", "argocd-image-updater.argoproj.io/web.pin": "digest",
			},
			alias: "web",
			want:  Options{Strategy: StrategySemver, Pin: PinDigest},
		},
		{
			name:    "strict-semver off, create-paths on, check-rendered off",
			images:  []string{"web=ghcr.io/acme/web"},
			options: map[string]string{"web.strict-semver": "false", "web.helm.create-paths": "true", "web.check-rendered": " False "},
			alias:   "web",
			want:    Options{Strategy: StrategySemver, Pin: PinTag, LooseSemver: true, CreatePaths: true, NoRenderedCheck: true},
		},
		{
			name:    "the defaults spelled out",
			images:  []string{"web=ghcr.io/acme/web"},
			options: map[string]string{"web.strict-semver": "true", "web.helm.create-paths": "false", "web.check-rendered": "true"},
			alias:   "web",
			want:    Options{Strategy: StrategySemver, Pin: PinTag},
		},
		{
			name:    "allow-tags any and pause",
			images:  []string{"web=ghcr.io/acme/web"},
			options: map[string]string{"web.allow-tags": "any", "web.ignore-tags": "*"},
			alias:   "web",
			want:    Options{Strategy: StrategySemver, Pin: PinTag, AllowTags: "any", IgnoreTags: []string{"*"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			specs, err := ParseAll(tt.images, tt.options)
			if err != nil {
				t.Fatalf("ParseSpecs: %v", err)
			}
			var got *Spec
			for i := range specs {
				if specs[i].Alias == tt.alias {
					got = &specs[i]
				}
			}
			if got == nil {
				t.Fatalf("no spec with alias %q in %+v", tt.alias, specs)
			}
			if got.Constraint != tt.constraint {
				t.Errorf("constraint = %q, want %q", got.Constraint, tt.constraint)
			}
			if !reflect.DeepEqual(got.Options, tt.want) {
				t.Errorf("options =\n%+v\nwant\n%+v", got.Options, tt.want)
			}
		})
	}
}

func TestParseSpecsErrors(t *testing.T) {
	web := []string{"web=ghcr.io/acme/web"}
	tests := []struct {
		name    string
		images  []string
		options map[string]string
		want    []string // substrings of the error
	}{
		{"empty image", []string{"  "}, nil, []string{"images[0]", "empty image spec"}},
		{"empty alias", []string{"=nginx"}, nil, []string{"empty alias"}},
		{"alias without image", []string{"web="}, nil, []string{`alias "web" has an empty image`}},
		{"digest reference", []string{"nginx@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"}, nil,
			[]string{"digests cannot be updated", "override-tag", "update-strategy digest"}},
		{"empty constraint", []string{"nginx:"}, nil, []string{"empty constraint"}},
		{"uppercase repository", []string{"ghcr.io/Acme/web"}, nil, []string{`"ghcr.io/Acme/web" is not a valid repository`}},
		{"double slash", []string{"ghcr.io/acme//web"}, nil, []string{"not a valid repository"}},
		{"mutable tag with semver", []string{"web=nginx:latest"}, nil,
			[]string{`alias "web"`, `constraint "latest"`, "not a semver range", "update-strategy digest"}},
		{"duplicate alias", []string{"ghcr.io/a/web", "docker.io/b/web"}, nil,
			[]string{`alias "web" is already used by images[0]`, "<alias>=<image>"}},
		{"unknown strategy", web, map[string]string{"web.update-strategy": "newest"},
			[]string{`alias "web"`, `update-strategy "newest"`, "unknown strategy", "newest-build (or latest)"}},
		{"range on a non-semver strategy", web, map[string]string{"web.update-strategy": "digest:main"},
			[]string{`update-strategy "digest:main"`, "only semver takes a range"}},
		{"bad semver range in strategy", web, map[string]string{"web.update-strategy": "semver:~one"},
			[]string{`alias "web"`, `constraint "~one"`, "not a semver range"}},
		{"conflicting ranges", []string{"web=ghcr.io/acme/web:~1.6"}, map[string]string{"web.update-strategy": "semver:^2"},
			[]string{`already has constraint "~1.6"`}},
		{"constraint on newest-build", []string{"web=ghcr.io/acme/web:main"}, map[string]string{"web.update-strategy": "latest"},
			[]string{`constraint "main"`, "takes no constraint", "web.allow-tags"}},
		{"digest of a bad tag", []string{"web=ghcr.io/acme/web:>=1"}, map[string]string{"web.update-strategy": "digest"},
			[]string{`constraint ">=1"`, "not a valid tag"}},
		{"bad regexp", web, map[string]string{"web.allow-tags": "regexp:^v(1"},
			[]string{`alias "web"`, `allow-tags "regexp:^v(1"`, "bad regular expression"}},
		{"allow-tags without regexp prefix", web, map[string]string{"web.allow-tags": "^v1"},
			[]string{`allow-tags "^v1"`, `"regexp:<expression>" or "any"`}},
		{"bad glob", web, map[string]string{"web.ignore-tags": "v[1"},
			[]string{`ignore-tags "v[1"`, `glob "v[1"`}},
		{"unknown option", web, map[string]string{"web.force-update": "true"},
			[]string{`option "web.force-update"`, `unknown option "force-update"`, "update-strategy"}},
		{"option for unknown alias", web, map[string]string{"api.pin": "tag"},
			[]string{`option "api.pin"`, `no image has alias "api"`, "aliases: web"}},
		{"key without alias", web, map[string]string{"pin": "tag"}, []string{`option "pin"`, "<alias>.<option>"}},
		{"bad pin", web, map[string]string{"web.pin": "sha"},
			[]string{`alias "web"`, `pin "sha"`, "tag, digest, tag+digest"}},
		{"pull-secret as a file", web, map[string]string{"web.pull-secret": "file:/etc/passwd"},
			[]string{`pull-secret "file:/etc/passwd"`, "the name of a registries.conf entry", "credentials: env:VAR"}},
		{"pull-secret as a variable", web, map[string]string{"web.pull-secret": "env:AWS_SECRET_ACCESS_KEY"},
			[]string{"the name of a registries.conf entry"}},
		{"pull-secret as a program", web, map[string]string{"web.pull-secret": "ext:/bin/sh"},
			[]string{"the name of a registries.conf entry"}},
		{"pull-secret as a Secret", web, map[string]string{"web.pull-secret": "pullsecret:argocd/ghcr"},
			[]string{"the name of a registries.conf entry"}},
		{"bad platform", web, map[string]string{"web.platforms": "linux-amd64"},
			[]string{`platforms "linux-amd64"`, "os/arch[/variant]"}},
		{"bad override tag", web, map[string]string{"web.override-tag": "-x"},
			[]string{`override-tag "-x"`, "not a valid tag"}},
		{"same option twice with different values", web, map[string]string{
			"web.pin": "tag", "argocd-image-updater.argoproj.io/web.pin": "digest"},
			[]string{"pin is set twice"}},
		{"strict-semver not a boolean", web, map[string]string{"web.strict-semver": "loose"},
			[]string{`alias "web"`, `strict-semver "loose"`, `"true" or "false"`}},
		{"check-rendered not a boolean", web, map[string]string{"web.check-rendered": "no"},
			[]string{`check-rendered "no"`, `"true" or "false"`}},
		{"option value not UTF-8 (fuzz)", []string{"x=x"}, map[string]string{"x.ignore-tags": "\xb8"},
			[]string{`option "x.ignore-tags"`, "not valid UTF-8"}},
		{"image spec not UTF-8", []string{"web=ghcr.io/acme/web:\xff"}, nil, []string{"images[0]", "not valid UTF-8"}},
		{"every problem reported", []string{"web=ghcr.io/acme/web", ""}, map[string]string{"web.pin": "x", "web.platforms": "y"},
			[]string{"images[1]", `pin "x"`, `platforms "y"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			specs, err := ParseAll(tt.images, tt.options)
			if err == nil {
				t.Fatalf("ParseSpecs succeeded: %+v", specs)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q\ndoes not contain %q", err, w)
				}
			}
		})
	}
}

func TestSpecReferenceAndPaused(t *testing.T) {
	s, err := Parse("127.0.0.1:5000/acme/web:~1.6")
	if err != nil {
		t.Fatal(err)
	}
	if got := s.Reference(); got != "127.0.0.1:5000/acme/web:~1.6" {
		t.Errorf("Reference = %q", got)
	}
	if got := s.String(); got != "web=127.0.0.1:5000/acme/web:~1.6" {
		t.Errorf("String = %q", got)
	}
	if got := (Spec{Image: "nginx"}).Reference(); got != "nginx" {
		t.Errorf("Reference without constraint = %q", got)
	}
	if (Options{IgnoreTags: []string{"*-debug"}}).Paused() {
		t.Error("a glob other than * must not pause")
	}
	if !(Options{IgnoreTags: []string{"*-debug", "*"}}).Paused() {
		t.Error(`"*" must pause`)
	}
}

// TestParseSpecsStrictSemverDefault: the caller (serve --strict-semver)
// sets the default; an alias's own strict-semver option wins over it.
func TestParseSpecsStrictSemverDefault(t *testing.T) {
	web := []string{"web=ghcr.io/acme/web"}
	cases := []struct {
		name    string
		options map[string]string
		opts    []Option
		loose   bool
	}{
		{"strict by default", nil, nil, false},
		{"loose default", nil, []Option{StrictSemverByDefault(false)}, true},
		{"alias strict over a loose default", map[string]string{"web.strict-semver": "true"}, []Option{StrictSemverByDefault(false)}, false},
		{"alias loose over the strict default", map[string]string{"web.strict-semver": "false"}, []Option{StrictSemverByDefault(true)}, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			specs, err := ParseAll(web, tc.options, tc.opts...)
			if err != nil {
				t.Fatal(err)
			}
			if specs[0].Options.LooseSemver != tc.loose {
				t.Errorf("LooseSemver = %v, want %v", specs[0].Options.LooseSemver, tc.loose)
			}
		})
	}
}
