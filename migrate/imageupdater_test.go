package migrate

import (
	"reflect"
	"strings"
	"testing"
)

// updaterDoc is an ImageUpdater in namespace argocd with the spec given as
// YAML.
func updaterDoc(name, spec string) string {
	var b strings.Builder
	b.WriteString("apiVersion: argocd-image-updater.argoproj.io/v1alpha1\nkind: ImageUpdater\nmetadata:\n  name: " + name + "\n  namespace: argocd\nspec:\n")
	for _, l := range strings.Split(strings.TrimRight(spec, "\n"), "\n") {
		b.WriteString("  " + l + "\n")
	}
	return b.String()
}

// TestMigrateImageUpdaterSelection: applicationRefs select Applications of
// the input by name pattern, labels and namespace.
func TestMigrateImageUpdaterSelection(t *testing.T) {
	apps := strings.Join([]string{
		"apiVersion: argoproj.io/v1alpha1\nkind: Application\nmetadata:\n  name: shop-prod\n  namespace: argocd\n  labels:\n    tier: web\nspec:\n  project: default\n  source:\n    repoURL: https://github.com/acme/deploy.git\n    path: shop\n  destination:\n    namespace: shop\n",
		"apiVersion: argoproj.io/v1alpha1\nkind: Application\nmetadata:\n  name: shop-dev\n  namespace: argocd\n  labels:\n    tier: worker\nspec:\n  project: default\n  source:\n    repoURL: https://github.com/acme/deploy.git\n    path: shop\n  destination:\n    namespace: shop\n",
		"apiVersion: argoproj.io/v1alpha1\nkind: Application\nmetadata:\n  name: shop-other\n  namespace: team-a\nspec:\n  project: default\n  source:\n    repoURL: https://github.com/acme/deploy.git\n    path: shop\n  destination:\n    namespace: shop\n",
	}, "---\n")
	images := "  images:\n    - alias: shop\n      imageName: ghcr.io/acme/shop:^2\n"
	tests := []struct {
		name      string
		spec      string
		converted []string // names of the Applications that use the plugin
		findings  []string
	}{
		{name: "glob", spec: "applicationRefs:\n- namePattern: shop-*\n" + images, converted: []string{"shop-prod", "shop-dev"},
			findings: []string{"replace it"}},
		{name: "exact name", spec: "applicationRefs:\n- namePattern: shop-dev\n" + images, converted: []string{"shop-dev"}},
		{name: "labels", spec: "applicationRefs:\n- namePattern: '*'\n  labelSelectors:\n    matchLabels:\n      tier: web\n" + images, converted: []string{"shop-prod"}},
		{name: "label expressions", spec: "applicationRefs:\n- namePattern: '*'\n  labelSelectors:\n    matchExpressions:\n    - {key: tier, operator: NotIn, values: [web]}\n" + images, converted: []string{"shop-dev"}},
		{name: "the deprecated spec.namespace", spec: "namespace: team-a\napplicationRefs:\n- namePattern: shop-*\n" + images, converted: []string{"shop-other"}},
		{name: "a pattern that is no glob selects nothing", spec: "applicationRefs:\n- namePattern: 'shop-['\n" + images,
			findings: []string{`error: imageupdater argocd/u: spec.applicationRefs[0].namePattern: "shop-[" is not a glob pattern`, "selects no Application of the input"}},
		{name: "a bad selector selects nothing", spec: "applicationRefs:\n- namePattern: '*'\n  labelSelectors:\n    matchExpressions:\n    - {key: tier, operator: Sometimes}\n" + images,
			findings: []string{"spec.applicationRefs[0].labelSelectors:", "selects no Application"}},
		{name: "the first ref that selects wins", spec: "applicationRefs:\n- namePattern: shop-prod\n" + images + "- namePattern: shop-*\n" + images, converted: []string{"shop-prod", "shop-dev"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := migrateText(t, updaterDoc("u", tt.spec)+"---\n"+apps)
			if len(r.docs) != 3 {
				t.Fatalf("want the 3 Applications and no ImageUpdater, got %d documents:\n%s", len(r.docs), r.out)
			}
			var converted []string
			for i := range r.docs {
				app := r.application(t, i)
				if app.Spec.Source.Plugin != nil {
					converted = append(converted, app.Name)
					if got := r.plugin(t, i)["images"]; !reflect.DeepEqual(got, []string{"shop=ghcr.io/acme/shop:^2"}) {
						t.Errorf("%s: images %v", app.Name, got)
					}
				}
			}
			if !reflect.DeepEqual(converted, tt.converted) {
				t.Errorf("converted %v, want %v", converted, tt.converted)
			}
			r.wantFindings(t, tt.findings...)
		})
	}
}

