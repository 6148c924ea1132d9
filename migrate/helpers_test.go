package migrate

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/argoproj/argo-cd/v3/pkg/apis/application/v1alpha1"
	"sigs.k8s.io/yaml"
)

// oneImage is the image-list of tests about something else.
func oneImage() map[string]string {
	return map[string]string{"image-list": "web=ghcr.io/acme/web:~1.6"}
}

const testPlugin = "image-resolver"

// result is what one migration printed, decoded.
type result struct {
	docs   []map[string]any
	report Report
	out    string
}

// migrateText migrates YAML text given as one input.
func migrateText(t *testing.T, text string) result {
	t.Helper()
	res, err := Migrate([]Input{{Name: "test.yaml", Data: []byte(text)}}, Options{PluginName: testPlugin})
	if err != nil {
		t.Fatalf("Migrate: %v", err)
	}
	var buf bytes.Buffer
	if err := res.WriteYAML(&buf); err != nil {
		t.Fatalf("WriteYAML: %v", err)
	}
	r := result{report: res.Report, out: buf.String()}
	for _, c := range splitDocuments(buf.Bytes()) {
		v, err := decodeYAML(c.text)
		if err != nil {
			t.Fatalf("the output is not YAML: %v\n%s", err, buf.String())
		}
		m, _ := v.(map[string]any)
		r.docs = append(r.docs, m)
	}
	return r
}

// application returns output document i decoded as an Application,
// strictly: the output must be an Application Argo CD accepts.
func (r result) application(t *testing.T, i int) v1alpha1.Application {
	t.Helper()
	if i >= len(r.docs) {
		t.Fatalf("the output has %d documents, want more than %d:\n%s", len(r.docs), i, r.out)
	}
	data, err := json.Marshal(r.docs[i])
	if err != nil {
		t.Fatal(err)
	}
	var app v1alpha1.Application
	if err := yaml.UnmarshalStrict(data, &app); err != nil {
		t.Fatalf("output document %d is not an Application: %v\n%s", i, err, r.out)
	}
	return app
}

// plugin returns the plugin parameters of the converted source of output
// document i, by name: a string, []string or map[string]string each.
func (r result) plugin(t *testing.T, i int) map[string]any {
	t.Helper()
	app := r.application(t, i)
	sources := app.Spec.Sources
	if app.Spec.Source != nil {
		sources = append(sources, *app.Spec.Source)
	}
	for _, s := range sources {
		if s.Plugin == nil {
			continue
		}
		if s.Plugin.Name != testPlugin {
			t.Fatalf("plugin name %q, want %q", s.Plugin.Name, testPlugin)
		}
		if s.Helm != nil || s.Kustomize != nil || s.Directory != nil {
			t.Fatalf("the plugin source still has helm, kustomize or directory settings:\n%s", r.out)
		}
		out := map[string]any{}
		for _, p := range s.Plugin.Parameters {
			if _, dup := out[p.Name]; dup {
				t.Fatalf("parameter %q twice", p.Name)
			}
			switch {
			case p.String_ != nil:
				out[p.Name] = *p.String_
			case p.OptionalArray != nil:
				out[p.Name] = p.OptionalArray.Array
			case p.OptionalMap != nil:
				out[p.Name] = p.OptionalMap.Map
			default:
				t.Fatalf("parameter %q has no value", p.Name)
			}
		}
		return out
	}
	t.Fatalf("output document %d has no plugin source:\n%s", i, r.out)
	return nil
}

// lines are the report lines.
func (r result) lines() []string {
	var out []string
	for _, f := range r.report.Findings {
		out = append(out, f.String())
	}
	return out
}

// wantFindings checks that each want fragment is in a report line of its
// own, and that the report has no other error.
func (r result) wantFindings(t *testing.T, want ...string) {
	t.Helper()
	used := map[int]bool{}
	for _, w := range want {
		found := false
		for i, l := range r.lines() {
			if !used[i] && strings.Contains(l, w) {
				used[i], found = true, true
				break
			}
		}
		if !found {
			t.Errorf("no report line contains %q; report:\n%s", w, strings.Join(r.lines(), "\n"))
		}
	}
	for i, f := range r.report.Findings {
		if f.Severity == Error && !used[i] {
			t.Errorf("unexpected error: %s", f)
		}
	}
}

// appDoc is an Application named name with argocd-image-updater
// annotations (keys without the prefix) and the source given as YAML
// (indented under "source:").
func appDoc(name string, annotations map[string]string, source string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "apiVersion: argoproj.io/v1alpha1\nkind: Application\nmetadata:\n  name: %s\n  namespace: argocd\n", name)
	if len(annotations) > 0 {
		b.WriteString("  annotations:\n")
		for k, v := range annotations {
			fmt.Fprintf(&b, "    %s%s: %q\n", "argocd-image-updater.argoproj.io/", k, v)
		}
	}
	b.WriteString("spec:\n  project: default\n  destination:\n    server: https://kubernetes.default.svc\n    namespace: apps\n")
	b.WriteString("  source:\n")
	for _, l := range strings.Split(strings.TrimRight(source, "\n"), "\n") {
		b.WriteString("    " + l + "\n")
	}
	return b.String()
}

// withBlock is a source in git at path with a settings block (helm,
// kustomize, directory) given as YAML.
func withBlock(path, block, settings string) string {
	src := "repoURL: https://github.com/acme/deploy.git\npath: " + path + "\n" + block + ":\n"
	for _, l := range strings.Split(strings.TrimRight(settings, "\n"), "\n") {
		src += "  " + l + "\n"
	}
	return src
}

// checkImages compares the images and image-options parameters.
func checkImages(t *testing.T, p map[string]any, images []string, options map[string]string) {
	t.Helper()
	if got := p["images"]; !reflect.DeepEqual(got, images) {
		t.Errorf("images = %v, want %v", got, images)
	}
	got, _ := p["image-options"].(map[string]string)
	if (len(got) != 0 || len(options) != 0) && !reflect.DeepEqual(got, options) {
		t.Errorf("image-options = %v, want %v", got, options)
	}
}

// sourceParams are the parameters other than images and image-options.
func sourceParams(p map[string]any) map[string]any {
	out := map[string]any{}
	for k, v := range p {
		if k != "images" && k != "image-options" {
			out[k] = v
		}
	}
	return out
}
