package imagespec

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
)

// describe prints what a policy decides, for comparison.
func describe(p *Policy) string {
	allow := "<all>"
	if p.Tags.Allow != nil {
		allow = p.Tags.Allow.String()
	}
	rng := "<none>"
	if p.Range != nil {
		rng = p.Range.String() + fmt.Sprintf(" pre:%v", p.RangeWithPre.IncludePrerelease)
	}
	return fmt.Sprintf("strategy=%s constraint=%q range=%s strict=%v allow=%s ignore=%q platforms=%q",
		p.Strategy, p.Constraint, rng, p.Strict, allow, p.Tags.Ignore, p.Tags.Platforms)
}

func TestPolicyCompiledAtParse(t *testing.T) {
	cases := []struct {
		name    string
		image   string
		options map[string]string
		want    string
	}{
		{"semver default", "web=ghcr.io/acme/web", nil,
			`strategy=semver constraint="" range=<none> strict=true allow=<all> ignore=[] platforms=[]`},
		{"semver range and rules", "web=ghcr.io/acme/web:~1.6", map[string]string{
			"web.allow-tags": "regexp:^1\\.", "web.ignore-tags": "*-debug, sha-*", "web.platforms": "linux/amd64", "web.strict-semver": "false"},
			`strategy=semver constraint="~1.6" range=~1.6 pre:true strict=false allow=^1\. ignore=["*-debug" "sha-*"] platforms=["linux/amd64"]`},
		{"digest follows latest", "web=ghcr.io/acme/web", map[string]string{"web.update-strategy": "digest"},
			`strategy=digest constraint="latest" range=<none> strict=true allow=<all> ignore=[] platforms=[]`},
		{"newest-build alias", "web=ghcr.io/acme/web", map[string]string{"web.update-strategy": "latest", "web.allow-tags": "any"},
			`strategy=newest-build constraint="" range=<none> strict=true allow=<all> ignore=[] platforms=[]`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			specs, err := ParseAll([]string{tc.image}, tc.options)
			if err != nil {
				t.Fatal(err)
			}
			p, err := specs[0].Policy()
			if err != nil {
				t.Fatal(err)
			}
			if p != specs[0].policy {
				t.Error("Policy compiled again instead of returning the parsed policy")
			}
			if got := describe(p); got != tc.want {
				t.Errorf("policy\n got %s\nwant %s", got, tc.want)
			}
		})
	}
}

// TestPolicyOfStoredSpecs: a Spec decoded from JSON (the tracker's store)
// or written as a literal compiles on demand by the same rules, and a
// parsed Spec changed afterwards is not served its old policy.
func TestPolicyOfStoredSpecs(t *testing.T) {
	spec, err := Parse("web=ghcr.io/acme/web:~1.6")
	if err != nil {
		t.Fatal(err)
	}
	data, err := json.Marshal(spec)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(data), "policy") || strings.Contains(string(data), "Range") {
		t.Errorf("the compiled form is stored: %s", data)
	}
	var decoded Spec
	if err := json.Unmarshal(data, &decoded); err != nil {
		t.Fatal(err)
	}
	p, err := decoded.Policy()
	if err != nil || describe(p) != describe(spec.policy) {
		t.Fatalf("decoded policy %v, %v; want %s", p, err, describe(spec.policy))
	}

	changed := spec
	changed.Constraint = "^2"
	if p, err := changed.Policy(); err != nil || p == spec.policy || p.Constraint != "^2" {
		t.Errorf("changed spec: policy %+v, %v", p, err)
	}
	changed = spec
	changed.Options.IgnoreTags = []string{"*-rc"}
	if p, err := changed.Policy(); err != nil || p == spec.policy || len(p.Tags.Ignore) != 1 {
		t.Errorf("changed ignore-tags: policy %+v, %v", p, err)
	}
}

func TestCompileErrors(t *testing.T) {
	web := func(constraint string, o Options) Spec {
		return Spec{Alias: "web", Image: "ghcr.io/acme/web", Constraint: constraint, Options: o}
	}
	cases := []struct {
		name string
		spec Spec
		want []string
	}{
		{"not a range", web("latest", Options{}), []string{`alias "web" (ghcr.io/acme/web): constraint "latest": not a semver range`}},
		{"unknown strategy", web("", Options{Strategy: "newest"}), []string{`update-strategy "newest": unknown strategy`}},
		{"range in the strategy", web("", Options{Strategy: "semver:^1"}), []string{`update-strategy "semver:^1": unknown strategy`}},
		{"constraint on numeric", web("1", Options{Strategy: StrategyNumeric}), []string{"takes no constraint"}},
		{"bad digest tag", web(">=1", Options{Strategy: StrategyDigest}), []string{"not a valid tag name"}},
		{"bad regexp and glob", web("", Options{AllowTags: "regexp:(", IgnoreTags: []string{"["}}), []string{"bad regular expression", `glob "["`}},
		{"bad platform", web("", Options{Platforms: []string{"linux"}}), []string{`platforms "linux"`, "os/arch[/variant]"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := tc.spec.Policy()
			var oe *OptionError
			if !errors.As(err, &oe) || oe.Alias != "web" {
				t.Fatalf("err = %v, want an *OptionError", err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
	if _, err := web("", Options{Strategy: "newest"}).Policy(); !errors.Is(err, ErrUnknownStrategy) {
		t.Errorf("unknown strategy: %v is not ErrUnknownStrategy", err)
	}
}
