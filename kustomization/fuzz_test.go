package kustomization

import (
	"strings"
	"testing"
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

// FuzzGuard: any file is screened or refused without panicking; a remote
// reference under resources is always refused.
func FuzzGuard(f *testing.F) {
	for _, s := range []string{"resources: [d.yaml]\n", "generators:\n- |\n  apiVersion: builtin\n", "a: &x [*x]\n", "---\n---\n"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		_ = Guard("kustomization.yaml", []byte(s))
		_ = Guard("config.yaml", []byte(s))
		if err := Guard("kustomization.yaml", []byte(s+"\n---\nresources: [https://x.example/d.yaml]\n")); err == nil {
			t.Fatalf("a remote resource after %q passed", s)
		}
	})
}
