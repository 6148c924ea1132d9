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
		"db="+host+"/acme/web", "--option", "db.override-tag=1.5.0")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"web", "tag:", "1.7.0", digests["1.7.0"], "source:", "registry", "candidates:", "+ 1.7.0", "- 2.0.0-rc.1",
		"db", "1.5.0 (pinned by override-tag; the registry has it: " + digests["1.5.0"] + ")"} {
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

// TestResolveCommandProjectRules: --project applies that AppProject's
// registries.conf rules, as the plugin does for its Applications.
func TestResolveCommandProjectRules(t *testing.T) {
	host, _ := resolveCmdRegistry(t)
	conf := filepath.Join(t.TempDir(), "registries.conf")
	rules := "allowed: []\nprojects:\n  team-a:\n    - " + host + "/acme/*\n"
	if err := os.WriteFile(conf, []byte(rules), 0o600); err != nil {
		t.Fatal(err)
	}
	_, _, err := runRoot(t, "resolve", "web="+host+"/acme/web:~1.6", "--registries-conf", conf)
	if err == nil || !strings.Contains(err.Error(), "outside the registries.conf `allowed` rules (none)") {
		t.Fatalf("without --project: %v", err)
	}
	stdout, _, err := runRoot(t, "resolve", "web="+host+"/acme/web:~1.6", "--registries-conf", conf, "--project", "team-a")
	if err != nil || !strings.Contains(stdout, "1.6.3") {
		t.Fatalf("--project team-a: %v\n%s", err, stdout)
	}
}

// TestResolveCommandExplainsFailures: when nothing matches, the table and
// the JSON still list every candidate with its reason, and the JSON result
// carries the error (it used to print {"results": []}).
func TestResolveCommandExplainsFailures(t *testing.T) {
	host, _ := resolveCmdRegistry(t)
	stdout, _, err := runRoot(t, "resolve", "web="+host+"/acme/web:~9.0", "-o", "json")
	if err == nil || !strings.Contains(err.Error(), "none of 6 tags") {
		t.Fatalf("err = %v, want the no-match error", err)
	}
	var doc struct {
		Results []struct {
			Alias      string `json:"alias"`
			Error      string `json:"error"`
			Candidates []struct {
				Tag    string `json:"tag"`
				Reason string `json:"reason"`
			} `json:"candidates"`
		} `json:"results"`
	}
	if err := json.Unmarshal([]byte(stdout), &doc); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, stdout)
	}
	if len(doc.Results) != 1 || doc.Results[0].Alias != "web" || !strings.Contains(doc.Results[0].Error, "none of 6 tags") {
		t.Fatalf("the failed spec is missing from the JSON or has no error:\n%s", stdout)
	}
	if got := len(doc.Results[0].Candidates); got != 6 {
		t.Errorf("%d candidates, want all 6:\n%s", got, stdout)
	}
	for _, c := range doc.Results[0].Candidates {
		if c.Reason == "" {
			t.Errorf("candidate %s has no reason", c.Tag)
		}
	}

	stdout, _, err = runRoot(t, "resolve", "web="+host+"/acme/web:~9.0")
	if err == nil {
		t.Fatal("table: a failing spec did not fail the command")
	}
	for _, want := range []string{"error:", "none of 6 tags", "- 1.6.3", `outside constraint "~9.0"`, "- latest", "not a semantic version"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("table lacks %q:\n%s", want, stdout)
		}
	}
}

// TestResolveCommandMaxCandidates bounds long candidate lists in both
// formats and says how many were left out.
func TestResolveCommandMaxCandidates(t *testing.T) {
	host, _ := resolveCmdRegistry(t)
	stdout, _, err := runRoot(t, "resolve", "web="+host+"/acme/web:~1.6", "--max-candidates", "2")
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(stdout, "\n    "); n != 3 || !strings.Contains(stdout, "... 4 more (--max-candidates)") {
		t.Errorf("want 2 candidates and a line for the 4 left out:\n%s", stdout)
	}
	stdout, _, err = runRoot(t, "resolve", "web="+host+"/acme/web:~1.6", "--max-candidates", "2", "-o", "json")
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Results []struct {
			Candidates []json.RawMessage `json:"candidates"`
			Omitted    int               `json:"candidatesOmitted"`
		} `json:"results"`
	}
	if err := json.Unmarshal([]byte(stdout), &doc); err != nil || len(doc.Results) != 1 || len(doc.Results[0].Candidates) != 2 || doc.Results[0].Omitted != 4 {
		t.Errorf("JSON with --max-candidates 2: %v\n%s", err, stdout)
	}
}

// TestResolveCommandHeaderAndPin: the header names the repository as
// resolved (registries.conf default registry and namespace applied) and the
// pin mode shows the reference the chart would render.
func TestResolveCommandHeaderAndPin(t *testing.T) {
	host, digests := resolveCmdRegistry(t)
	conf := filepath.Join(t.TempDir(), "registries.conf")
	if err := os.WriteFile(conf, []byte("registries:\n- name: local\n  prefix: "+host+"\n  api_url: http://"+host+"\n  default: true\n  defaultns: acme\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	stdout, _, err := runRoot(t, "resolve", "web:~1.6", "--registries-conf", conf, "--option", "web.pin=tag+digest")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"web  web:~1.6 (" + host + "/acme/web)", "pin:", "tag+digest → web:1.6.3@" + digests["1.6.3"]} {
		if !strings.Contains(stdout, want) {
			t.Errorf("table lacks %q:\n%s", want, stdout)
		}
	}
	stdout, _, err = runRoot(t, "resolve", "web:~1.6", "--registries-conf", conf, "-o", "json")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"repository": "` + host + `/acme/web"`, `"reference": "web:1.6.3"`} {
		if !strings.Contains(stdout, want) {
			t.Errorf("JSON lacks %s:\n%s", want, stdout)
		}
	}
}
