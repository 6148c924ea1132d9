package kustomization

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"sigs.k8s.io/kustomize/api/types"
)

// Options are the options of Argo CD's spec.source.kustomize that the
// plugin takes as parameters, compiled.
type Options struct {
	NamePrefix string
	NameSuffix string
	Namespace  string
	// Images are set in the kustomization's images, before the resolved
	// ones (which win for the same name).
	Images            []types.Image
	CommonLabels      map[string]string
	CommonAnnotations map[string]string
	// ForceCommonLabels and ForceCommonAnnotations let CommonLabels and
	// CommonAnnotations replace keys the kustomization already sets;
	// without them such a key is an error, as in Argo CD.
	ForceCommonLabels      bool
	ForceCommonAnnotations bool
	Replicas               []types.Replica
	// Components are folders relative to the application path.
	Components []string
	// LoadRestrictions is LoadRestrictionsNone, or unset for Kustomize's
	// default, LoadRestrictionsRootOnly.
	LoadRestrictions types.LoadRestrictions
}

// IsSet reports whether any option is given.
func (o Options) IsSet() bool {
	return o.NamePrefix != "" || o.NameSuffix != "" || o.Namespace != "" || len(o.Images) > 0 ||
		len(o.CommonLabels) > 0 || len(o.CommonAnnotations) > 0 || len(o.Replicas) > 0 ||
		len(o.Components) > 0 || o.LoadRestrictions != types.LoadRestrictionsUnknown ||
		o.ForceCommonLabels || o.ForceCommonAnnotations
}

// Restrictions is the load restrictor a build uses.
func (o Options) Restrictions() types.LoadRestrictions {
	if o.LoadRestrictions == types.LoadRestrictionsNone {
		return types.LoadRestrictionsNone
	}
	return types.LoadRestrictionsRootOnly
}

// Apply changes k as Argo CD's `kustomize edit` commands do for these
// options: name prefix, suffix and namespace replaced, images set (see
// SetImages), replicas replaced by name or added, labels and annotations
// added (replacing the kustomization's own only when forced), components
// added once.
func (o Options) Apply(k *types.Kustomization) error {
	if o.NamePrefix != "" {
		k.NamePrefix = o.NamePrefix
	}
	if o.NameSuffix != "" {
		k.NameSuffix = o.NameSuffix
	}
	if o.Namespace != "" {
		k.Namespace = o.Namespace
	}
	if len(o.Images) > 0 {
		k.Images = SetImages(k.Images, o.Images...)
	}
	for _, r := range o.Replicas {
		i := slices.IndexFunc(k.Replicas, func(have types.Replica) bool { return have.Name == r.Name })
		if i < 0 {
			k.Replicas = append(k.Replicas, r)
		} else {
			k.Replicas[i] = r
		}
	}
	var err error
	if k.CommonLabels, err = merged("label", k.CommonLabels, o.CommonLabels, o.ForceCommonLabels); err != nil {
		return err
	}
	if k.CommonAnnotations, err = merged("annotation", k.CommonAnnotations, o.CommonAnnotations, o.ForceCommonAnnotations); err != nil {
		return err
	}
	for _, c := range o.Components {
		if !slices.Contains(k.Components, c) {
			k.Components = append(k.Components, c)
		}
	}
	return nil
}

// ExistingKeyError says that the Application adds a label or annotation
// the kustomization already sets, without forcing it: `kustomize edit add
// label` fails the same way in Argo CD without forceCommonLabels.
type ExistingKeyError struct {
	Kind, Key string
}

func (e *ExistingKeyError) Error() string {
	return fmt.Sprintf("%s %q is already set in the kustomization: set kustomize-force-common-%ss to \"true\" to replace it, as Argo CD's forceCommon%ss", e.Kind, e.Key, e.Kind, strings.ToUpper(e.Kind[:1])+e.Kind[1:])
}

func merged(kind string, base, over map[string]string, force bool) (map[string]string, error) {
	if len(over) == 0 {
		return base, nil
	}
	out := maps.Clone(base)
	if out == nil {
		out = map[string]string{}
	}
	for _, key := range slices.Sorted(maps.Keys(over)) {
		if _, ok := out[key]; ok && !force {
			return nil, &ExistingKeyError{Kind: kind, Key: key}
		}
		out[key] = over[key]
	}
	return out, nil
}
