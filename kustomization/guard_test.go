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

func TestGuard(t *testing.T) {
	var remote *RemoteReferenceError
	var helm *HelmChartsError
	var unscreened *UnscreenedError
	for _, c := range []struct {
		name, file, data string
		want             interface{}
	}{
		{"local", "a/kustomization.yaml", "resources: [../base, d.yaml]\nconfigMapGenerator:\n- name: c\n  files: [k=f.txt]\n", nil},
		{"annotation URL is no path", "a/kustomization.yaml", "commonAnnotations:\n  docs: https://docs.example\nresources: [d.yaml]\n", nil},
		{"remote resource", "a/kustomization.yaml", "resources: [https://x.example/d.yaml]\n", &remote},
		{"remote patch path", "a/kustomization.yml", "patches:\n- path: https://x.example/p.yaml\n", &remote},
		{"remote openapi path", "a/Kustomization", "openapi:\n  path: https://x.example/schema.json\n", &remote},
		{"remote replacement path", "a/kustomization.yaml", "replacements:\n- path: github.com/acme/r\n", &remote},
		{"helmCharts", "a/kustomization.yaml", "helmCharts:\n- name: x\n", &helm},
		{"helm generator", "a/gen.yaml", "apiVersion: builtin\nkind: HelmChartInflationGenerator\nmetadata:\n  name: h\n", &helm},
		{"builtin config second document", "a/t.yaml", "apiVersion: v1\nkind: ConfigMap\n---\napiVersion: builtin\nkind: PatchTransformer\npath: https://x.example/p\n", &remote},
		{"resource with a URL", "a/d.yaml", "apiVersion: v1\nkind: ConfigMap\ndata:\n  path: https://x.example\n", nil},
		{"duplicate keys", "a/kustomization.yaml", "resources: [d.yaml]\nresources: [https://x.example/d.yaml]\n", &unscreened},
		{"list document", "a/kustomization.yaml", "- a\n- b\n", nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			err := Guard(c.file, []byte(c.data))
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
