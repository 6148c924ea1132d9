package docs

import (
	"regexp"
	"strings"
	"testing"

	"github.com/spf13/pflag"

	"github.com/argocd-image-resolver/argocd-image-resolver/plugin"
)

var codeSpan = regexp.MustCompile("`([^`]+)`")

// TestReplicasSettingsMatchServeFlags keeps the settings table of
// docs/replicas.md true: every flag it names is a flag of `serve` with the
// documented default, and every Redis, memory-ttl and registry-timeout flag
// of `serve` is in the table.
func TestReplicasSettingsMatchServeFlags(t *testing.T) {
	root := plugin.NewRootCommand()
	serve, _, err := root.Find([]string{"serve"})
	if err != nil {
		t.Fatal(err)
	}
	documented := map[string]bool{}
	for _, row := range tableRows(t, section(t, readFile(t, "docs/replicas.md"), "redis-flags"), 4) {
		flags := codeSpan.FindAllStringSubmatch(row[0], -1)
		defaults := codeSpan.FindAllStringSubmatch(row[2], -1)
		for _, m := range flags {
			name := strings.TrimPrefix(m[1], "--")
			documented[name] = true
			f := serve.Flags().Lookup(name)
			if f == nil {
				t.Errorf("docs/replicas.md documents --%s, which serve does not have", name)
				continue
			}
			// A code span in the default column is the flag's own default
			// (the others describe where a default comes from).
			if len(flags) == 1 && len(defaults) == 1 && !strings.Contains(row[2], "install") && f.DefValue != defaults[0][1] {
				t.Errorf("docs/replicas.md: --%s defaults to %q, serve says %q", name, defaults[0][1], f.DefValue)
			}
		}
	}
	for _, prefix := range []string{"redis", "sentinel", "memory-ttl", "registry-timeout"} {
		serve.Flags().VisitAll(func(f *pflag.Flag) {
			if strings.HasPrefix(f.Name, prefix) && !documented[f.Name] {
				t.Errorf("serve has --%s, which docs/replicas.md does not document", f.Name)
			}
		})
	}
}
