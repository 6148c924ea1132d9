package rewrite

import "strings"

// repositoryPath is the repository of an image reference without its tag,
// digest and registry host (a first element holding '.' or ':', or
// localhost) and without Docker Hub's library/ namespace, lower-cased: a
// mirror or a registry written another way still names the same
// repository.
func repositoryPath(ref string) string {
	name, _, _ := strings.Cut(strings.TrimSpace(ref), "@")
	if i := strings.LastIndexByte(name, ':'); i > strings.LastIndexByte(name, '/') {
		name = name[:i]
	}
	name = strings.ToLower(name)
	if first, rest, ok := strings.Cut(name, "/"); ok && (strings.ContainsAny(first, ".:") || first == "localhost") {
		name = rest
	}
	return strings.TrimPrefix(name, "library/")
}

// sameRepository reports whether two repository paths name one repository,
// allowing a registry proxy prefix on either side.
func sameRepository(a, b string) bool {
	if a == "" || b == "" {
		return false
	}
	return a == b || strings.HasSuffix(a, "/"+b) || strings.HasSuffix(b, "/"+a)
}
