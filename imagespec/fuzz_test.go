package imagespec

import (
	"encoding/json"
	"reflect"
	"strconv"
	"strings"
	"testing"
)

// specOptions writes a parsed spec's options back as option keys.
func specOptions(s Spec) map[string]string {
	m := map[string]string{}
	set := func(opt, v string) {
		if v != "" {
			m[s.Alias+"."+opt] = v
		}
	}
	o := s.Options
	if o.Follow == "" {
		// follow refuses a strategy beside it.
		set(OptUpdateStrategy, o.Strategy)
	}
	set(OptAllowTags, o.AllowTags)
	set(OptIgnoreTags, strings.Join(o.IgnoreTags, ","))
	set(OptPlatforms, strings.Join(o.Platforms, ","))
	set(OptPullSecret, o.PullSecret)
	set(OptPin, o.Pin)
	set(OptOverrideTag, o.OverrideTag)
	set(OptHelmImageName, o.HelmImageName)
	set(OptHelmImageTag, o.HelmImageTag)
	set(OptHelmImageSpec, o.HelmImageSpec)
	set(OptHelmImageShasum, o.HelmImageShasum)
	set(OptHelmOverrideTag, o.HelmOverrideTag)
	set(OptStrictSemver, strconv.FormatBool(!o.LooseSemver))
	set(OptHelmCreatePaths, strconv.FormatBool(o.CreatePaths))
	set(OptCheckRendered, strconv.FormatBool(!o.NoRenderedCheck))
	if o.MinAge != nil {
		set(OptMinAge, o.MinAge.String())
	}
	set(OptMinAgeSource, o.MinAgeSource)
	set(OptVerify, o.Verify)
	set(OptFollow, o.Follow)
	if o.FollowMinAge > 0 {
		set(OptFollowMinAge, o.FollowMinAge.String())
	}
	set(OptAnnotate, strconv.FormatBool(o.Annotate))
	set(OptRewrite, strconv.FormatBool(o.Rewrite))
	return m
}

// FuzzParseSpecs checks that parsing never panics; that a parsed result,
// written back as `alias=image:constraint` plus option keys, parses to the
// same specs; and that every parsed spec carries a policy equal to the one
// compiled again from its JSON form (as the tracker stores specs).
func FuzzParseSpecs(f *testing.F) {
	f.Add("web=ghcr.io/acme/web:~1.6", "web.update-strategy", "semver")
	f.Add("nginx", "argocd-image-updater.argoproj.io/nginx.update-strategy", "digest")
	f.Add("127.0.0.1:5000/acme/web:~1.6\nregistry:5000/team/app:^2", "app.allow-tags", "regexp:^v1")
	f.Add("x=ghcr.io/acme/my.app", "x.ignore-tags", "*-debug, *")
	f.Add("nginx:>=1.2 <2 || 3.x", "nginx.platforms", "linux/arm64/v8")
	f.Add("web=nginx@sha256:00", "web.pin", "tag+digest")
	f.Add("a=b:c/d", "a.update-strategy", "semver:^1")
	f.Add("web=ghcr.io/acme/web:main", "web.update-strategy", "latest")
	f.Add("web=ghcr.io/acme/web", "web.min-age", "7d")
	f.Add("web=ghcr.io/acme/web", "web.follow", "argocd/web-staging")
	f.Add("web=ghcr.io/acme/web", "web.verify", "ci-keyless")
	f.Add("web=ghcr.io/acme/web", "web.check-rendered", "false")
	f.Fuzz(func(t *testing.T, images, key, value string) {
		specs, err := ParseAll(strings.Split(images, "\n"), map[string]string{key: value})
		if err != nil {
			if err.Error() == "" {
				t.Fatal("empty error message")
			}
			return
		}
		again := make([]string, len(specs))
		options := map[string]string{}
		for i, s := range specs {
			again[i] = s.String()
			for k, v := range specOptions(s) {
				options[k] = v
			}
			checkPolicy(t, s)
		}
		reparsed, err := ParseAll(again, options)
		if err != nil {
			t.Fatalf("re-parsing %q with %v: %v", again, options, err)
		}
		if !reflect.DeepEqual(withoutPolicies(specs), withoutPolicies(reparsed)) {
			t.Fatalf("re-parse differs:\n%+v\n%+v", specs, reparsed)
		}
	})
}

// checkPolicy: a parsed spec has its policy, and the spec decoded from its
// JSON form compiles to the same one.
func checkPolicy(t *testing.T, s Spec) {
	t.Helper()
	if s.policy == nil {
		t.Fatalf("%s: parsed without a policy", s)
	}
	p, err := s.Policy()
	if err != nil || p != s.policy {
		t.Fatalf("%s: Policy() = %p, %v; want the parsed %p", s, p, err, s.policy)
	}
	data, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	var decoded Spec
	if err := json.Unmarshal(data, &decoded); err != nil {
		t.Fatal(err)
	}
	q, err := decoded.Policy()
	if err != nil {
		t.Fatalf("%s: the stored form does not compile: %v", s, err)
	}
	if describe(p) != describe(q) {
		t.Fatalf("%s: policy from JSON %s, parsed %s", s, describe(q), describe(p))
	}
}

func withoutPolicies(specs []Spec) []Spec {
	out := append([]Spec(nil), specs...)
	for i := range out {
		out[i].policy = nil
	}
	return out
}
