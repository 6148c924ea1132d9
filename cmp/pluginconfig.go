package cmp

import (
	_ "embed"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"

	repoapiclient "github.com/argoproj/argo-cd/v3/reposerver/apiclient"
	"sigs.k8s.io/yaml"
)

// DefaultPluginYAML is the plugin.yaml shipped with the binary. The
// canonical file lives at the repository root; a test asserts the two are
// identical, so the sidecar works without mounting a ConfigMap and a
// mounted file can still replace it (LoadPluginConfig).
//
//go:embed plugin.yaml
var DefaultPluginYAML []byte

// PluginConfig is the part of Argo CD's ConfigManagementPlugin spec this
// server uses.
type PluginConfig struct {
	APIVersion string         `json:"apiVersion"`
	Kind       string         `json:"kind"`
	Metadata   PluginMetadata `json:"metadata"`
	Spec       PluginSpec     `json:"spec"`
}

// PluginMetadata holds the plugin name.
type PluginMetadata struct {
	Name string `json:"name"`
}

// PluginSpec mirrors ConfigManagementPlugin.spec.
type PluginSpec struct {
	Version         string           `json:"version"`
	Init            PluginCommand    `json:"init,omitempty"`
	Generate        PluginCommand    `json:"generate"`
	Discover        PluginDiscover   `json:"discover,omitempty"`
	Parameters      PluginParameters `json:"parameters,omitempty"`
	ProvideGitCreds bool             `json:"provideGitCreds,omitempty"`
}

// PluginCommand is a command with arguments.
type PluginCommand struct {
	Command []string `json:"command,omitempty"`
	Args    []string `json:"args,omitempty"`
}

// PluginDiscover selects the Applications the plugin claims when they do
// not name a plugin.
type PluginDiscover struct {
	FileName string     `json:"fileName,omitempty"`
	Find     PluginFind `json:"find,omitempty"`
}

// PluginFind is the glob (or command) form of discovery.
type PluginFind struct {
	PluginCommand `json:",inline"`
	Glob          string `json:"glob,omitempty"`
}

// PluginParameters are the announced parameters.
type PluginParameters struct {
	Static  []*repoapiclient.ParameterAnnouncement `json:"static,omitempty"`
	Dynamic PluginCommand                          `json:"dynamic,omitempty"`
}

// ParsePluginConfig decodes and validates a plugin.yaml document.
func ParsePluginConfig(data []byte) (*PluginConfig, error) {
	var c PluginConfig
	if err := yaml.UnmarshalStrict(data, &c); err != nil {
		return nil, fmt.Errorf("plugin config: %w", err)
	}
	if c.Kind != "ConfigManagementPlugin" {
		return nil, fmt.Errorf("plugin config: kind is %q, want ConfigManagementPlugin", c.Kind)
	}
	if c.Metadata.Name == "" {
		return nil, errors.New("plugin config: metadata.name is empty")
	}
	if strings.ContainsAny(c.Metadata.Name+c.Spec.Version, "/\\") {
		return nil, fmt.Errorf("plugin config: name %q and version %q must not contain path separators", c.Metadata.Name, c.Spec.Version)
	}
	if len(c.Spec.Discover.Find.Command) > 0 {
		return nil, errors.New("plugin config: spec.discover.find.command is not supported by this server; use fileName or find.glob")
	}
	if len(c.Spec.Parameters.Dynamic.Command) > 0 {
		return nil, errors.New("plugin config: spec.parameters.dynamic is not supported by this server; resolved images are announced automatically")
	}
	return &c, nil
}

// LoadPluginConfig reads plugin.yaml from path, or the embedded copy when
// path is empty.
func LoadPluginConfig(path string) (*PluginConfig, error) {
	if path == "" {
		return ParsePluginConfig(DefaultPluginYAML)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("plugin config: %w", err)
	}
	c, err := ParsePluginConfig(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return c, nil
}

// SocketName is the socket file name the repo-server dials:
// `<name>-<version>.sock`, or `<name>.sock` without a version.
func (c *PluginConfig) SocketName() string {
	if c.Spec.Version != "" {
		return c.Metadata.Name + "-" + c.Spec.Version + ".sock"
	}
	return c.Metadata.Name + ".sock"
}

// DiscoveryConfigured reports whether the plugin claims Applications by
// discovery.
func (c *PluginConfig) DiscoveryConfigured() bool {
	d := c.Spec.Discover
	return d.FileName != "" || d.Find.Glob != "" || len(d.Find.Command) > 0
}

// Match applies discovery to the application's folder app in repo:
// fileName is a glob pattern in that folder, find.glob a pattern relative
// to it where `**` spans any number of directories.
func (c *PluginConfig) Match(repo Repo, app string) (bool, error) {
	d := c.Spec.Discover
	app = path.Clean(app)
	switch {
	case d.FileName != "":
		matches, err := fs.Glob(repo.fsys(), path.Join(app, filepath.ToSlash(d.FileName)))
		if err != nil {
			return false, fmt.Errorf("discover.fileName %q: %w", d.FileName, err)
		}
		return len(matches) > 0, nil
	case d.Find.Glob != "":
		return globTree(repo.fsys(), app, d.Find.Glob)
	}
	return false, nil
}

// globTree reports whether any path under root matches pattern, a
// slash-separated glob whose `**` elements match zero or more directories.
func globTree(fsys fs.FS, root, pattern string) (bool, error) {
	pattern = strings.TrimPrefix(path.Clean(filepath.ToSlash(pattern)), "./")
	parts := strings.Split(pattern, "/")
	for _, p := range parts {
		if p == "**" {
			continue
		}
		if _, err := path.Match(p, ""); err != nil {
			return false, fmt.Errorf("discover.find.glob %q: %w", pattern, err)
		}
	}
	found := false
	err := fs.WalkDir(fsys, root, func(p string, _ fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel := strings.TrimPrefix(strings.TrimPrefix(p, root), "/")
		if root == "." {
			rel = p
		}
		if rel == "." || rel == "" {
			return nil
		}
		if matchParts(parts, strings.Split(rel, "/")) {
			found = true
			return fs.SkipAll
		}
		return nil
	})
	return found, err
}

func matchParts(pattern, name []string) bool {
	for len(pattern) > 0 {
		if pattern[0] == "**" {
			for i := 0; i <= len(name); i++ {
				if matchParts(pattern[1:], name[i:]) {
					return true
				}
			}
			return false
		}
		if len(name) == 0 {
			return false
		}
		if ok, _ := path.Match(pattern[0], name[0]); !ok {
			return false
		}
		pattern, name = pattern[1:], name[1:]
	}
	return len(name) == 0
}
