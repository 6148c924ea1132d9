package registriesconf

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestParse(t *testing.T) {
	conf, err := Parse([]byte(`registries:
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
- name: internal
  prefix: registry.internal:5000/team
  api_url: http://registry.internal:5000
  insecure: true
`))
	if err != nil {
		t.Fatal(err)
	}
	if len(conf.Registries) != 3 {
		t.Fatalf("%d registries", len(conf.Registries))
	}
	hub, ghcr, internal := conf.Registries[0], conf.Registries[1], conf.Registries[2]
	if hub.Host() != "index.docker.io" || hub.APIHost() != "index.docker.io" || hub.CredsExpire != 2*time.Hour || hub.RequestLimit() != 5 || !hub.Default || hub.DefaultNS != "library" {
		t.Errorf("docker hub entry %+v", hub)
	}
	if internal.Host() != "registry.internal:5000" || internal.Path() != "team" || !internal.PlainHTTP() || !internal.Covers("registry.internal:5000", "team/web") || internal.Covers("registry.internal:5000", "teams/web") {
		t.Errorf("internal entry %+v", internal)
	}
	if ghcr.RequestLimit() != DefaultLimit || ghcr.Label() != "GitHub" {
		t.Errorf("ghcr entry %+v", ghcr)
	}
}

// TestCredentialCheck: the caller's check of credential references runs on
// every entry, and its error names the line.
func TestCredentialCheck(t *testing.T) {
	data := []byte("registries:\n- prefix: a.io\n  credentials: user:pass\n")
	if _, err := Parse(data); err != nil {
		t.Fatalf("without a check: %v", err)
	}
	_, err := Parse(data, WithCredentialCheck(func(ref string) error {
		if strings.HasPrefix(ref, "env:") {
			return nil
		}
		return errors.New("unknown form")
	}))
	if err == nil || !strings.Contains(err.Error(), "line 2") || !strings.Contains(err.Error(), "credentials: unknown form") || strings.Contains(err.Error(), "pass") {
		t.Fatalf("err = %v", err)
	}
}

func TestLoad(t *testing.T) {
	path := filepath.Join(t.TempDir(), "registries.conf")
	if err := os.WriteFile(path, []byte("registries:\n- prefix: ghcr.io\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	conf, err := Load(path)
	if err != nil || len(conf.Registries) != 1 {
		t.Fatalf("%+v %v", conf, err)
	}
	if _, err := Load(filepath.Join(t.TempDir(), "missing")); err == nil {
		t.Fatal("missing file accepted")
	}
	empty, err := Parse(nil)
	if err != nil || len(empty.Registries) != 0 || empty.Policy("x").Restricted() {
		t.Fatalf("empty config: %+v %v", empty, err)
	}
}

func TestParseErrors(t *testing.T) {
	cases := []struct {
		name string
		yaml string
		want []string
	}{
		{"unknown key with line", "registries:\n- name: a\n  prefix: a.io\n  password: hunter2\n", []string{"line 4", `unknown key "password"`, "allowed keys"}},
		{"unknown top-level key", "registry:\n- prefix: a.io\n", []string{"line 1", `unknown key "registry"`}},
		{"missing prefix", "registries:\n- name: a\n", []string{"line 2", "no prefix"}},
		{"bad duration", "registries:\n- prefix: a.io\n  credsexpire: soon\n", []string{"line 3", "credsexpire", "not a duration"}},
		{"bad bool", "registries:\n- prefix: a.io\n  insecure: maybe\n", []string{"line 3", "insecure"}},
		{"negative limit", "registries:\n- prefix: a.io\n  limit: -1\n", []string{"line 3", "limit"}},
		{"two defaults", "registries:\n- prefix: a.io\n  default: true\n- prefix: b.io\n  default: true\n", []string{"default: true", "a.io", "b.io"}},
		{"duplicate prefix", "registries:\n- prefix: a.io\n- prefix: a.io\n", []string{"appears twice"}},
		{"bad api_url", "registries:\n- prefix: a.io\n  api_url: a.io\n", []string{"api_url"}},
		{"nested value", "registries:\n- prefix: [a.io]\n", []string{"line 2", "single value"}},
		{"not a list", "registries: a.io\n", []string{"must be a list"}},
		{"not yaml", "registries: [\n", []string{"not valid YAML"}},
		{"duplicate name", "registries:\n- name: team\n  prefix: a.io\n- name: team\n  prefix: b.io\n", []string{`name "team" appears twice`, "pull-secret"}},
		{"allowed not a list", "allowed: ghcr.io/acme/*\n", []string{"line 1", "`allowed` must be a list"}},
		{"bad allowed glob", "allowed:\n- ghcr.io/Acme/*\n", []string{"line 2", "allowed", "not a repository glob"}},
		{"projects not a map", "projects: [team-a]\n", []string{"line 1", "`projects` must map AppProject names"}},
		{"bad project glob", "projects:\n  team-a:\n  - 'ghcr io/x'\n", []string{"line 3", "projects.team-a", "not a host glob"}},
		{"nested project list", "projects:\n  team-a:\n  - [ghcr.io]\n", []string{"line 3", "registry/path globs"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(tc.yaml))
			if err == nil {
				t.Fatal("accepted")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
			if strings.Contains(err.Error(), "hunter2") {
				t.Errorf("error repeats a value that could be a secret: %v", err)
			}
		})
	}
}

// TestRulesByProject: `allowed` applies to every project, `projects` adds
// to it; without either there are no rules.
func TestRulesByProject(t *testing.T) {
	conf, err := Parse([]byte(`registries:
- name: mirror
  prefix: registry.example.com
  api_url: https://mirror.internal:8443
allowed:
- docker.io/library/*
projects:
  team-a:
  - registry.example.com/team-a/*
  team-b: []
`))
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		project, host, path string
		want                bool
	}{
		{"", "index.docker.io", "library/nginx", true},
		{"", "registry.example.com", "team-a/web", false},
		{"team-a", "registry.example.com", "team-a/web", true},
		{"team-a", "index.docker.io", "library/nginx", true},
		{"team-a", "registry.example.com", "team-b/web", false},
		{"team-b", "registry.example.com", "team-a/web", false},
		{"unlisted", "registry.example.com", "team-a/web", false},
	}
	for _, tc := range cases {
		if got := conf.Policy(tc.project).AllowsRepository(tc.host, tc.path); got != tc.want {
			t.Errorf("project %q, %s/%s: allowed %v, want %v", tc.project, tc.host, tc.path, got, tc.want)
		}
	}
	// team-a's prefix answers on the mirror: connections may go there.
	if err := conf.Policy("team-a").CheckHost("mirror.internal:8443"); err != nil {
		t.Errorf("team-a cannot reach its registry's api_url: %v", err)
	}
	if err := conf.Policy("team-b").CheckHost("mirror.internal:8443"); err == nil {
		t.Error("team-b reaches an api_url of a prefix outside its rules")
	}
	if got := conf.Policy("team-a").Name(); got != "registries.conf `allowed` and `projects.team-a`" {
		t.Errorf("policy name %q", got)
	}
	open, err := Parse([]byte("registries:\n- prefix: ghcr.io\n"))
	if err != nil {
		t.Fatal(err)
	}
	if p := open.Policy("team-a"); p.Restricted() || !p.AllowsRepository("anything.example", "x/y") {
		t.Error("a registries.conf without rules restricts")
	}
}
