package migrate

import (
	"reflect"
	"testing"
)

// TestMigrateDirectory moves a directory source's settings to the
// plugin's parameters.
func TestMigrateDirectory(t *testing.T) {
	tests := []struct {
		name      string
		directory string
		want      map[string]any
		findings  []string
	}{
		{
			name:      "recurse, include and exclude",
			directory: "{recurse: true, include: '*.yaml', exclude: '*-test.yaml'}",
			want:      map[string]any{"directory-recurse": "true", "directory-include": "*.yaml", "directory-exclude": "*-test.yaml"},
		},
		{
			name:      "jsonnet and other extensions have no equivalent",
			directory: "{jsonnet: {libs: [vendor]}, disableExtensionFilter: true}",
			want:      map[string]any{},
			findings:  []string{"directory.jsonnet: no equivalent", "directory.disableExtensionFilter: no equivalent"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := migrateText(t, appDoc("web", oneImage(), withBlock("manifests", "directory", tt.directory)))
			if got := sourceParams(r.plugin(t, 0)); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("parameters = %#v\nwant %#v", got, tt.want)
			}
			r.wantFindings(t, append([]string{"argocd-image-updater does not update directory sources"}, tt.findings...)...)
		})
	}
}
