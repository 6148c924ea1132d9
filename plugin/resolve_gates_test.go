package plugin

import (
	"strings"
	"testing"
	"time"

	"github.com/argocd-image-resolver/argocd-image-resolver/test/registrytest"
)

// TestResolveCommandShowsWhenHeldBackTagsComeOfAge: resolve lists the tag
// min-age holds back with its reason and the time it becomes eligible.
func TestResolveCommandShowsWhenHeldBackTagsComeOfAge(t *testing.T) {
	reg := registrytest.New(t)
	registrytest.Push(t, reg.Host()+"/acme/web:1.6.0", registrytest.Created(time.Now().Add(-30*24*time.Hour)))
	registrytest.Push(t, reg.Host()+"/acme/web:1.6.3", registrytest.Created(time.Now().Add(-time.Hour)))
	stdout, _, err := runRoot(t, "resolve", "web="+reg.Host()+"/acme/web:~1.6", "--option", "web.min-age=24h")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"tag:", "1.6.0", "accepted by:  min-age 24h", "held back:", "1.6.3 first seen 0s ago; min-age 24h; eligible at "} {
		if !strings.Contains(stdout, want) {
			t.Errorf("output lacks %q:\n%s", want, stdout)
		}
	}
}
