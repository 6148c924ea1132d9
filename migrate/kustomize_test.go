package migrate

import (
	"reflect"
	"testing"
)

// TestMigrateKustomize moves a Kustomize source's settings to the plugin's
// parameters.
func TestMigrateKustomize(t *testing.T) {
	tests := []struct {
		name        string
		annotations map[string]string
		kustomize   string
		want        map[string]any
		findings    []string
	}{
		{
			name: "every setting with an equivalent",
			kustomize: `namePrefix: dev-
nameSuffix: -v2
namespace: shop-dev
images: [redis=public.ecr.aws/docker/library/redis:7.4]
commonLabels: {env: dev}
commonAnnotations: {owner: shop}
replicas: [{name: shop, count: 3}, {name: worker, count: "2"}]
components: [../../components/debug]
`,
			want: map[string]any{
				"kustomize-name-prefix":        "dev-",
				"kustomize-name-suffix":        "-v2",
				"kustomize-namespace":          "shop-dev",
				"kustomize-images":             []string{"redis=public.ecr.aws/docker/library/redis:7.4"},
				"kustomize-common-labels":      map[string]string{"env": "dev"},
				"kustomize-common-annotations": map[string]string{"owner": "shop"},
				"kustomize-replicas":           map[string]string{"shop": "3", "worker": "2"},
				"kustomize-components":         []string{"../../components/debug"},
			},
		},
		{
			name:        "the overrides argocd-image-updater wrote are dropped",
			annotations: map[string]string{"image-list": "web=ghcr.io/acme/web:~1.6", "web.kustomize.image-name": "acme/web"},
			kustomize:   "images: [acme/web=ghcr.io/acme/web:1.6.3, ghcr.io/acme/web:1.6.3, redis:7]\n",
			want:        map[string]any{"kustomize-images": []string{"ghcr.io/acme/web:1.6.3", "redis:7"}},
			findings:    []string{"kustomize.images acme/web=ghcr.io/acme/web:1.6.3: the override argocd-image-updater wrote for image web"},
		},
		{
			name:      "without kustomize.image-name the repository is the name",
			kustomize: "images: [ghcr.io/acme/web:1.6.3, ghcr.io/acme/web@sha256:0123, ghcr.io/acme/web-extra:1]\n",
			want:      map[string]any{"kustomize-images": []string{"ghcr.io/acme/web-extra:1"}},
			findings:  []string{"kustomize.images ghcr.io/acme/web:1.6.3:", "kustomize.images ghcr.io/acme/web@sha256:0123:"},
		},
		{
			name:        "Helm settings are not for a Kustomize source",
			annotations: map[string]string{"image-list": "web=ghcr.io/acme/web:~1.6", "web.helm.image-tag": "image.tag"},
			kustomize:   "namePrefix: a-\n",
			want:        map[string]any{"kustomize-name-prefix": "a-"},
			findings:    []string{"web.helm.image-tag: a Helm setting on a Kustomize source"},
		},
		{
			name: "settings without an equivalent, and the force flags",
			kustomize: `version: v5.4.3
forceCommonLabels: true
forceCommonAnnotations: true
commonAnnotationsEnvsubst: true
labelWithoutSelector: true
labelIncludeTemplates: true
patches: [{patch: "- op: remove\n  path: /spec/replicas", target: {kind: Deployment}}]
ignoreMissingComponents: true
kubeVersion: "1.29"
apiVersions: [v1]
`,
			want: map[string]any{"kustomize-force-common-labels": "true", "kustomize-force-common-annotations": "true"},
			findings: []string{
				"kustomize.version: no equivalent",
				"kustomize.commonAnnotationsEnvsubst: no equivalent", "kustomize.labelWithoutSelector: no equivalent",
				"kustomize.labelIncludeTemplates: no equivalent", "kustomize.patches: no equivalent",
				"kustomize.ignoreMissingComponents: no equivalent", "kustomize.kubeVersion: no equivalent", "kustomize.apiVersions: no equivalent",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ann := tt.annotations
			if ann == nil {
				ann = oneImage()
			}
			r := migrateText(t, appDoc("web", ann, withBlock("overlays/dev", "kustomize", tt.kustomize)))
			if got := sourceParams(r.plugin(t, 0)); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("parameters = %#v\nwant %#v", got, tt.want)
			}
			r.wantFindings(t, tt.findings...)
		})
	}
}

func TestKustomizeImageName(t *testing.T) {
	tests := map[string]string{
		"nginx":                             "nginx",
		"nginx:1.27":                        "nginx",
		"nginx@sha256:0123":                 "nginx",
		"nginx=ghcr.io/acme/nginx:1.27":     "nginx",
		"localhost:5000/acme/web":           "localhost:5000/acme/web",
		"localhost:5000/acme/web:1.0":       "localhost:5000/acme/web",
		"quay.io/argoproj/argocd=x:v3.6.1":  "quay.io/argoproj/argocd",
		"ghcr.io/acme/web:1.0@sha256:01234": "ghcr.io/acme/web",
	}
	for in, want := range tests {
		if got := kustomizeImageName(in); got != want {
			t.Errorf("kustomizeImageName(%q) = %q, want %q", in, got, want)
		}
	}
}
