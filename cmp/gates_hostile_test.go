package cmp

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/argocd-image-resolver/argocd-image-resolver/test/tartest"
)

// TestHostileGateOptionsAndDirectoryParameters: what this change lets an
// Application author set is refused before it reaches a file, a variable,
// an internal address or an unbounded amount of work, and the refusal
// carries nothing of the sidecar. Each case is an attack through the
// socket.
func TestHostileGateOptionsAndDirectoryParameters(t *testing.T) {
	reg := newTestRegistry(t)
	reg.push(t, "acme/web", "1.6.3")
	secret := filepath.Join(t.TempDir(), "key.pem")
	if err := os.WriteFile(secret, []byte("-----BEGIN SIDECAR SECRET-----"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("SIDECAR_SECRET", "hunter2")
	h := startServer(t, reg)
	deploy := "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  template:\n    spec:\n      containers:\n      - image: " + reg.host + "/acme/web:1.0\n"
	chart := chartEntries()
	dir := []tartest.Entry{tartest.File("apps/web/d.yaml", deploy)}
	params := func(options map[string]string, extra ...map[string]any) []string {
		list := []map[string]any{
			{"name": "images", "array": []string{"web=" + reg.host + "/acme/web"}},
			{"name": "image-options", "map": options},
		}
		list = append(list, extra...)
		b, err := json.Marshal(list)
		if err != nil {
			t.Fatal(err)
		}
		return []string{"ARGOCD_APP_PARAMETERS=" + string(b), "ARGOCD_APP_NAME=web", "ARGOCD_APP_PROJECT_NAME=default"}
	}
	for _, c := range []struct {
		name  string
		files []tartest.Entry
		env   []string
		want  string
	}{
		{"verify names a sidecar file", chart, params(map[string]string{"web.verify": secret}), "name a signature policy"},
		{"verify names a variable", chart, params(map[string]string{"web.verify": "env:SIDECAR_SECRET"}), "name a signature policy"},
		{"verify names an undefined policy", chart, params(map[string]string{"web.verify": "anything"}), `no signature policy "anything"`},
		{"follow climbs out of the namespace", chart, params(map[string]string{"web.follow": "../../etc/passwd"}), "name an Application"},
		{"follow is a URL", chart, params(map[string]string{"web.follow": "http://169.254.169.254/latest"}), "name an Application"},
		{"follow a huge name", chart, params(map[string]string{"web.follow": strings.Repeat("a", 100000)}), "name an Application"},
		{"min-age of a century", chart, params(map[string]string{"web.min-age": "36500d"}), "at most"},
		{"a glob that costs per file", dir, params(map[string]string{}, map[string]any{"name": "directory-include", "string": strings.Repeat("{a,", 300) + strings.Repeat("}", 300)}), "has more than 16 {...} groups"},
		{"a glob of a megabyte", dir, params(map[string]string{}, map[string]any{"name": "directory-exclude", "string": strings.Repeat("*", 1<<20)}), "longer than 512 bytes"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := h.sendRaw(context.Background(), t, rawStream{appRelPath: "apps/web", data: tartest.Tgz(t, c.files...), env: c.env})
			st, _ := status.FromError(err)
			if st.Code() != codes.InvalidArgument || !strings.Contains(st.Message(), c.want) {
				t.Fatalf("got %v %q, want InvalidArgument containing %q", st.Code(), clip(st.Message()), c.want)
			}
			for _, leak := range []string{"SIDECAR SECRET", "hunter2"} {
				if strings.Contains(st.Message(), leak) {
					t.Fatalf("the refusal carries the sidecar's %q", leak)
				}
			}
		})
	}
}

func clip(s string) string {
	if len(s) > 300 {
		return s[:300] + "..."
	}
	return s
}