// TestMigrateImageUpdaterSettings: the spec's common settings are defaults
// for the ref's, which are defaults for each image's; manifest targets
// become the Helm and Kustomize options.
func TestMigrateImageUpdaterSettings(t *testing.T) {
	tests := []struct {
		name        string
		spec        string
		source      string
		wantImages  []string
		wantOptions map[string]string
		findings    []string
	}{
		{
			name: "levels",
			spec: `commonUpdateSettings:
  updateStrategy: digest
  ignoreTags: [a, b]
  platforms: [linux/amd64]
applicationRefs:
- namePattern: web
  commonUpdateSettings:
    ignoreTags: [c]
  images:
  - alias: api
    imageName: ghcr.io/acme/api:main
    manifestTargets:
      helm: {name: api.image.repository, tag: api.image.tag}
  - alias: web
    imageName: ghcr.io/acme/web:~1.6
    commonUpdateSettings:
      updateStrategy: semver
      allowTags: regexp:^1\.
      platforms: []
    manifestTargets:
      helm: {spec: web.image, tag: ignored.tag}
`,
			source:     helmSource,
			wantImages: []string{"api=ghcr.io/acme/api:main", "web=ghcr.io/acme/web:~1.6"},
			wantOptions: map[string]string{
				"api.update-strategy": "digest", "api.ignore-tags": "c", "api.platforms": "linux/amd64",
				"api.helm.image-name": "api.image.repository", "api.helm.image-tag": "api.image.tag",
				"web.update-strategy": "semver", "web.ignore-tags": "c", "web.allow-tags": `regexp:^1\.`,
				"web.helm.image-spec": "web.image",
			},
			findings: []string{"manifestTargets.helm.tag: argocd-image-updater does not use it when helm.image-spec is set"},
		},
		{
			name: "kustomize target",
			spec: `applicationRefs:
- namePattern: web
  images:
  - alias: web
    imageName: ghcr.io/acme/web:~1.6
    manifestTargets:
      kustomize: {name: acme/web}
`,
			source:      withBlock("overlays/prod", "kustomize", "images: [acme/web=ghcr.io/acme/web:1.6.3, other=ghcr.io/acme/other:1]"),
			wantImages:  []string{"web=ghcr.io/acme/web:~1.6"},
			wantOptions: map[string]string{"web.kustomize.image-name": "acme/web"},
			findings:    []string{"spec.source.kustomize.images acme/web=ghcr.io/acme/web:1.6.3: the override argocd-image-updater wrote for image web"},
		},
		{
			name: "write-back settings are notes, a git write-back file an action",
			spec: `writeBackConfig:
  method: git:secret:argocd/git-creds
  gitConfig: {branch: main, repository: https://github.com/acme/deploy.git}
applicationRefs:
- namePattern: web
  writeBackConfig:
    gitConfig: {branch: release, pullRequest: {github: {}}}
  images:
  - alias: web
    imageName: ghcr.io/acme/web:~1.6
`,
			source:     helmSource,
			wantImages: []string{"web=ghcr.io/acme/web:~1.6"},
			findings: []string{
				`spec.writeBackConfig.method: "git:secret:argocd/git-creds": not needed`,
				`spec.writeBackConfig.gitConfig.repository: "https://github.com/acme/deploy.git": not needed`,
				`spec.applicationRefs[0].writeBackConfig.gitConfig.branch: "release": not needed`,
				"spec.applicationRefs[0].writeBackConfig.gitConfig.pullRequest: not needed",
				`action: app argocd/web: charts/app/.argocd-source-web.yaml: delete it in https://github.com/acme/deploy.git, branch "release"`,
			},
		},
		{
			name:   "useAnnotations reads the annotations",
			spec:   "applicationRefs:\n- namePattern: web\n  useAnnotations: true\n",
			source: helmSource,
			// the annotations are added below for this case
			wantImages:  []string{"web=ghcr.io/acme/web:~1.6"},
			wantOptions: map[string]string{"web.update-strategy": "semver"},
		},
		{
			name:       "a field the API does not have is reported",
			spec:       "applicationRefs:\n- namePattern: web\n  images:\n  - alias: web\n    imageName: ghcr.io/acme/web:~1.6\n    strategy: fastest\n",
			source:     helmSource,
			wantImages: []string{"web=ghcr.io/acme/web:~1.6"},
			findings:   []string{`error: imageupdater argocd/u: spec: json: unknown field "strategy"`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var ann map[string]string
			if strings.Contains(tt.spec, "useAnnotations") {
				ann = map[string]string{"image-list": "web=ghcr.io/acme/web:~1.6", "web.update-strategy": "semver"}
			}
			r := migrateText(t, updaterDoc("u", tt.spec)+"---\n"+appDoc("web", ann, tt.source))
			checkImages(t, r.plugin(t, 0), tt.wantImages, tt.wantOptions)
			r.wantFindings(t, tt.findings...)
		})
	}
}

// TestMigrateImageUpdaterOverAnnotations: an ImageUpdater that does not
// read annotations replaces them, as in argocd-image-updater v1; two
// ImageUpdaters selecting one Application is an error.
func TestMigrateImageUpdaterOverAnnotations(t *testing.T) {
	spec := "applicationRefs:\n- namePattern: web\n  images:\n  - alias: cr\n    imageName: ghcr.io/acme/cr:^1\n"
	ann := map[string]string{"image-list": "web=ghcr.io/acme/web:~1.6"}
	r := migrateText(t, updaterDoc("u", spec)+"---\n"+updaterDoc("v", spec)+"---\n"+appDoc("web", ann, helmSource))
	checkImages(t, r.plugin(t, 0), []string{"cr=ghcr.io/acme/cr:^1"}, nil)
	r.wantFindings(t,
		"error: app argocd/web: ImageUpdater argocd/v spec.applicationRefs[0]: also selects the Application, which is converted with ImageUpdater argocd/u spec.applicationRefs[0] only",
		"note: app argocd/web: annotations: argocd-image-updater reads the ImageUpdater argocd/u instead",
	)
}
