package resolve

import (
	"context"
	"encoding/base64"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
)

const knownSecret = "s3cr3t-Value-42"

func writeFile(t *testing.T, dir, name, content string, mode os.FileMode) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), mode); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestCredentialForms(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("REG_CREDS", "robot:"+knownSecret)
	t.Setenv("REG_EMPTY", "")
	userPass := writeFile(t, dir, "userpass", "robot:"+knownSecret+"\n", 0o600)
	dockerCfg := writeFile(t, dir, "dockerconfig", `{"auths":{
		"https://index.docker.io/v1/":{"auth":"`+base64.StdEncoding.EncodeToString([]byte("hub:"+knownSecret))+`"},
		"ghcr.io":{"username":"gh","password":"`+knownSecret+`"}}}`, 0o600)
	legacyCfg := writeFile(t, dir, "dockercfg", `{"quay.io":{"auth":"`+base64.StdEncoding.EncodeToString([]byte("q:"+knownSecret))+`"}}`, 0o600)
	script := writeFile(t, dir, "creds.sh", "#!/bin/sh\necho robot:"+knownSecret+"\n", 0o700)
	failing := writeFile(t, dir, "fail.sh", "#!/bin/sh\necho robot:"+knownSecret+"\nexit 3\n", 0o700)
	noisy := writeFile(t, dir, "noisy.sh", "#!/bin/sh\necho "+knownSecret+"\n", 0o700)
	slow := writeFile(t, dir, "slow.sh", "#!/bin/sh\nexec sleep 30\n", 0o700)
	garbage := writeFile(t, dir, "garbage", knownSecret, 0o600)

	cases := []struct {
		name     string
		ref      string
		registry string
		user     string
		wantErr  string
	}{
		{"env", "env:REG_CREDS", "ghcr.io", "robot", ""},
		{"env unset", "env:REG_MISSING", "ghcr.io", "", "unset or empty"},
		{"env empty", "env:REG_EMPTY", "ghcr.io", "", "unset or empty"},
		{"file user:pass", "file:" + userPass, "ghcr.io", "robot", ""},
		{"dockerconfigjson docker hub", "file:" + dockerCfg, "index.docker.io", "hub", ""},
		{"dockerconfigjson ghcr", "file:" + dockerCfg, "ghcr.io", "gh", ""},
		{"dockerconfigjson no entry", "file:" + dockerCfg, "quay.io", "", "no entry for registry quay.io"},
		{"legacy dockercfg", "file:" + legacyCfg, "quay.io", "q", ""},
		{"file missing", "file:" + filepath.Join(dir, "nope"), "ghcr.io", "", "no such file"},
		{"file garbage", "file:" + garbage, "ghcr.io", "", "expected one line user:password"},
		{"ext", "ext:" + script, "ghcr.io", "robot", ""},
		{"ext fails", "ext:" + failing, "ghcr.io", "", "exit code 3"},
		{"ext bad output", "ext:" + noisy, "ghcr.io", "", "expected one line user:password"},
		{"ext timeout", "ext:" + slow, "ghcr.io", "", "did not finish within"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ref, err := parseCredentialRef(tc.ref)
			if err != nil {
				t.Fatal(err)
			}
			cfg, err := ref.read(context.Background(), tc.registry, 300*time.Millisecond)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want %q", err, tc.wantErr)
				}
				if strings.Contains(err.Error(), knownSecret) {
					t.Fatalf("error leaks the secret: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if cfg.Username != tc.user || cfg.Password != knownSecret {
				t.Fatalf("got user %q", cfg.Username)
			}
		})
	}
}

func TestCredentialsReReadAfterExpiry(t *testing.T) {
	clock := newFakeClock()
	t.Setenv("ROTATING", "robot:first-secret")
	a := &credAuthenticator{ref: credentialRef{kind: credEnv, value: "ROTATING"}, registry: "ghcr.io", expire: time.Hour, now: clock.Now, secrets: &secretSet{}}
	get := func() string {
		cfg, err := a.Authorization()
		if err != nil {
			t.Fatal(err)
		}
		return cfg.Password
	}
	if got := get(); got != "first-secret" {
		t.Fatal(got)
	}
	t.Setenv("ROTATING", "robot:second-secret")
	if got := get(); got != "first-secret" {
		t.Fatalf("re-read before credsexpire: %s", got)
	}
	clock.Advance(time.Hour + time.Second)
	if got := get(); got != "second-secret" {
		t.Fatalf("not re-read after credsexpire: %s", got)
	}
	if got := a.secrets.scrub("x first-secret y second-secret"); strings.Contains(got, "secret") && !strings.Contains(got, "[redacted]") {
		t.Fatalf("scrub: %s", got)
	}
}

