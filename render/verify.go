package render

import (
	"fmt"
	"sort"
	"strings"

	"sigs.k8s.io/yaml"
)

// NotRenderedError says that the rendered manifests reference none of the
// image an alias resolved to: the chart builds its image from values the
// plugin did not write.
type NotRenderedError struct {
	Alias string
	// Want is the reference the manifests should show, e.g.
	// "ghcr.io/acme/web:1.6.3".
	Want string
	// Written is what the plugin wrote, path -> value.
	Written map[string]string
	// Rendered are the image references the chart did render.
	Rendered []string
	// Rewrite: the alias has the rewrite option, which found no image
	// field naming its repository.
	Rewrite bool
}

func (e *NotRenderedError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "image %q: the rendered manifests do not reference %s (written:", e.Alias, e.Want)
	paths := make([]string, 0, len(e.Written))
	for p := range e.Written {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	for _, p := range paths {
		fmt.Fprintf(&b, " %s=%s", p, e.Written[p])
	}
	b.WriteString("); ")
	if len(e.Rendered) == 0 {
		b.WriteString("the chart rendered no image references")
	} else {
		fmt.Fprintf(&b, "the chart rendered %s", strings.Join(e.Rendered, ", "))
	}
	if e.Rewrite {
		fmt.Fprintf(&b, "; %s.rewrite found no container (or declared image field) of a rendered workload that runs this repository: check the repository the alias names, or ask the Argo CD admins to declare the image field of the custom resource (serve --image-fields)", e.Alias)
		return b.String()
	}
	fmt.Fprintf(&b, "; point %s.helm.image-tag (or helm.image-spec) at the value the chart's image uses, or set %s.check-rendered: \"false\" if the chart builds the reference another way", e.Alias, e.Alias)
	return b.String()
}

// maxListedImages bounds the rendered references an error lists.
const maxListedImages = 10

// verifyRendered checks that every expectation appears in at least one
// image reference of the manifests (`image:` values at any depth).
func verifyRendered(manifests []string, expects []expectation, report []Injection) error {
	if len(expects) == 0 {
		return nil
	}
	refs := renderedImages(manifests)
	for _, want := range expects {
		found := false
		for _, r := range refs {
			if want.matches(r) {
				found = true
				break
			}
		}
		if found {
			continue
		}
		e := &NotRenderedError{Alias: want.alias, Want: want.String(), Rendered: refs, Rewrite: want.rewrite}
		for _, inj := range report {
			if inj.Alias == want.alias {
				e.Written = inj.Values
			}
		}
		if len(e.Rendered) > maxListedImages {
			e.Rendered = append(e.Rendered[:maxListedImages:maxListedImages], fmt.Sprintf("and %d more", len(refs)-maxListedImages))
		}
		return e
	}
	return nil
}

// renderedImages collects the distinct string values of `image` keys in the
// manifests, sorted.
func renderedImages(manifests []string) []string {
	seen := map[string]bool{}
	var walk func(v interface{})
	walk = func(v interface{}) {
		switch t := v.(type) {
		case map[string]interface{}:
			for k, e := range t {
				if s, ok := e.(string); ok && k == "image" && s != "" {
					seen[s] = true
					continue
				}
				walk(e)
			}
		case []interface{}:
			for _, e := range t {
				walk(e)
			}
		}
	}
	for _, doc := range manifests {
		if !strings.Contains(doc, "image") {
			continue // no image key can be in it
		}
		var v interface{}
		if err := yaml.Unmarshal([]byte(doc), &v); err != nil {
			continue
		}
		walk(v)
	}
	out := make([]string, 0, len(seen))
	for s := range seen {
		out = append(out, s)
	}
	sort.Strings(out)
	return out
}

// imageRef is a rendered reference split into repository path, tag and
// digest.
type imageRef struct {
	path   string
	tag    string
	digest string
}

func parseImageRef(s string) imageRef {
	name, digest, _ := strings.Cut(strings.TrimSpace(s), "@")
	var r imageRef
	r.digest = digest
	r.path = name
	if i := strings.LastIndexByte(name, ':'); i > strings.LastIndexByte(name, '/') {
		r.path, r.tag = name[:i], name[i+1:]
	}
	r.path = repositoryPath(r.path)
	return r
}

// repositoryPath drops the registry host (a first element holding '.' or
// ':', or localhost) and Docker Hub's library/ namespace, so that a mirror
// or a registry written another way still names the same repository.
func repositoryPath(repo string) string {
	repo = strings.ToLower(repo)
	if first, rest, ok := strings.Cut(repo, "/"); ok && (strings.ContainsAny(first, ".:") || first == "localhost") {
		repo = rest
	}
	return strings.TrimPrefix(repo, "library/")
}

// matches reports whether a rendered reference shows the expected image:
// the same repository up to its registry host (one may sit under a proxy
// prefix of the other), with the expected tag or digest.
func (e expectation) matches(ref string) bool {
	r := parseImageRef(ref)
	want := repositoryPath(e.repository)
	if r.path != want && !strings.HasSuffix(r.path, "/"+want) && !strings.HasSuffix(want, "/"+r.path) {
		return false
	}
	return (e.tag != "" && r.tag == e.tag) || (e.digest != "" && r.digest == e.digest)
}
