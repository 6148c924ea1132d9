package render

import (
	"strings"
	"testing"
)

func TestAnnotate(t *testing.T) {
	deploy := "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  template:\n    spec:\n      containers:\n      - name: web\n        image: ghcr.io/acme/web:1.6.3\n      - name: side\n        image: docker.io/library/nginx:1.27\n"
	cron := "apiVersion: batch/v1\nkind: CronJob\nmetadata:\n  name: job\n  annotations:\n    keep: me\nspec:\n  jobTemplate:\n    spec:\n      template:\n        spec:\n          containers:\n          - image: mirror.example.com/ghcr.io/acme/web@sha256:abc\n"
	cm := "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\ndata:\n  image: ghcr.io/acme/web:1.6.3\n"
	other := "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: other\nspec:\n  template:\n    spec:\n      containers:\n      - image: ghcr.io/acme/api:2.0.0\n"
	images := []Image{
		{Alias: "web", Repository: "ghcr.io/acme/web", Annotation: `{"tag":"1.6.3"}`},
		{Alias: "nginx", Repository: "nginx", Annotation: `{"tag":"1.27"}`},
		{Alias: "api", Repository: "ghcr.io/acme/api"},
	}
	in := []string{deploy, cron, cm, other}
	out, err := Annotate(in, images)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`argocd-image-resolver/image.web: '{"tag":"1.6.3"}'`, `argocd-image-resolver/image.nginx: '{"tag":"1.27"}'`} {
		if !strings.Contains(out[0], want) {
			t.Errorf("Deployment lacks %s:\n%s", want, out[0])
		}
	}
	if !strings.Contains(out[1], `argocd-image-resolver/image.web:`) || !strings.Contains(out[1], "keep: me") || strings.Contains(out[1], "image.nginx") {
		t.Errorf("CronJob behind a proxy prefix:\n%s", out[1])
	}
	if out[2] != cm || out[3] != other {
		t.Errorf("a ConfigMap and a workload of an image not annotated must stay as they are:\n%s\n%s", out[2], out[3])
	}
	again, err := Annotate(in, images)
	if err != nil {
		t.Fatal(err)
	}
	for i := range out {
		if out[i] != again[i] {
			t.Fatalf("document %d differs between two annotations of the same input", i)
		}
	}

	if _, err := Annotate(in, []Image{{Alias: strings.Repeat("a", 60), Repository: "ghcr.io/acme/web", Annotation: "x"}}); err == nil || !strings.Contains(err.Error(), "use a shorter alias") {
		t.Fatalf("long alias: err = %v", err)
	}
}
