package kustomization

import (
	"maps"
	"slices"

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
	Replicas          []types.Replica
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
		len(o.Components) > 0 || o.LoadRestrictions != types.LoadRestrictionsUnknown
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
// added over the kustomization's own, components added once.
func (o Options) Apply(k *types.Kustomization) {
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
	if len(o.CommonLabels) > 0 {
		k.CommonLabels = merged(k.CommonLabels, o.CommonLabels)
	}
	if len(o.CommonAnnotations) > 0 {
		k.CommonAnnotations = merged(k.CommonAnnotations, o.CommonAnnotations)
	}
	for _, c := range o.Components {
		if !slices.Contains(k.Components, c) {
			k.Components = append(k.Components, c)
		}
	}
}

func merged(base, over map[string]string) map[string]string {
	out := maps.Clone(base)
	if out == nil {
		out = map[string]string{}
	}
	maps.Copy(out, over)
	return out
}
