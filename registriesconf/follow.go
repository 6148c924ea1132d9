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
	return parseByProject(v, keyFollow, "lists of AppProjects they may follow, e.g. production: [staging]",
		func(project string, list *yaml.Node) ([]string, error) {
			if list.Kind != yaml.SequenceNode {
				return nil, fmt.Errorf("line %d: follow.%s must be a list of AppProject names, e.g. [staging]", list.Line, project)
			}
			var errs []error
			var followed []string
			for _, item := range list.Content {
				name := strings.TrimSpace(item.Value)
				if item.Kind != yaml.ScalarNode || name == "" || name == "*" {
					errs = append(errs, fmt.Errorf("line %d: follow.%s entries are AppProject names (no wildcards: name each project)", item.Line, project))
					continue
				}
				followed = append(followed, name)
			}
			return followed, errors.Join(errs...)
		})
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
