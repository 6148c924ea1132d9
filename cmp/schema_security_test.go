package cmp

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/argocd-image-resolver/argocd-image-resolver/test/tartest"
)

// TestSchemaReferencesNeverLeaveTheChart: values.schema.json comes with
// the repository; Helm's checker would fetch any URL its $ref or $schema
// names and read any file of the sidecar. Through the socket, such a
// reference fails the render (InvalidArgument, naming the chart and the
// reference) with no request and no file read, while the json-schema.org
// meta-schemas keep working without the network.
func TestSchemaReferencesNeverLeaveTheChart(t *testing.T) {
	const sidecarMarker = "read-from-the-sidecar"
	secret := filepath.Join(t.TempDir(), "secret.json")
	if err := os.WriteFile(secret, []byte(`{"required": ["`+sidecarMarker+`"]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	rec := startRecorder(t, func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte(`{"required": ["fetched-by-the-sidecar"]}`))
	})
	withSchema := func(schema string) []byte {
		return tartest.Tgz(t,
			tartest.File("apps/web/Chart.yaml", "apiVersion: v2\nname: web\nversion: 0.1.0\n"),
			tartest.File("apps/web/values.yaml", "replicas: 1\n"),
			tartest.File("apps/web/values.schema.json", schema),
			tartest.File("apps/web/templates/cm.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: web\n"),
		)
	}
	cases := []struct {
		name, schema string
		code         codes.Code
		want         []string
	}{
		{"$ref to a loopback server", `{"$ref": "http://` + rec.host + `/s.json"}`, codes.InvalidArgument,
			[]string{"chart web", "http://" + rec.host + "/s.json", "outside the chart"}},
		{"$schema naming instance metadata", `{"$schema": "http://169.254.169.254/latest/meta-data/", "type": "object"}`, codes.InvalidArgument,
			[]string{"chart web", "http://169.254.169.254/latest/meta-data/"}},
		{"$ref to a sidecar file", `{"$ref": "file://` + secret + `"}`, codes.InvalidArgument,
			[]string{"chart web", "file://" + secret}},
		{"draft-07 meta-schema", `{"$schema": "http://json-schema.org/draft-07/schema#", "properties": {"replicas": {"type": "integer"}}}`, codes.OK, nil},
		{"2020-12 meta-schema, values failing it", `{"$schema": "https://json-schema.org/draft/2020-12/schema", "properties": {"replicas": {"type": "string"}}}`,
			codes.InvalidArgument, []string{"values don't meet the specifications of the schema(s)", "- at '/replicas': got number, want string"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := startServer(t, nil)
			before := len(rec.requests())
			_, err := h.sendRaw(context.Background(), t, rawStream{appRelPath: "apps/web", data: withSchema(tc.schema), env: pluginEnv(t, "web", nil)})
			st, _ := status.FromError(err)
			if st.Code() != tc.code {
				t.Fatalf("got %v %q, want %v", st.Code(), st.Message(), tc.code)
			}
			for _, w := range tc.want {
				if !strings.Contains(st.Message(), w) {
					t.Errorf("message %q lacks %q", st.Message(), w)
				}
			}
			if strings.Contains(st.Message(), sidecarMarker) {
				t.Errorf("a sidecar file was read: %s", st.Message())
			}
			if n := len(rec.requests()) - before; n != 0 {
				t.Errorf("the schema made %d requests", n)
			}
			h.assertNoLeftovers(t)
		})
	}
}
