package registriesconf

import (
	"errors"
	"fmt"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	"gopkg.in/yaml.v3"

	"github.com/argocd-image-resolver/argocd-image-resolver/egress"
)

// parseGlobList reads a list of registry/path globs (`allowed`, or one
// project's list).
func parseGlobList(what string, v *yaml.Node) ([]string, error) {
	if v.Kind != yaml.SequenceNode {
		return nil, fmt.Errorf("line %d: `%s` must be a list of registry/path globs, e.g. [ghcr.io/acme/*]", v.Line, what)
	}
	var errs []error
	out := make([]string, 0, len(v.Content))
	for _, item := range v.Content {
		if item.Kind != yaml.ScalarNode {
			errs = append(errs, fmt.Errorf("line %d: `%s` entries are registry/path globs such as ghcr.io/acme/*", item.Line, what))
			continue
		}
		if _, err := ParsePattern(item.Value); err != nil {
			errs = append(errs, fmt.Errorf("line %d: %s: %w", item.Line, what, err))
			continue
		}
		out = append(out, strings.TrimSpace(item.Value))
	}
	return out, errors.Join(errs...)
}

// parseProjects reads `projects`: AppProject name -> list of globs.
func parseProjects(v *yaml.Node) (map[string][]string, error) {
	return parseByProject(v, keyProjects, "lists of registry/path globs, e.g. team-a: [ghcr.io/team-a/*]",
		func(project string, list *yaml.Node) ([]string, error) {
			return parseGlobList(keyProjects+"."+project, list)
		})
}

// parseByProject reads a mapping of AppProject names to lists (`projects`,
// `follow`), each list read by parseList.
func parseByProject(v *yaml.Node, key, what string, parseList func(project string, list *yaml.Node) ([]string, error)) (map[string][]string, error) {
	if v.Kind != yaml.MappingNode {
		return nil, fmt.Errorf("line %d: `%s` must map AppProject names to %s", v.Line, key, what)
	}
	var errs []error
	out := map[string][]string{}
	for i := 0; i+1 < len(v.Content); i += 2 {
		k, list := v.Content[i], v.Content[i+1]
		project := strings.TrimSpace(k.Value)
		if project == "" {
			errs = append(errs, fmt.Errorf("line %d: `%s` keys are AppProject names", k.Line, key))
			continue
		}
		if _, dup := out[project]; dup {
			errs = append(errs, fmt.Errorf("line %d: %s: project %q appears twice", k.Line, key, project))
			continue
		}
		items, err := parseList(project, list)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		out[project] = items
	}
	return out, errors.Join(errs...)
}

// ParsePattern compiles one registry/path glob of registries.conf; hosts
// without '*' are compared as go-containerregistry names them (docker.io
// is index.docker.io).
func ParsePattern(s string) (egress.Pattern, error) {
	return egress.ParsePattern(s, func(host string) (string, error) {
		r, err := name.NewRegistry(host)
		if err != nil {
			return "", fmt.Errorf("host %q: %v", host, err)
		}
		return r.RegistryStr(), nil
	})
}

// compileRules builds the policy of every listed project and the one for
// all others. Without `allowed` and `projects` there are no rules.
func (c *Config) compileRules() error {
	if len(c.Allowed) == 0 && len(c.Projects) == 0 {
		return nil
	}
	base, err := compileGlobs(c.Allowed)
	if err != nil {
		return err
	}
	c.def = egress.Restricted("registries.conf `allowed`", base, c.apiHostsFor(base))
	c.policies = make(map[string]*egress.Policy, len(c.Projects))
	for project, globs := range c.Projects {
		extra, err := compileGlobs(globs)
		if err != nil {
			return err
		}
		all := append(append([]egress.Pattern(nil), base...), extra...)
		label := "registries.conf `projects." + project + "`"
		if len(base) > 0 {
			label = "registries.conf `allowed` and `projects." + project + "`"
		}
		c.policies[project] = egress.Restricted(label, all, c.apiHostsFor(all))
	}
	return nil
}

func compileGlobs(globs []string) ([]egress.Pattern, error) {
	out := make([]egress.Pattern, 0, len(globs))
	for _, g := range globs {
		p, err := ParsePattern(g)
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, nil
}

// apiHostsFor lists where the entries whose prefix host the patterns cover
// answer (api_url), so that an allowed prefix reaches its own API.
func (c *Config) apiHostsFor(patterns []egress.Pattern) []string {
	var hosts []string
	for _, reg := range c.Registries {
		if reg.apiHost == reg.prefixHost {
			continue
		}
		for _, p := range patterns {
			if p.MatchHost(reg.prefixHost) {
				hosts = append(hosts, reg.apiHost)
				break
			}
		}
	}
	return hosts
}

// Policy is where the sidecar may connect for an Application of project
// (ARGOCD_APP_PROJECT_NAME): the `allowed` globs plus the project's own,
// or, without rules, anywhere but link-local.
func (c *Config) Policy(project string) *egress.Policy {
	if c == nil || c.def == nil {
		return egress.Unrestricted()
	}
	if p, ok := c.policies[project]; ok {
		return p
	}
	return c.def
}
