package resolve

import "strings"

// CanonicalRepository spells a repository, or a reference with a tag or
// digest, the one way resolution names it, so that spec images, webhook
// events, wake-ups, the tracker and the debug listing compare equal:
//   - registries.conf's default registry and its defaultns apply to a name
//     without a host ("web" is "registry.local:5000/acme/web"); without a
//     default, Docker Hub's do ("nginx" is "index.docker.io/library/nginx");
//   - hosts are spelt as go-containerregistry spells them ("docker.io" is
//     "index.docker.io");
//   - a name on an entry's api_url host (a push reported by the mirror
//     that serves a prefix) is the name under the entry's prefix.
//
// Result.Repository is in this spelling. Input that names no repository
// comes back trimmed.
func (r *Resolver) CanonicalRepository(repo string) string {
	s := strings.TrimSpace(repo)
	t, err := r.target(repositoryPart(s))
	if err != nil {
		return s
	}
	host := t.host
	if t.entry == nil {
		if prefixHost, ok := r.conf.viaAPIHost(t.host, t.path); ok {
			host = prefixHost
		}
	}
	return host + "/" + t.path
}

// CanonicalRepository is (*Resolver).CanonicalRepository without a
// registries.conf: Docker Hub is the default registry.
func CanonicalRepository(repo string) string {
	var r Resolver
	return r.CanonicalRepository(repo)
}

// repositoryPart drops the tag and digest of a reference
// ("ghcr.io/acme/web:1.2@sha256:..." is "ghcr.io/acme/web"); a ':' before
// the last '/' is a registry port and stays.
func repositoryPart(ref string) string {
	ref, _, _ = strings.Cut(ref, "@")
	if colon := strings.LastIndexByte(ref, ':'); colon > strings.LastIndexByte(ref, '/') {
		ref = ref[:colon]
	}
	return ref
}
