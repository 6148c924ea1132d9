package resolve

import (
	"reflect"
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
	set(OptUpdateStrategy, o.Strategy)
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
	return m
}

// FuzzParseSpecs checks that parsing never panics and that a parsed result,
// written back as `alias=image:constraint` plus option keys, parses to the
// same specs.
func FuzzParseSpecs(f *testing.F) {
	f.Add("web=ghcr.io/acme/web:~1.6", "web.update-strategy", "semver")
	f.Add("nginx", "argocd-image-updater.argoproj.io/nginx.update-strategy", "digest")
	f.Add("127.0.0.1:5000/acme/web:~1.6\nregistry:5000/team/app:^2", "app.allow-tags", "regexp:^v1")
	f.Add("x=ghcr.io/acme/my.app", "x.ignore-tags", "*-debug, *")
	f.Add("nginx:>=1.2 <2 || 3.x", "nginx.platforms", "linux/arm64/v8")
	f.Add("web=nginx@sha256:00", "web.pin", "tag+digest")
	f.Add("a=b:c/d", "a.update-strategy", "semver:^1")
	f.Fuzz(func(t *testing.T, images, key, value string) {
		specs, err := ParseSpecs(strings.Split(images, "\n"), map[string]string{key: value})
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
		}
		reparsed, err := ParseSpecs(again, options)
		if err != nil {
			t.Fatalf("re-parsing %q with %v: %v", again, options, err)
		}
		if !reflect.DeepEqual(specs, reparsed) {
			t.Fatalf("re-parse differs:\n%+v\n%+v", specs, reparsed)
		}
	})
}
