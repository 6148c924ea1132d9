package rewrite

import "fmt"

// containerLists are the container lists of a pod spec.
var containerLists = []string{"containers", "initContainers", "ephemeralContainers"}

// workload is a kind whose objects run pods, with its API groups and the
// path of its pod spec.
type workload struct {
	kind    string
	groups  []string // "" is the core group
	podSpec string
}

// workloads are the kinds whose containers a rewrite writes into.
func workloads() []workload {
	return []workload{
		{"Pod", []string{""}, "spec"},
		{"ReplicationController", []string{""}, "spec/template/spec"},
		{"Deployment", []string{"apps", "extensions"}, "spec/template/spec"},
		{"StatefulSet", []string{"apps"}, "spec/template/spec"},
		{"DaemonSet", []string{"apps", "extensions"}, "spec/template/spec"},
		{"ReplicaSet", []string{"apps", "extensions"}, "spec/template/spec"},
		{"Job", []string{"batch"}, "spec/template/spec"},
		{"CronJob", []string{"batch"}, "spec/jobTemplate/spec/template/spec"},
	}
}

// rule is a compiled field spec: objects it selects and the path of their
// image field.
type rule struct {
	groups  []string // nil: any group
	version string   // "": any
	kind    string   // "": any
	path    []step
}

func (r rule) selects(group, version, kind string) bool {
	if r.kind != "" && r.kind != kind {
		return false
	}
	if r.version != "" && r.version != version {
		return false
	}
	if r.groups == nil {
		return true
	}
	for _, g := range r.groups {
		if g == group {
			return true
		}
	}
	return false
}

// rules are the built-in container image fields followed by the extra
// field specs.
func rules(extra []FieldSpec) ([]rule, error) {
	var out []rule
	for _, w := range workloads() {
		for _, list := range containerLists {
			path, err := parsePath(w.podSpec + "/" + list + "[]/image")
			if err != nil {
				return nil, err
			}
			out = append(out, rule{groups: w.groups, kind: w.kind, path: path})
		}
	}
	for _, f := range extra {
		path, err := parsePath(f.Path)
		if err != nil {
			return nil, &FieldsError{Err: fmt.Errorf("%s: %w", f, err)}
		}
		r := rule{version: f.Version, kind: f.Kind, path: path}
		if f.Group != "" {
			r.groups = []string{f.Group}
		}
		out = append(out, r)
	}
	return out, nil
}
