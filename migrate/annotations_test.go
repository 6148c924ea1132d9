package migrate

import (
	"reflect"
	"strings"
	"testing"
)

const helmSource = "repoURL: https://github.com/acme/deploy.git\ntargetRevision: main\npath: charts/app\nhelm:\n  releaseName: app\n"

// TestMigrateAnnotations converts argocd-image-updater's annotations into
// the images and image-options parameters.
func TestMigrateAnnotations(t *testing.T) {
	tests := []struct {
		name        string
		annotations map[string]string
		wantImages  []string
		wantOptions map[string]string
		findings    []string
	}{
		{
			name:        "image list split on commas and trimmed",
			annotations: map[string]string{"image-list": " web=ghcr.io/acme/web:~1.6 ,, worker=ghcr.io/acme/worker:^2 ", "web.helm.image-tag": "web.tag", "worker.helm.image-tag": "worker.tag"},
			wantImages:  []string{"web=ghcr.io/acme/web:~1.6", "worker=ghcr.io/acme/worker:^2"},
			wantOptions: map[string]string{"web.helm.image-tag": "web.tag", "worker.helm.image-tag": "worker.tag"},
		},
		{
			name: "per-image options keep their names",
			annotations: map[string]string{
				"image-list":          "web=ghcr.io/acme/web",
				"web.update-strategy": "newest-build",
				"web.allow-tags":      "regexp:^main-",
				"web.ignore-tags":     "main-debug*",
				"web.platforms":       "linux/amd64",
				"web.helm.image-name": "image.repository",
				"web.helm.image-tag":  "image.tag",
				"web.pull-secret":     "team-a",
			},
			wantImages: []string{"web=ghcr.io/acme/web"},
			wantOptions: map[string]string{
				"web.update-strategy": "newest-build", "web.allow-tags": "regexp:^main-", "web.ignore-tags": "main-debug*",
				"web.platforms": "linux/amd64", "web.helm.image-name": "image.repository", "web.helm.image-tag": "image.tag",
				"web.pull-secret": "team-a",
			},
		},
		{
			name:        "application-wide settings fill in what an image does not set",
			annotations: map[string]string{"image-list": "a=ghcr.io/acme/a, ghcr.io/acme/b", "update-strategy": "digest", "a.update-strategy": "semver", "ignore-tags": "*-rc*", "a.helm.image-tag": "a.tag", "b.helm.image-tag": "b.tag"},
			wantImages:  []string{"a=ghcr.io/acme/a", "ghcr.io/acme/b"},
			wantOptions: map[string]string{"a.update-strategy": "semver", "a.ignore-tags": "*-rc*", "a.helm.image-tag": "a.tag", "b.update-strategy": "digest", "b.ignore-tags": "*-rc*"},
			// An image without alias takes no per-image annotation, so b
			// has no value path of its own.
			findings: []string{`no image of image-list has the alias "b"`, "image b: with several images the plugin needs b.helm.image-tag"},
		},
		{
			name:        "an alias with a slash is written with an underscore, as its keys are",
			annotations: map[string]string{"image-list": "acme/web=ghcr.io/acme/web:~1", "acme_web.update-strategy": "semver"},
			wantImages:  []string{"acme_web=ghcr.io/acme/web:~1"},
			wantOptions: map[string]string{"acme_web.update-strategy": "semver"},
			findings:    []string{`the alias "acme/web" is "acme_web" here`},
		},
		{
			name:        "tag-match is the old allow-tags",
			annotations: map[string]string{"image-list": "web=ghcr.io/acme/web", "web.tag-match": "regexp:^v"},
			wantImages:  []string{"web=ghcr.io/acme/web"},
			wantOptions: map[string]string{"web.allow-tags": "regexp:^v"},
			findings:    []string{"web.tag-match: the old spelling of allow-tags; written as web.allow-tags"},
		},
		{
			name:        "force-update is not needed",
			annotations: map[string]string{"image-list": "web=ghcr.io/acme/web", "web.force-update": "true"},
			wantImages:  []string{"web=ghcr.io/acme/web"},
			findings:    []string{"web.force-update: not needed"},
		},
		{
			name:        "a credential reference as pull secret cannot be converted",
			annotations: map[string]string{"image-list": "web=ghcr.io/acme/web", "web.pull-secret": "secret:argocd/creds#token"},
			wantImages:  []string{"web=ghcr.io/acme/web"},
			findings:    []string{`error: app argocd/web: annotation argocd-image-updater.argoproj.io/web.pull-secret: "secret:argocd/creds#token" is a credential reference`},
		},
		{
			name:        "an annotation argocd-image-updater does not document is an error",
			annotations: map[string]string{"image-list": "web=ghcr.io/acme/web", "web.registry-prefix": "mirror", "sort-mode": "x"},
			wantImages:  []string{"web=ghcr.io/acme/web"},
			findings:    []string{"web.registry-prefix: not an annotation", "sort-mode: not an annotation"},
		},
		{
			name:        "the constraint of a strategy that ranks every tag goes",
			annotations: map[string]string{"image-list": "web=ghcr.io/acme/web:1.x", "web.update-strategy": "latest"},
			wantImages:  []string{"web=ghcr.io/acme/web"},
			wantOptions: map[string]string{"web.update-strategy": "latest"},
			findings:    []string{`the constraint "1.x" of ghcr.io/acme/web:1.x`},
		},
		{
			name:        "the digest strategy keeps its tag",
			annotations: map[string]string{"image-list": "api=ghcr.io/acme/api:main", "api.update-strategy": "digest"},
			wantImages:  []string{"api=ghcr.io/acme/api:main"},
			wantOptions: map[string]string{"api.update-strategy": "digest"},
		},
		{
			name:        "what the plugin refuses is an error",
			annotations: map[string]string{"image-list": "web=ghcr.io/acme/web:~1.6", "web.update-strategy": "fastest"},
			wantImages:  []string{"web=ghcr.io/acme/web:~1.6"},
			wantOptions: map[string]string{"web.update-strategy": "fastest"},
			findings:    []string{"the plugin refuses these images or options"},
		},
		{
			name:        "an image the plugin cannot parse is an error",
			annotations: map[string]string{"image-list": "web=ghcr.io/acme/Web@sha256:abc"},
			wantImages:  []string{"web=ghcr.io/acme/Web@sha256:abc"},
			findings:    []string{"the plugin refuses this image"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := migrateText(t, appDoc("web", tt.annotations, helmSource))
			checkImages(t, r.plugin(t, 0), tt.wantImages, tt.wantOptions)
			r.wantFindings(t, tt.findings...)
			if md, _ := r.docs[0]["metadata"].(map[string]any); md != nil {
				if ann, _ := md["annotations"].(map[string]any); ann != nil {
					for k := range ann {
						if strings.HasPrefix(k, "argocd-image-updater.argoproj.io/") {
							t.Errorf("annotation %s is still there", k)
						}
					}
				}
			}
		})
	}
}

// TestMigrateAnnotationsLeaveOthers: Applications argocd-image-updater did
// not update are printed as they are.
func TestMigrateAnnotationsLeaveOthers(t *testing.T) {
	tests := []struct {
		name        string
		annotations map[string]string
		findings    []string
	}{
		{name: "no annotations"},
		{name: "annotations without image-list", annotations: map[string]string{"write-back-method": "git"}, findings: []string{"without argocd-image-updater.argoproj.io/image-list, which it ignores"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := appDoc("web", tt.annotations, helmSource)
			r := migrateText(t, in)
			want, err := decodeYAML([]byte(in))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(any(r.docs[0]), want) {
				t.Errorf("changed:\n%s\nwant:\n%s", r.out, in)
			}
			if len(r.report.Findings) != len(tt.findings) {
				t.Errorf("report %q, want %d lines", r.lines(), len(tt.findings))
			}
			r.wantFindings(t, tt.findings...)
		})
	}
}
