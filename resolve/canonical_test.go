package resolve

import "testing"

// TestCanonicalRepository: every spelling of one repository (short names,
// docker.io, a tag or digest, a push from an api_url host) comes out as
// resolution names it, and Result.Repository is that name.
func TestCanonicalRepository(t *testing.T) {
	conf, err := ParseRegistriesConfig([]byte(`registries:
- name: local
  prefix: registry.local:5000
  default: true
  defaultns: acme
- name: mirror
  prefix: docker.io/team
  api_url: https://mirror.internal
- name: own
  prefix: mirror.internal/own
`))
	if err != nil {
		t.Fatal(err)
	}
	digest := "@sha256:1111111111111111111111111111111111111111111111111111111111111111"
	cases := []struct {
		name string
		conf *RegistriesConfig
		in   string
		want string
	}{
		{"short name, Docker Hub", nil, "nginx", "index.docker.io/library/nginx"},
		{"docker.io", nil, "docker.io/library/nginx", "index.docker.io/library/nginx"},
		{"tag", nil, "nginx:1.27", "index.docker.io/library/nginx"},
		{"tag and digest", nil, "ghcr.io/acme/web:1.0" + digest, "ghcr.io/acme/web"},
		{"port kept", nil, "localhost:5000/a/b:1", "localhost:5000/a/b"},
		{"spaces", nil, "  ghcr.io/acme/web ", "ghcr.io/acme/web"},
		{"not a repository", nil, "UPPER/Case!", "UPPER/Case!"},
		{"default registry and defaultns", conf, "web", "registry.local:5000/acme/web"},
		{"default registry, two elements", conf, "team/web", "registry.local:5000/team/web"},
		{"explicit host", conf, "ghcr.io/acme/web", "ghcr.io/acme/web"},
		{"api_url host maps to the prefix", conf, "mirror.internal/team/web:2", "index.docker.io/team/web"},
		{"prefix itself", conf, "docker.io/team/web", "index.docker.io/team/web"},
		{"api_url host outside the prefix path", conf, "mirror.internal/other/web", "mirror.internal/other/web"},
		{"a prefix on the api_url host stays", conf, "mirror.internal/own/web", "mirror.internal/own/web"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var opts []Option
			if tc.conf != nil {
				opts = append(opts, WithRegistriesConfig(tc.conf))
			}
			r := newTestResolver(t, opts...)
			if got := r.CanonicalRepository(tc.in); got != tc.want {
				t.Errorf("CanonicalRepository(%q) = %q, want %q", tc.in, got, tc.want)
			}
			if tc.conf == nil {
				if got := CanonicalRepository(tc.in); got != tc.want {
					t.Errorf("package CanonicalRepository(%q) = %q, want %q", tc.in, got, tc.want)
				}
			}
		})
	}
}
