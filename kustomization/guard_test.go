package kustomization

import (
	"errors"
	"testing"
)

func TestIsRemoteReference(t *testing.T) {
	for _, c := range []struct {
		in   string
		want bool
	}{
		{"../base", false},
		{"deployment.yaml", false},
		{"config=app.properties", false},
		{"/abs/path", false},
		{"my@file.yaml", true}, // SCP-style user@host: refused, wider than Kustomize
		{"1user@host:repo", false},
		{"https://example.com/x.yaml", true},
		{"HTTP://example.com/x.yaml", true},
		{"github.com/acme/base?ref=v1", true},
		{"GitHub.com:acme/base", true},
		{"git@git.example:acme/base.git", true},
		{"git::https://git.example/base", true},
		{"ssh://git@git.example/base", true},
		{"file:///tmp/repo", true},
		{"key=https://example.com/f", true},
		{"key=github.com/acme/f", true},
	} {
		if got := IsRemoteReference(c.in); got != c.want {
			t.Errorf("IsRemoteReference(%q) = %t, want %t", c.in, got, c.want)
		}
	}
}

func TestScreen(t *testing.T) {
	var remote *RemoteReferenceError
	var helm *HelmChartsError
	var unscreened *UnscreenedError
	const url = "http://169.254.169.254/x"
	for _, c := range []struct {
		name, file, data string
		want             interface{}
	}{
		{"local", "a/kustomization.yaml", "resources: [../base, d.yaml]\nconfigMapGenerator:\n- name: c\n  files: [k=f.txt]\ngenerators: [gen.yaml]\n", nil},
		{"annotation URL is no path", "a/kustomization.yaml", "commonAnnotations:\n  docs: https://docs.example\nresources: [d.yaml]\n", nil},
		{"remote resource", "a/kustomization.yaml", "resources: [" + url + "]\n", &remote},
		{"key in another case", "a/kustomization.yaml", "Resources: [" + url + "]\n", &remote},
		{"generator file in another case", "a/kustomization.yaml", "configMapGenerator:\n- name: loot\n  Files: [creds=" + url + "]\n", &remote},
		{"merge key", "a/kustomization.yaml", "resources: [d.yaml]\n<<: {resources: [\"" + url + "\"]}\n", &remote},
		{"remote patch path", "a/kustomization.yml", "patches:\n- path: " + url + "\n", &remote},
		{"remote openapi path", "a/Kustomization", "openapi:\n  path: " + url + "\n", &remote},
		{"remote replacement path", "a/kustomization.yaml", "replacements:\n- path: github.com/acme/r\n", &remote},
		{"git option injection", "a/kustomization.yaml", "resources: [\"file:///tmp/r?ref=--upload-pack=touch+/tmp/p\"]\n", &remote},
		{"inline transformer with escapes", "a/kustomization.yaml", "transformers:\n- |\n  apiVersion: builtin\n  kind: PatchTransformer\n  metadata:\n    name: p\n  path: \"http:\\x2F\\x2Fhost/p.yaml\"\n", &remote},
		{"helmCharts", "a/kustomization.yaml", "helmCharts:\n- name: x\n", &helm},
		{"duplicate key hiding a remote base", "a/kustomization.yaml", "resources: [a]\nresources: [" + url + "]\n", &remote},
		{"not a kustomization", "a/kustomization.yaml", "resources: [a\n", &unscreened},
		{"unknown field", "a/kustomization.yaml", "resourcez: [a]\n", &unscreened},
		{"helm generator", "a/gen.yaml", "apiVersion: builtin\nkind: HelmChartInflationGenerator\nmetadata:\n  name: h\n", &helm},
		{"builtin config second document", "a/t.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\n---\napiVersion: builtin\nkind: PatchTransformer\nmetadata:\n  name: p\npath: " + url + "\n", &remote},
		{"builtin with a slash", "a/t.yaml", "apiVersion: /builtin\nkind: PatchTransformer\nmetadata:\n  name: p\npath: " + url + "\n", &remote},
		{"builtin spelled with an escape", "a/t.yaml", "apiVersion: \"\\x62uiltin\"\nkind: PatchTransformer\nmetadata:\n  name: p\npath: " + url + "\n", &remote},
		{"builtin in a List", "a/t.yaml", "apiVersion: v1\nkind: List\nitems:\n- apiVersion: builtin\n  kind: PatchTransformer\n  metadata:\n    name: p\n  path: " + url + "\n", &remote},
		{"config key in another case", "a/t.yaml", "apiVersion: builtin\nkind: PatchTransformer\nmetadata:\n  name: p\nPath: " + url + "\n", &remote},
		{"value add target", "a/t.yaml", "apiVersion: builtin\nkind: ValueAddTransformer\nmetadata:\n  name: v\ntargetFilePath: " + url + "\n", &remote},
		{"resource with a URL", "a/d.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\ndata:\n  path: https://x.example\n", nil},
		{"script that says builtin", "a/run.sh", "builtin echo \"state: ok: yes\"\n", nil},
		{"binary file", "a/blob.bin", "\xfe\xff\x00\x01", nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := NewScreen().File(c.file, []byte(c.data))
			switch target := c.want.(type) {
			case nil:
				if err != nil {
					t.Fatalf("err = %v, want none", err)
				}
			case **RemoteReferenceError:
				if !errors.As(err, target) {
					t.Fatalf("err = %v, want a remote reference", err)
				}
			case **HelmChartsError:
				if !errors.As(err, target) {
					t.Fatalf("err = %v, want helmCharts refused", err)
				}
			case **UnscreenedError:
				if !errors.As(err, target) {
					t.Fatalf("err = %v, want unscreened", err)
				}
			}
		})
	}
}

// TestScreenHandsOnWhatItChecked: a kustomization is handed to Kustomize
// re-encoded from what was checked, so a key Kustomize would read in
// another case reaches it in the checked form.
func TestScreenHandsOnWhatItChecked(t *testing.T) {
	out, err := NewScreen().File("a/kustomization.yaml", []byte("Resources: [d.yaml]\nnamePrefix: x-\n"))
	if err != nil {
		t.Fatal(err)
	}
	if got := string(out); got != "namePrefix: x-\nresources:\n- d.yaml\n" {
		t.Errorf("handed on %q", got)
	}
}
