package resolve

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestParseRegistriesConfig(t *testing.T) {
	full := `registries:
- name: Docker Hub
  prefix: docker.io
  api_url: https://registry-1.docker.io
  credentials: env:DOCKER_HUB_CREDS
  credsexpire: 2h
  defaultns: library
  default: true
  limit: 5
- name: GitHub
  prefix: ghcr.io
  credentials: file:/secrets/ghcr
- name: internal
  prefix: registry.internal:5000/team
  api_url: http://registry.internal:5000
  credentials: ext:/bin/creds
  insecure: true
`
	conf, err := ParseRegistriesConfig([]byte(full))
	if err != nil {
		t.Fatal(err)
	}
	if len(conf.Registries) != 3 {
		t.Fatalf("%d registries", len(conf.Registries))
	}
	hub := conf.Registries[0]
	if hub.Host() != "index.docker.io" || hub.APIHost() != "index.docker.io" || hub.CredsExpire != 2*time.Hour || hub.Limit != 5 || !hub.Default || hub.DefaultNS != "library" {
		t.Errorf("docker hub entry %+v", hub)
	}
	if def := conf.defaultRegistry(); def == nil || def.Name != "Docker Hub" {
		t.Errorf("default registry %+v", def)
	}
	if reg := conf.forRepository("registry.internal:5000", "team/web"); reg == nil || reg.Name != "internal" || !reg.PlainHTTP() {
		t.Errorf("internal lookup %+v", reg)
	}
	if reg := conf.forRepository("registry.internal:5000", "other/web"); reg != nil {
		t.Errorf("path prefix matched another path: %+v", reg)
	}
	if reg := conf.forAPIHost("ghcr.io"); reg == nil || reg.Credentials != "file:/secrets/ghcr" {
		t.Errorf("ghcr lookup %+v", reg)
	}
	if got := conf.Registries[1].limit(); got != DefaultRegistryLimit {
		t.Errorf("default limit %v", got)
	}
}

// TestParseRegistriesConfigCredentials: credential references are checked
// by the parser that reads them (the other rules are registriesconf's).
func TestParseRegistriesConfigCredentials(t *testing.T) {
	cases := []struct {
		name string
		yaml string
		want []string
	}{
		{"bad credentials form", "registries:\n- prefix: a.io\n  credentials: user:pass\n", []string{"line 2", "unknown credential form"}},
		{"secret form needs a mount", "registries:\n- prefix: a.io\n  credentials: secret:argocd/creds#x\n", []string{"mount the Secret", "file:"}},
		{"relative ext path", "registries:\n- prefix: a.io\n  credentials: ext:creds.sh\n", []string{"absolute path"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseRegistriesConfig([]byte(tc.yaml))
			if err == nil {
				t.Fatal("accepted")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
}

func TestLoadRegistriesConfig(t *testing.T) {
	path := filepath.Join(t.TempDir(), "registries.conf")
	if err := os.WriteFile(path, []byte("registries:\n- prefix: ghcr.io\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	conf, err := LoadRegistriesConfig(path)
	if err != nil || len(conf.Registries) != 1 {
		t.Fatalf("%+v %v", conf, err)
	}
	if _, err := LoadRegistriesConfig(filepath.Join(t.TempDir(), "missing")); err == nil {
		t.Fatal("missing file accepted")
	}
	empty, err := ParseRegistriesConfig(nil)
	if err != nil || len(empty.Registries) != 0 {
		t.Fatalf("empty config: %+v %v", empty, err)
	}
}

func TestRepositoryMapping(t *testing.T) {
	conf, err := ParseRegistriesConfig([]byte(`registries:
- prefix: registry.example.com
  default: true
  defaultns: base
- prefix: mirror.example.com
  api_url: https://api.mirror.example.com
`))
	if err != nil {
		t.Fatal(err)
	}
	r := newTestResolver(t, WithRegistriesConfig(conf))
	cases := map[string]string{
		"nginx":                      "registry.example.com/base/nginx",
		"acme/web":                   "registry.example.com/acme/web",
		"ghcr.io/acme/web":           "ghcr.io/acme/web",
		"mirror.example.com/x/y":     "api.mirror.example.com/x/y",
		"localhost:5000/acme/web":    "localhost:5000/acme/web",
		"docker.io/library/postgres": "index.docker.io/library/postgres",
	}
	for image, want := range cases {
		repo, _, err := r.repository(image)
		if err != nil || repo.Name() != want {
			t.Errorf("repository(%q) = %q %v, want %q", image, repo.Name(), err, want)
		}
	}

	plain := newTestResolver(t)
	repo, _, err := plain.repository("nginx")
	if err != nil || repo.Name() != "index.docker.io/library/nginx" {
		t.Errorf("without config: %q %v", repo.Name(), err)
	}
}
