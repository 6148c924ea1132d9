package resolve

import (
	"strings"
	"testing"
)

// FuzzParseWebhook feeds arbitrary bodies to every provider's parser: it must
// never panic, and every event it accepts names a repository that resolve
// can look up again.
func FuzzParseWebhook(f *testing.F) {
	for _, s := range []string{dockerHubSample, ghcrSample, harborSample, quaySample, distributionSample, `{}`, `[]`, `null`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		for _, provider := range WebhookProviders() {
			events, err := ParseWebhook(provider, []byte(body))
			if err != nil {
				continue
			}
			for _, ev := range events {
				if strings.TrimSpace(ev.Repository) == "" {
					t.Fatalf("%s: accepted an event without a repository: %+v", provider, ev)
				}
				if _, err := ParseSpec(ev.Repository); err != nil {
					t.Fatalf("%s: event repository %q does not parse as an image: %v", provider, ev.Repository, err)
				}
			}
		}
	})
}

// FuzzParseRegistriesConfig: any registries.conf either parses or fails with
// an error; it never panics, and what parses can be parsed again.
func FuzzParseRegistriesConfig(f *testing.F) {
	f.Add("registries:\n- name: ghcr\n  prefix: ghcr.io\n  api_url: https://ghcr.io\n  credentials: env:GHCR\n  credsexpire: 1h\n  limit: 5\n  default: true\n")
	f.Add("registries:\n- prefix: docker.io\n  defaultns: acme\n  insecure: yes\n")
	f.Add("registries: {}\n")
	f.Add("registries:\n- prefix: x\n  unknown: 1\n")
	f.Fuzz(func(t *testing.T, data string) {
		conf, err := ParseRegistriesConfig([]byte(data))
		if err != nil {
			return
		}
		if conf == nil {
			t.Fatal("nil config without error")
		}
		if _, err := ParseRegistriesConfig([]byte(data)); err != nil {
			t.Fatalf("second parse failed: %v", err)
		}
	})
}