func TestCloudKeychainSelection(t *testing.T) {
	cases := map[string]string{
		"123456789012.dkr.ecr.eu-west-1.amazonaws.com":      "ecr",
		"123456789012.dkr.ecr-fips.us-east-1.amazonaws.com": "ecr",
		"gcr.io":                          "gcr",
		"eu.gcr.io":                       "gcr",
		"europe-west1-docker.pkg.dev":     "gcr",
		"acme.azurecr.io":                 "acr",
		"ghcr.io":                         "",
		"index.docker.io":                 "",
		"evil.com.gcr.io.example":         "",
		"dkr.ecr.eu-west-1.amazonaws.com": "",
	}
	for host, want := range cases {
		if got := cloudKind(host); got != want {
			t.Errorf("cloudKind(%q) = %q, want %q", host, got, want)
		}
	}
}

// TestCredentialChoice: the pull-secret names an entry, used only under
// its prefix; otherwise the longest prefix holding the repository decides,
// never the host alone.
func TestCredentialChoice(t *testing.T) {
	conf, err := ParseRegistriesConfig([]byte(`registries:
- name: shared
  prefix: registry.example.com
  credentials: env:SHARED_CREDS
- name: team-a
  prefix: registry.example.com/team-a
  credentials: env:TEAM_A_CREDS
- name: limits-only
  prefix: registry.example.com/team-c
  limit: 5
- name: other
  prefix: other.example.com/team-a
  credentials: env:OTHER_CREDS
`))
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		image, pullSecret string
		want              string // entry name, "" for the default chain
		err               string
	}{
		{"registry.example.com/team-a/web", "", "team-a", ""},
		{"registry.example.com/team-a", "", "team-a", ""},
		{"registry.example.com/team-b/app", "", "shared", ""},
		{"registry.example.com/team-ab/app", "", "shared", ""},
		{"registry.example.com/team-c/app", "", "", ""},
		{"other.example.com/team-b/app", "", "", ""},
		{"ghcr.io/acme/web", "", "", ""},
		{"registry.example.com/team-a/web", "shared", "shared", ""},
		{"registry.example.com/team-b/app", "team-a", "", "credentials are for repositories under registry.example.com/team-a"},
		{"other.example.com/team-a/app", "team-a", "", "credentials are for repositories under"},
		{"registry.example.com/team-c/app", "limits-only", "", "has no credentials"},
		{"registry.example.com/team-a/web", "nobody", "", "the names are limits-only, other, shared, team-a"},
	}
	r := newTestResolver(t, WithRegistriesConfig(conf))
	for _, tc := range cases {
		tgt, err := r.target(tc.image)
		if err != nil {
			t.Fatal(err)
		}
		cred, err := conf.credentialFor(tc.pullSecret, tgt)
		if tc.err != "" {
			if !errors.Is(err, ErrPullSecret) || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%s with pull-secret %q: %v, want an error containing %q", tc.image, tc.pullSecret, err, tc.err)
			}
			continue
		}
		if err != nil || cred.Name() != tc.want {
			t.Errorf("%s with pull-secret %q: credential %q (%v), want %q", tc.image, tc.pullSecret, cred.Name(), err, tc.want)
		}
	}
}

func TestDefaultChainOrder(t *testing.T) {
	base := staticKeychain{user: "base"}
	k := &keychains{base: base, now: time.Now, secrets: &secretSet{}}
	reg, _ := name.NewRegistry("other.example.com")
	auth, err := defaultChain{k}.Resolve(reg)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := auth.Authorization()
	if err != nil || cfg.Username != "base" {
		t.Errorf("base keychain not used: %+v %v", cfg, err)
	}
}

type staticKeychain struct{ user string }

func (s staticKeychain) Resolve(authn.Resource) (authn.Authenticator, error) {
	return authn.FromConfig(authn.AuthConfig{Username: s.user, Password: "x"}), nil
}
