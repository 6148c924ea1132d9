package kustomization

import (
	"strings"
	"testing"

	"sigs.k8s.io/kustomize/api/types"
)

// FuzzParseImage: any entry parses or fails without panicking, and what
// parses has a name and holds no separator in its parts.
func FuzzParseImage(f *testing.F) {
	for _, s := range []string{"nginx:1.27", "a=b:1@sha256:ff", "registry:5000/acme/web:1.2", "=x", "web@latest", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		img, err := ParseImage(s)
		if err != nil {
			return
		}
		if img.Name == "" || strings.ContainsAny(img.Name+img.NewName+img.NewTag, "=@ ") {
			t.Fatalf("ParseImage(%q) = %+v", s, img)
		}
	})
}

// FuzzScreen: any file is screened or refused without panicking; a
// remote resource after it is always refused, and a kustomization handed
// on decodes to no remote resource.
func FuzzScreen(f *testing.F) {
	for _, s := range []string{"resources: [d.yaml]\n", "generators:\n- |\n  apiVersion: builtin\n", "a: &x [*x]\n", "<<: {resources: [a]}\n", "Resources: [b]\n"} {
		f.Add(s)
	}
	screen := NewScreen()
	f.Fuzz(func(t *testing.T, s string) {
		_, _ = screen.File("config.yaml", []byte(s))
		out, err := screen.File("kustomization.yaml", []byte(s))
		if err == nil {
			var k types.Kustomization
			if err := k.Unmarshal(out); err != nil {
				t.Fatalf("handed on %q, which does not decode: %v", out, err)
			}
			for _, r := range k.Resources {
				if IsRemoteReference(r) {
					t.Fatalf("%q passed with remote resource %q", s, r)
				}
			}
		}
	})
}
