package render

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestCheckPath is the table of value paths render writes: existing,
// missing (with the closest paths), running into a value of another kind,
// creatable on request, and clearing writes skipped when absent.
func TestCheckPath(t *testing.T) {
	vals := map[string]interface{}{
		"image": map[string]interface{}{"repository": "r", "tag": "1", "overrideTag": ""},
		"backend": map[string]interface{}{
			"containers": []interface{}{
				map[string]interface{}{"image": map[string]interface{}{"tag": "2"}},
			},
		},
		"replicas": float64(2),
		"empty":    nil,
	}
	cases := []struct {
		name   string
		path   string
		create bool
		clear  bool
		skip   bool
		want   []string // error fragments; nil means no error
	}{
		{name: "exists", path: "image.tag"},
		{name: "list element exists", path: "backend.containers[0].image.tag"},
		{name: "typo", path: "image.tg", want: []string{"image.tg is not in the chart's values", "did you mean image.tag?", "helm.create-paths"}},
		{name: "sub-chart prefix missing", path: "containers[0].image.tag", want: []string{"did you mean backend.containers[0].image.tag?"}},
		{name: "sub-chart prefix too many", path: "web.image.tag", want: []string{"did you mean image.tag?"}},
		{name: "into a string", path: "image.repository.tag", want: []string{"image.repository holds a string, not a map", "did you mean image.tag?"}},
		{name: "into a number", path: "replicas.count", want: []string{"replicas holds a number, not a map"}},
		{name: "index into a map", path: "image[0]", want: []string{"image holds a map, not a list"}},
		{name: "index past the list", path: "backend.containers[3].image.tag", want: []string{"not in the chart's values", "did you mean backend.containers[0].image.tag?"}},
		{name: "ends on a map", path: "image", want: []string{"image holds a map, not a single value"}},
		{name: "a null on the way counts as missing", path: "empty.tag", want: []string{"empty.tag is not in the chart's values"}},
		{name: "a null leaf is a declared key", path: "empty"},
		{name: "nothing close lists the keys", path: "image.zzzzzzzz", want: []string{"image holds overrideTag, repository, tag"}},
		{name: "create allows a missing key", path: "image.newTag", create: true},
		{name: "create never writes through a string", path: "image.repository.tag", create: true, want: []string{"holds a string"}},
		{name: "clearing a missing default is skipped", path: "image.shasum", clear: true, skip: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			vp, err := parsePath(tc.path)
			if err != nil {
				t.Fatal(err)
			}
			skip, err := checkPath(write{path: vp, alias: "web", option: "helm.image-tag", clear: tc.clear}, vals, tc.create, nil)
			if skip != tc.skip {
				t.Errorf("skip = %v, want %v", skip, tc.skip)
			}
			if tc.want == nil {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			var pe *PathError
			if !errors.As(err, &pe) {
				t.Fatalf("err = %v, want a *PathError", err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
}

// TestRenderedReferenceMatching pins down which rendered references count
// as the resolved image.
func TestRenderedReferenceMatching(t *testing.T) {
	tag := expectation{repository: "ghcr.io/acme/web", tag: "1.6.3"}
	digest := expectation{repository: "ghcr.io/acme/web", tag: "1.6.3", digest: "sha256:aa"}
	hub := expectation{repository: "nginx", tag: "1.27.0"}
	cases := []struct {
		want expectation
		ref  string
		ok   bool
	}{
		{tag, "ghcr.io/acme/web:1.6.3", true},
		{tag, "mirror.example.com:5000/acme/web:1.6.3", true},
		{tag, "harbor.example.com/proxy/acme/web:1.6.3", true},
		{tag, "ghcr.io/acme/web:1.6.3@sha256:bb", true},
		{tag, "ghcr.io/acme/web:1.5.0", false},
		{tag, "ghcr.io/acme/api:1.6.3", false},
		{tag, "ghcr.io/acme/web", false},
		{digest, "ghcr.io/acme/web@sha256:aa", true},
		{digest, "ghcr.io/acme/web:1.6.3@sha256:aa", true},
		{digest, "ghcr.io/acme/web@sha256:bb", false},
		{hub, "docker.io/library/nginx:1.27.0", true},
		{hub, "index.docker.io/library/nginx:1.27.0", true},
		{hub, "nginx:1.27.0", true},
		{hub, "nginx:1.26.0", false},
	}
	for _, tc := range cases {
		if got := tc.want.matches(tc.ref); got != tc.ok {
			t.Errorf("%s matches %s = %v, want %v", tc.want, tc.ref, got, tc.ok)
		}
	}
}

// TestAliasedSubChartPaths: a dependency's values sit under its alias, as
// Helm renders them, so paths under the alias exist and pins there are
// found.
func TestAliasedSubChartPaths(t *testing.T) {
	root := copyCharts(t)
	dir := filepath.Join(root, "aliased")
	writeFile(t, filepath.Join(dir, "Chart.yaml"), "apiVersion: v2\nname: aliased\nversion: 0.1.0\ndependencies:\n  - name: frontend\n    version: 0.3.0\n    alias: shop\n")
	writeFile(t, filepath.Join(dir, "values.yaml"), "shop:\n  image:\n    overrideTag: \"\"\n")
	for _, f := range []string{"Chart.yaml", "values.yaml", "templates/deployment.yaml"} {
		data := readTestFile(t, filepath.Join(root, "umbrella", "charts", "frontend", f))
		writeFile(t, filepath.Join(dir, "charts", "frontend", f), data)
	}
	img := Image{Alias: "web", Repository: "ghcr.io/acme/web", Tag: "1.6.3", TagPath: "shop.image.tag", NamePath: "shop.image.repository"}
	out, err := Render(context.Background(), Request{RepoRoot: root, ChartDir: dir, Images: []Image{img}})
	if err != nil {
		t.Fatalf("render with the alias's path: %v", err)
	}
	if text := strings.Join(out.Manifests, "\n"); !strings.Contains(text, "ghcr.io/acme/web:1.6.3") {
		t.Errorf("manifests lack the image:\n%s", text)
	}
	img.TagPath, img.NamePath = "frontend.image.tag", ""
	_, err = Render(context.Background(), Request{RepoRoot: root, ChartDir: dir, Images: []Image{img}})
	if err == nil || !strings.Contains(err.Error(), "did you mean shop.image.tag?") {
		t.Errorf("render with the chart's name instead of its alias: %v", err)
	}
	pins, err := Pins(Request{RepoRoot: root, ChartDir: dir, Values: "shop:\n  image:\n    overrideTag: 1.0.0\n",
		Images: []Image{{Alias: "web", TagPath: "shop.image.tag"}}})
	if err != nil || pins["web"] != "1.0.0" {
		t.Errorf("pin under the alias: %v %v", pins, err)
	}
}

func readTestFile(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}
