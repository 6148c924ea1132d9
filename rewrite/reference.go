package rewrite

import "strings"

// repository is an image reference's registry host and path, as Docker
// names them: no host means docker.io, and a single-element path there is
// under library/.
type repository struct {
	host string
	path string
}

// parseRepository reads the repository of an image reference (its tag and
// digest dropped), lower-cased.
func parseRepository(ref string) repository {
	name := nameOf(strings.ToLower(strings.TrimSpace(ref)))
	r := repository{host: "docker.io", path: name}
	if first, rest, ok := strings.Cut(name, "/"); ok && (strings.ContainsAny(first, ".:") || first == "localhost") {
		r.host, r.path = first, rest
	}
	switch r.host {
	case "index.docker.io", "registry-1.docker.io":
		r.host = "docker.io"
	}
	if r.host == "docker.io" && !strings.Contains(r.path, "/") {
		r.path = "library/" + r.path
	}
	return r
}

// nameOf is a reference without its tag and digest.
func nameOf(ref string) string {
	name, _, _ := strings.Cut(ref, "@")
	if i := strings.LastIndexByte(name, ':'); i > strings.LastIndexByte(name, '/') {
		name = name[:i]
	}
	return name
}

// runs reports whether a field naming rendered runs the image of
// repository want: the same registry and path, or the same behind a
// registry proxy that puts its own prefix in front (mirror.corp/ghcr.io/
// acme/web, harbor.corp/dockerhub/library/redis). The same path on another
// registry is another image (docker.io/bitnami/redis is not redis).
func runs(rendered, want repository) bool {
	if rendered.path == "" || want.path == "" {
		return false
	}
	if rendered == want {
		return true
	}
	full := rendered.host + "/" + rendered.path
	return strings.HasSuffix(full, "/"+want.host+"/"+want.path) ||
		(strings.Contains(want.path, "/") && strings.HasSuffix(rendered.path, "/"+want.path))
}

// rewritten is the field's new value: its own name (a proxy prefix or a
// mirror the chart set stays) with the tag and digest of the resolved
// reference (suffix: ":tag", "@digest" or ":tag@digest").
func rewritten(current, suffix string) string {
	return nameOf(strings.TrimSpace(current)) + suffix
}
