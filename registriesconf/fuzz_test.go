package registriesconf

import "testing"

// FuzzParseRegistriesConfig: any registries.conf either parses or fails
// with an error; it never panics, and what parses can be parsed again.
func FuzzParseRegistriesConfig(f *testing.F) {
	f.Add("registries:\n- name: ghcr\n  prefix: ghcr.io\n  api_url: https://ghcr.io\n  credentials: env:GHCR\n  credsexpire: 1h\n  limit: 5\n  default: true\n")
	f.Add("registries:\n- prefix: docker.io\n  defaultns: acme\n  insecure: yes\n")
	f.Add("registries: {}\n")
	f.Add("registries:\n- prefix: x\n  unknown: 1\n")
	f.Add("allowed:\n- ghcr.io/acme/*\n- docker.io\nprojects:\n  team-a: ['127.0.0.1:5000/*']\n  team-b: []\n")
	f.Add("signature-policies:\n- name: ci-key\n  kind: cosign-key\n  key: /k.pub\n- name: ci-keyless\n  kind: keyless\n  issuer-regexp: ^https://.*$\n  subject: s\n  trusted-root: /r.json\n")
	f.Fuzz(func(t *testing.T, data string) {
		conf, err := Parse([]byte(data))
		if err != nil {
			return
		}
		if conf == nil {
			t.Fatal("nil config without error")
		}
		if _, err := Parse([]byte(data)); err != nil {
			t.Fatalf("second parse failed: %v", err)
		}
		// Every project's policy answers, and rules exist exactly when the
		// file has some.
		restricted := len(conf.Allowed) > 0 || len(conf.Projects) > 0
		for project := range conf.Projects {
			if conf.Policy(project).Restricted() != restricted {
				t.Fatalf("project %q: restricted %v, want %v", project, !restricted, restricted)
			}
		}
		if conf.Policy("").Restricted() != restricted {
			t.Fatalf("default policy: restricted %v, want %v", !restricted, restricted)
		}
		// Every signature policy is found by its name and has a known kind.
		for _, sp := range conf.SignaturePolicies {
			got, ok := conf.SignaturePolicy(sp.Name)
			if !ok || got.Kind != sp.Kind || kindKeys[sp.Kind] == nil {
				t.Fatalf("signature policy %+v: lookup %+v %v", sp, got, ok)
			}
		}
		for _, reg := range conf.Registries {
			if reg.Host() == "" || reg.APIHost() == "" || !reg.Covers(reg.Host(), reg.Path()) {
				t.Fatalf("entry %q: host %q path %q api %q", reg.Label(), reg.Host(), reg.Path(), reg.APIHost())
			}
		}
	})
}
