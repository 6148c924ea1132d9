package render

import (
	"fmt"
	"strings"
	"testing"
)

// TestRewriteInjections: an alias with Rewrite and no explicit path writes
// no value (several such aliases need no paths), and its rewrite reference
// follows the pin mode; with an explicit path the values are written too.
func TestRewriteInjections(t *testing.T) {
	images := []Image{
		{Alias: "a", Repository: "ghcr.io/acme/a", Tag: "1.0", Digest: "sha256:aa", Rewrite: true},
		{Alias: "b", Repository: "ghcr.io/acme/b", Tag: "2.0", Digest: "sha256:bb", Pin: PinDigest, Rewrite: true},
		{Alias: "c", Repository: "ghcr.io/acme/c", Tag: "3.0", Digest: "sha256:cc", Pin: PinTagAndDigest, Rewrite: true},
		{Alias: "d", Repository: "ghcr.io/acme/d", Tag: "4.0", Rewrite: true, TagPath: "d.tag"},
		{Alias: "e", Repository: "ghcr.io/acme/e", Tag: "5.0", Rewrite: true, OverrideTag: "4.9"},
	}
	ws, _, expects, rewrites, err := injections(images, map[string]interface{}{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	var written []string
	for _, w := range ws {
		written = append(written, w.path.String()+"="+w.value)
	}
	if got := fmt.Sprint(written); got != "[d.tag=4.0]" {
		t.Errorf("writes = %s, want only d's explicit tag path", got)
	}
	want := "[{ghcr.io/acme/a ghcr.io/acme/a:1.0} {ghcr.io/acme/b ghcr.io/acme/b@sha256:bb} {ghcr.io/acme/c ghcr.io/acme/c:3.0@sha256:cc} {ghcr.io/acme/d ghcr.io/acme/d:4.0} {ghcr.io/acme/e ghcr.io/acme/e:4.9}]"
	if got := fmt.Sprint(rewrites); got != want {
		t.Errorf("rewrites = %s\nwant %s", got, want)
	}
	if len(expects) != len(images) {
		t.Errorf("%d expectations, want one per image", len(expects))
	}
	if _, _, _, rw, err := injections([]Image{{Alias: "x", Repository: "r", Tag: "1"}}, map[string]interface{}{}, nil); err != nil || len(rw) != 0 {
		t.Errorf("an image without Rewrite is rewritten: %v, %v", rw, err)
	}
}

// TestRewriteWritesOnlyTheGivenValuePaths: a rewrite alias with only
// helm.image-name writes that path and no defaulted image.tag, and is not
// refused for lacking a tag path beside other images.
func TestRewriteWritesOnlyTheGivenValuePaths(t *testing.T) {
	images := []Image{
		{Alias: "c", Repository: "ghcr.io/acme/c", Tag: "3", Pin: PinTag, Rewrite: true, NamePath: "c.repo"},
		{Alias: "d", Repository: "ghcr.io/acme/d", Tag: "4", Pin: PinTag, TagPath: "d.tag"},
	}
	writes, _, _, _, err := injections(images, map[string]interface{}{"c": map[string]interface{}{"repo": "x"}, "d": map[string]interface{}{"tag": "1"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	var paths []string
	for _, w := range writes {
		paths = append(paths, w.path.String())
	}
	if strings.Join(paths, ",") != "c.repo,d.tag" {
		t.Fatalf("written %v, want c.repo and d.tag only", paths)
	}
}
