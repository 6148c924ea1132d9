package migrate

import (
	"reflect"
	"testing"
)

// TestMigrateHelm moves a Helm source's settings to the plugin's
// parameters.
func TestMigrateHelm(t *testing.T) {
	tests := []struct {
		name        string
		annotations map[string]string
		helm        string
		want        map[string]any // parameters other than images and image-options
		wantOptions map[string]string
		findings    []string
	}{
		{
			name: "every setting with an equivalent",
			helm: `releaseName: shop
valueFiles: [values.yaml, values-prod.yaml]
values: |
  replicaCount: 2
parameters:
- {name: replicaCount, value: "3"}
- {name: podAnnotations.commit, value: "0123", forceString: true}
skipCrds: true
ignoreMissingValueFiles: true
version: v3
`,
			want: map[string]any{
				"release-name":               "shop",
				"value-files":                []string{"values.yaml", "values-prod.yaml"},
				"values":                     "replicaCount: 2\n",
				"helm-parameters":            map[string]string{"replicaCount": "3"},
				"helm-string-parameters":     map[string]string{"podAnnotations.commit": "0123"},
				"skip-crds":                  "true",
				"ignore-missing-value-files": "true",
			},
		},
		{
			name:     "valuesObject becomes values YAML, and wins over values",
			helm:     "values: 'a: 1'\nvaluesObject:\n  b:\n    c: [1, 2]\n",
			want:     map[string]any{"values": "b:\n  c:\n  - 1\n  - 2\n"},
			findings: []string{"spec.source.helm.values: Argo CD uses valuesObject when both are set"},
		},
		{
			name: "parameters argocd-image-updater wrote are dropped, and its default paths kept as options",
			helm: `parameters:
- {name: image.name, value: ghcr.io/acme/web, forceString: true}
- {name: image.tag, value: 1.6.3, forceString: true}
- {name: web.tag, value: 1.0.0}
`,
			want:        map[string]any{"helm-parameters": map[string]string{"web.tag": "1.0.0"}},
			wantOptions: map[string]string{"web.helm.image-name": "image.name", "web.helm.image-tag": "image.tag"},
			findings: []string{
				`spec.source.helm.parameters image.name: the value argocd-image-updater wrote for image web ("ghcr.io/acme/web")`,
				`spec.source.helm.parameters image.tag: the value argocd-image-updater wrote for image web ("1.6.3")`,
			},
		},
		{
			name:        "named value paths are the ones dropped",
			annotations: map[string]string{"image-list": "web=ghcr.io/acme/web:~1.6", "web.helm.image-name": "web.repository", "web.helm.image-tag": "web.tag"},
			helm:        "parameters:\n- {name: web.tag, value: 1.6.3}\n- {name: image.tag, value: keep}\n",
			want:        map[string]any{"helm-parameters": map[string]string{"image.tag": "keep"}},
			wantOptions: map[string]string{"web.helm.image-name": "web.repository", "web.helm.image-tag": "web.tag"},
			findings:    []string{"parameters web.tag: the value argocd-image-updater wrote"},
		},
		{
			name: "settings without an equivalent",
			helm: `fileParameters: [{name: config, path: config.json}]
passCredentials: true
version: v2
kubeVersion: "1.29"
apiVersions: [monitoring.coreos.com/v1]
skipTests: true
skipSchemaValidation: true
namespace: elsewhere
`,
			want: map[string]any{},
			findings: []string{
				"helm.fileParameters: no equivalent", "helm.passCredentials: no equivalent", "helm.version: no equivalent",
				"helm.kubeVersion: no equivalent", "helm.apiVersions: no equivalent", "helm.skipTests: no equivalent",
				"helm.skipSchemaValidation: no equivalent", "helm.namespace: no equivalent in the plugin (the plugin renders into the destination namespace, apps)",
			},
		},
		{
			name:     "the destination namespace is no loss",
			helm:     "namespace: apps\n",
			want:     map[string]any{},
			findings: []string{"helm.namespace: the destination namespace"},
		},
		{
			name: "value files of another source or remote are kept, and errors",
			helm: "valueFiles: [$values/prod.yaml, https://example.com/values.yaml, values.yaml]\n",
			want: map[string]any{"value-files": []string{"$values/prod.yaml", "https://example.com/values.yaml", "values.yaml"}},
			findings: []string{
				"helm.valueFiles $values/prod.yaml: names a file of another source",
				"helm.valueFiles https://example.com/values.yaml: a remote value file",
			},
		},
		{
			name:     "a field Argo CD's API does not have is reported",
			helm:     "releaseName: shop\nreleaseNames: [typo]\n",
			want:     map[string]any{"release-name": "shop"},
			findings: []string{`error: app argocd/web: spec.source: json: unknown field "releaseNames"`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ann := tt.annotations
			if ann == nil {
				ann = oneImage()
			}
			r := migrateText(t, appDoc("web", ann, withBlock("charts/web", "helm", tt.helm)))
			p := r.plugin(t, 0)
			checkImages(t, p, []string{ann["image-list"]}, tt.wantOptions)
			if got := sourceParams(p); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("parameters = %#v\nwant %#v", got, tt.want)
			}
			r.wantFindings(t, tt.findings...)
		})
	}
}
