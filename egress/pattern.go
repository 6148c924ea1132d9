package egress

import (
	"fmt"
	"net/netip"
	"regexp"
	"strings"
)

// Pattern is one rule of an allow list, written `host[/path]` as in
// registries.conf: `ghcr.io/acme/*`, `*.example.com`, `127.0.0.1:5000/*`.
// `*` matches any run of characters, `/` included, so `ghcr.io/acme/*`
// covers `ghcr.io/acme/web` and `ghcr.io/acme/team/web`. A pattern without a
// path covers every repository on its host. Connections are checked
// against the host part only.
type Pattern struct {
	raw  string
	host string
	path string // "" with hasPath false: any repository on the host
	// hasPath is false for a bare host pattern.
	hasPath bool
}

var (
	hostGlob = regexp.MustCompile(`^[a-z0-9.\-:*\[\]]+$`)
	pathGlob = regexp.MustCompile(`^[a-z0-9._\-/*]+$`)
)

// ParsePattern parses one rule. canonical, when not nil, rewrites the host
// part of patterns without `*` to the form repositories are compared in
// (for example docker.io to index.docker.io).
func ParsePattern(s string, canonical func(host string) (string, error)) (Pattern, error) {
	raw := strings.TrimSpace(s)
	host, path, hasPath := strings.Cut(raw, "/")
	host = strings.ToLower(host)
	switch {
	case raw == "":
		return Pattern{}, fmt.Errorf("empty pattern; write a registry host with an optional path, e.g. ghcr.io/acme/*")
	case host == "" || !hostGlob.MatchString(host):
		return Pattern{}, fmt.Errorf("pattern %q: the host part %q is not a host glob (letters, digits, '.', '-', ':', '*')", raw, host)
	case hasPath && (path == "" || !pathGlob.MatchString(path)):
		return Pattern{}, fmt.Errorf("pattern %q: the path part %q is not a repository glob (lowercase letters, digits, '.', '_', '-', '/', '*')", raw, path)
	}
	if canonical != nil && !strings.Contains(host, "*") {
		h, err := canonical(host)
		if err != nil {
			return Pattern{}, fmt.Errorf("pattern %q: %v", raw, err)
		}
		host = h
	}
	return Pattern{raw: raw, host: host, path: path, hasPath: hasPath}, nil
}

// String is the pattern as written.
func (p Pattern) String() string { return p.raw }

// MatchRepository reports whether the pattern covers the repository
// host/path (host as "host[:port]").
func (p Pattern) MatchRepository(host, path string) bool {
	if !p.MatchHost(host) {
		return false
	}
	return !p.hasPath || glob(p.path, path)
}

// MatchHost reports whether the pattern's host part matches host
// ("host[:port]", compared case-insensitively).
func (p Pattern) MatchHost(host string) bool {
	return glob(p.host, strings.ToLower(host))
}

// namesLoopback reports whether the host part is a loopback literal or
// localhost, with or without a port.
func (p Pattern) namesLoopback() bool {
	return isLoopbackName(hostOnly(p.host))
}

// glob matches s against pattern, where `*` matches any run of characters
// and every other character matches itself.
func glob(pattern, s string) bool {
	star, next := -1, 0 // last '*' in pattern, and where s resumes after it
	pi, si := 0, 0
	for si < len(s) {
		switch {
		case pi < len(pattern) && pattern[pi] == '*':
			star, next = pi, si
			pi++
		case pi < len(pattern) && pattern[pi] == s[si]:
			pi++
			si++
		case star >= 0:
			next++
			pi, si = star+1, next
		default:
			return false
		}
	}
	for pi < len(pattern) && pattern[pi] == '*' {
		pi++
	}
	return pi == len(pattern)
}

// hostOnly strips a port and IPv6 brackets: "[::1]:5000" -> "::1".
func hostOnly(hostport string) string {
	if strings.HasPrefix(hostport, "[") {
		if end := strings.IndexByte(hostport, ']'); end > 0 {
			return hostport[1:end]
		}
	}
	if i := strings.LastIndexByte(hostport, ':'); i >= 0 && strings.Count(hostport, ":") == 1 {
		return hostport[:i]
	}
	return hostport
}

// isLoopbackName reports whether host (without port) is localhost or a
// loopback IP literal.
func isLoopbackName(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.Unmap().IsLoopback()
}
