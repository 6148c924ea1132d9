package plugin

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/argocd-image-resolver/argocd-image-resolver/resolve"
	"github.com/argocd-image-resolver/argocd-image-resolver/test/registrytest"
)

// resolveCmdRegistry starts a loopback registry holding acme/web with the
// tags of the example; it returns the host and the tag digests.
func resolveCmdRegistry(t *testing.T) (string, map[string]string) {
	t.Helper()
	reg := registrytest.New(t)
	digests := reg.PushTags(t, "acme/web", "1.5.0", "1.6.0", "1.6.3", "1.7.0", "2.0.0-rc.1", "latest")
	return reg.Host(), digests
}

func runRoot(t *testing.T, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	var out, errOut bytes.Buffer
	cmd := NewRootCommand()
	cmd.SetArgs(args)
	cmd.SetOut(&out)
	cmd.SetErr(&errOut)
	err = cmd.ExecuteContext(context.Background())
	return out.String(), errOut.String(), err
}

func TestResolveCommandJSON(t *testing.T) {
	host, digests := resolveCmdRegistry(t)
	stdout, _, err := runRoot(t, "resolve", "web="+host+"/acme/web:~1.6", "-o", "json")
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Results []struct {
			Alias      string `json:"alias"`
			Image      string `json:"image"`
			Strategy   string `json:"strategy"`
			Constraint string `json:"constraint"`
			Tag        string `json:"tag"`
			Digest     string `json:"digest"`
			Pinned     *bool  `json:"pinned"`
			Source     string `json:"source"`
			Candidates []struct {
				Tag      string `json:"tag"`
				Accepted *bool  `json:"accepted"`
				Reason   string `json:"reason"`
			} `json:"candidates"`
		} `json:"results"`
	}
	if err := json.Unmarshal([]byte(stdout), &doc); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, stdout)
	}
	if len(doc.Results) != 1 {
		t.Fatalf("results: %s", stdout)
	}
	res := doc.Results[0]
	if res.Alias != "web" || res.Image != host+"/acme/web" || res.Strategy != "semver" || res.Constraint != "~1.6" ||
		res.Tag != "1.6.3" || res.Digest != digests["1.6.3"] || res.Pinned == nil || *res.Pinned || res.Source != resolve.SourceRegistry {
		t.Fatalf("result: %s", stdout)
	}
	reasons := map[string]string{}
	for _, c := range res.Candidates {
		if c.Accepted == nil {
			t.Fatalf("candidate without accepted: %s", stdout)
		}
		if !*c.Accepted {
			reasons[c.Tag] = c.Reason
		}
	}
	for _, tag := range []string{"1.7.0", "2.0.0-rc.1"} {
		if reasons[tag] == "" {
			t.Errorf("candidate %s has no rejection reason: %s", tag, stdout)
		}
	}
	if !strings.Contains(stdout, `"tag": "1.6.3"`) {
		t.Errorf("output lacks \"tag\": \"1.6.3\"")
	}
}

func TestResolveCommandTableAndOptions(t *testing.T) {
	host, digests := resolveCmdRegistry(t)
	stdout, _, err := runRoot(t, "resolve",
		"web="+host+"/acme/web", "--option", "web.allow-tags=regexp:^1\\.",
		"db="+host+"/acme/db", "--option", "db.override-tag=15.2")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"web", "tag:", "1.7.0", digests["1.7.0"], "source:", "registry", "candidates:", "+ 1.7.0", "- 2.0.0-rc.1", "db", "15.2 (pinned"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("table lacks %q:\n%s", want, stdout)
		}
	}
}

func TestResolveCommandFailsWithNamedError(t *testing.T) {
	host, _ := resolveCmdRegistry(t)
	stdout, _, err := runRoot(t, "resolve", "web="+host+"/acme/web:~1.6", "api="+host+"/acme/missing", "-o", "json")
	if err == nil {
		t.Fatal("a failing spec did not fail the command")
	}
	for _, want := range []string{"resolve api", host + "/acme/missing", "registry " + host, "check the image name"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
	if !strings.Contains(stdout, `"alias": "web"`) {
		t.Errorf("the spec that resolved is not printed:\n%s", stdout)
	}
}

func TestResolveCommandBadInput(t *testing.T) {
	conf := filepath.Join(t.TempDir(), "registries.conf")
	if err := os.WriteFile(conf, []byte("registries:\n- prefix: a.io\n  pasword: x\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"resolve"}, "requires at least 1 arg"},
		{[]string{"resolve", "web=ghcr.io/acme/web", "-o", "yaml"}, "use table or json"},
		{[]string{"resolve", "web=ghcr.io/acme/web", "--option", "web.update-strategy"}, "alias.key=value"},
		{[]string{"resolve", "web=ghcr.io/acme/web", "--option", "web.update-strategy=fastest"}, "unknown strategy"},
		{[]string{"resolve", "web=ghcr.io/acme/web", "--registries-conf", conf}, `line 3: unknown key "pasword"`},
	}
	for _, tc := range cases {
		_, _, err := runRoot(t, tc.args...)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: error %v, want %q", tc.args, err, tc.want)
		}
	}
}

func TestResolveCommandHelp(t *testing.T) {
	stdout, _, err := runRoot(t, "resolve", "--help")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"Examples:", "--option", "--registries-conf", "--output"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("help lacks %q", want)
		}
	}
}
