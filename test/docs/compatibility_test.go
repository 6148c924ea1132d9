package docs

import (
	"reflect"
	"regexp"
	"strings"
	"testing"

	"github.com/argoproj/argo-cd/v3/pkg/apis/application/v1alpha1"
	"sigs.k8s.io/yaml"
)

const compatibilityPage = "docs/compatibility.md"

// TestCompatibilityPage keeps docs/compatibility.md true to the build: the
// README's install section links it, the versions it says are tested are
// the Argo CD binaries `make test` builds, its multi-source YAML is the
// sources of examples/multi-source/application.yaml, and the make targets
// and image tags it names exist.
func TestCompatibilityPage(t *testing.T) {
	page := readFile(t, compatibilityPage)

	text := readme(t)
	i := strings.Index(text, "\n## Install\n")
	if i < 0 {
		t.Fatal("README has no section \"Install\"")
	}
	install, _, _ := strings.Cut(text[i+1:], "\n## ")
	if !strings.Contains(install, "("+compatibilityPage+")") {
		t.Errorf("the README's install section does not link %s", compatibilityPage)
	}

	mk := readFile(t, "Makefile")
	makeVar := func(name string) string {
		m := regexp.MustCompile(`(?m)^` + name + `\s*:=\s*(\S+)$`).FindStringSubmatch(mk)
		if m == nil {
			t.Fatalf("Makefile defines no %s", name)
		}
		return m[1]
	}
	want := "| Versions tested | " + makeVar("ARGOCD_V2_VERSION") + " | " + makeVar("ARGOCD_VERSION") + " |"
	if !strings.Contains(page, want) {
		t.Errorf("%s has no row %q: the versions `make test` builds", compatibilityPage, want)
	}

	var example v1alpha1.Application
	if err := yaml.UnmarshalStrict([]byte(readFile(t, "examples/multi-source/application.yaml")), &example); err != nil {
		t.Fatalf("examples/multi-source/application.yaml: %v", err)
	}
	yamls := 0
	for _, f := range fences(page) {
		if f.lang != "yaml" {
			continue
		}
		yamls++
		var doc struct {
			Spec v1alpha1.ApplicationSpec `json:"spec"`
		}
		if err := yaml.UnmarshalStrict([]byte(f.body), &doc); err != nil {
			t.Errorf("%s line %d: %v", compatibilityPage, f.line, err)
			continue
		}
		if !reflect.DeepEqual(doc.Spec.Sources, example.Spec.Sources) {
			t.Errorf("%s line %d: the sources differ from examples/multi-source/application.yaml", compatibilityPage, f.line)
		}
	}
	if yamls == 0 {
		t.Errorf("%s shows no multi-source example", compatibilityPage)
	}

	targets := makeTargets(t)
	for _, m := range regexp.MustCompile("`make ([a-z][a-z0-9_-]*)").FindAllStringSubmatch(page, -1) {
		if _, ok := targets[m[1]]; !ok {
			t.Errorf("%s names `make %s`, which the Makefile does not define", compatibilityPage, m[1])
		}
	}
	component := readFile(t, "manifests/sidecar/repo-server-deployment.yaml")
	image := regexp.MustCompile(`ghcr\.io/argocd-image-resolver/argocd-image-resolver:[0-9A-Za-z._-]+`)
	running := image.FindString(component)
	for _, ref := range image.FindAllString(page, -1) {
		if ref != running {
			t.Errorf("%s names %s, the component runs %s", compatibilityPage, ref, running)
		}
	}
}
