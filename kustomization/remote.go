package kustomization

import "strings"

// IsRemoteReference reports whether Kustomize would take s, a path a
// kustomization names, as a remote git repository or http URL rather than
// a path in the repository. It is wider than Kustomize's own parsing on
// purpose: anything with a scheme, the go-getter `git::` prefix, an
// SCP-style `user@host:` or the github.com host counts, in s and, for
// generator files (`key=path`), in what follows the first '='.
func IsRemoteReference(s string) bool {
	s = strings.TrimSpace(s)
	if _, file, ok := strings.Cut(s, "="); ok && remoteForm(file) {
		return true
	}
	return remoteForm(s)
}

func remoteForm(s string) bool {
	if strings.Contains(s, "://") {
		return true
	}
	lower := strings.ToLower(s)
	if strings.HasPrefix(lower, "git::") || strings.HasPrefix(lower, "github.com/") || strings.HasPrefix(lower, "github.com:") {
		return true
	}
	user, _, ok := strings.Cut(s, "@")
	if !ok || user == "" || !isLetter(user[0]) {
		return false
	}
	for _, c := range []byte(user) {
		if !isLetter(c) && (c < '0' || c > '9') && c != '-' {
			return false
		}
	}
	return true
}

func isLetter(c byte) bool { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') }
