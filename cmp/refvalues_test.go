package cmp

import (
	"context"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/argocd-image-resolver/argocd-image-resolver/test/tartest"
)

// TestRefValueFiles: a value file named through a multi-source `ref`
// ($values/...) fails with an error that says why Argo CD never sends it
// to a plugin, also when missing files are to be ignored; a folder that
// really is named `$values` in the chart still works, and so do paths that
// only look alike.
func TestRefValueFiles(t *testing.T) {
	reg := newTestRegistry(t)
	reg.push(t, "acme/web", "1.2.3")
	h := startServer(t, reg)
	chart := append(chartEntries(),
		tartest.File("apps/web/templates/env.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: env\ndata:\n  env: {{ .Values.env | quote }}\n"),
	)
	literal := append(chartEntries(),
		tartest.File("apps/web/templates/env.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: env\ndata:\n  env: {{ .Values.env | quote }}\n"),
		tartest.File("apps/web/$values/prod.yaml", "env: literal-folder\n"),
		tartest.File("apps/web/$not a ref/prod.yaml", "env: odd-folder\n"),
	)
	cases := []struct {
		name    string
		entries []tartest.Entry
		params  string
		want    string // in the manifests, or in the error when code is set
		code    codes.Code
	}{
		{"ref value file", chart, `[{"name":"value-files","array":["$values/envs/prod.yaml"]}]`,
			`value file "$values/envs/prod.yaml" names the ref source $values of a multi-source Application: Argo CD resolves $ref value files for Helm sources only`, codes.InvalidArgument},
		{"ref value file, missing ignored", chart, `[{"name":"value-files","array":["$values/envs/prod.yaml"]},{"name":"ignore-missing-value-files","string":"true"}]`,
			"names the ref source $values", codes.InvalidArgument},
		{"second of several", chart, `[{"name":"value-files","array":["Chart.yaml","$cfg-2/x.yaml"]}]`,
			"names the ref source $cfg-2", codes.InvalidArgument},
		{"folder named $values", literal, `[{"name":"value-files","array":["$values/prod.yaml"]}]`, `env: "literal-folder"`, codes.OK},
		{"not a ref name", literal, `[{"name":"value-files","array":["$not a ref/prod.yaml"]}]`, `env: "odd-folder"`, codes.OK},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			resp, err := h.sendRaw(context.Background(), t, rawStream{
				appRelPath: "apps/web",
				data:       tartest.Tgz(t, tc.entries...),
				env:        []string{"ARGOCD_APP_NAME=web", "ARGOCD_APP_PARAMETERS=" + tc.params},
			})
			if tc.code == codes.OK {
				if err != nil {
					t.Fatalf("GenerateManifest: %v", err)
				}
				mustContain(t, manifestsText(resp), tc.want)
				return
			}
			st, _ := status.FromError(err)
			if st.Code() != tc.code || !strings.Contains(st.Message(), tc.want) {
				t.Errorf("got %v %q, want %v containing %q", st.Code(), st.Message(), tc.code, tc.want)
			}
		})
	}
}
