package webhookpayload

import (
	"strings"
	"testing"

	"github.com/argocd-image-resolver/argocd-image-resolver/imagespec"
)

// FuzzParseWebhook feeds arbitrary bodies to every provider's parser: it
// must never panic, and every event it accepts names a repository that
// parses as an image spec, so that the resolver can look it up again.
func FuzzParseWebhook(f *testing.F) {
	for _, s := range []string{dockerHubSample, ghcrSample, harborSample, quaySample, distributionSample, genericSample, `{}`, `[]`, `null`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		for _, provider := range Providers() {
			events, err := Parse(provider, []byte(body))
			if err != nil {
				continue
			}
			for _, ev := range events {
				if strings.TrimSpace(ev.Repository) == "" {
					t.Fatalf("%s: accepted an event without a repository: %+v", provider, ev)
				}
				if _, err := imagespec.Parse(ev.Repository); err != nil {
					t.Fatalf("%s: event repository %q does not parse as an image: %v", provider, ev.Repository, err)
				}
			}
		}
	})
}
