package registriesconf

import (
	"errors"
	"fmt"
	"strings"

	"gopkg.in/yaml.v3"
)

// parseFollow reads `follow`: AppProject name -> the other AppProjects
// whose Applications its Applications may follow (follow option). Within
// one project following needs no rule.
func parseFollow(v *yaml.Node) (map[string][]string, error) {
	if v.Kind != yaml.MappingNode {
		return nil, fmt.Errorf("line %d: `follow` must map AppProject names to lists of AppProjects they may follow, e.g. production: [staging]", v.Line)
	}
	var errs []error
	out := map[string][]string{}
	for i := 0; i+1 < len(v.Content); i += 2 {
		k, list := v.Content[i], v.Content[i+1]
		project := strings.TrimSpace(k.Value)
		if project == "" {
			errs = append(errs, fmt.Errorf("line %d: `follow` keys are AppProject names", k.Line))
			continue
		}
		if _, dup := out[project]; dup {
			errs = append(errs, fmt.Errorf("line %d: follow: project %q appears twice", k.Line, project))
			continue
		}
		if list.Kind != yaml.SequenceNode {
			errs = append(errs, fmt.Errorf("line %d: follow.%s must be a list of AppProject names, e.g. [staging]", list.Line, project))
			continue
		}
		var followed []string
		for _, item := range list.Content {
			name := strings.TrimSpace(item.Value)
			if item.Kind != yaml.ScalarNode || name == "" || name == "*" {
				errs = append(errs, fmt.Errorf("line %d: follow.%s entries are AppProject names (no wildcards: name each project)", item.Line, project))
				continue
			}
			followed = append(followed, name)
		}
		out[project] = followed
	}
	return out, errors.Join(errs...)
}

// MayFollow reports whether Applications of project may take their
// version from an Application of followed: always within one project,
// across projects only where `follow` says so.
func (c *Config) MayFollow(project, followed string) bool {
	if project == followed {
		return true
	}
	if c == nil {
		return false
	}
	for _, p := range c.Follow[project] {
		if p == followed {
			return true
		}
	}
	return false
}
