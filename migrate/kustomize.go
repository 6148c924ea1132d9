package migrate

import (
	"strings"

	"github.com/argoproj/argo-cd/v3/pkg/apis/application/v1alpha1"

	"github.com/argocd-image-resolver/argocd-image-resolver/cmp"
)

// kustomizeParameters converts a Kustomize source's settings (field names
// it in the report) to the plugin's parameters. Image overrides that
// argocd-image-updater wrote for one of its images are left out: the
// plugin sets those images itself on every render.
func kustomizeParameters(k *v1alpha1.ApplicationSourceKustomize, field string, plan *imagePlan, f *findings) params {
	var p params
	p.strIf(cmp.ParamKustomizeNamePrefix, k.NamePrefix)
	p.strIf(cmp.ParamKustomizeNameSuffix, k.NameSuffix)
	p.strIf(cmp.ParamKustomizeNamespace, k.Namespace)

	var images []string
	for _, img := range k.Images {
		if alias, ok := plan.ownedKustomizeImage(img); ok {
			f.note(field+".images "+string(img), "the override argocd-image-updater wrote for image %s; removed, the plugin sets the image at every render", alias)
			continue
		}
		images = append(images, string(img))
	}
	p.array(cmp.ParamKustomizeImages, images)
	p.mapping(cmp.ParamKustomizeCommonLabels, k.CommonLabels)
	p.mapping(cmp.ParamKustomizeCommonAnnotations, k.CommonAnnotations)
	p.flag(cmp.ParamKustomizeForceCommonLabels, k.ForceCommonLabels)
	p.flag(cmp.ParamKustomizeForceCommonAnnotations, k.ForceCommonAnnotations)
	if len(k.Replicas) > 0 {
		replicas := make(map[string]string, len(k.Replicas))
		for _, r := range k.Replicas {
			replicas[r.Name] = r.Count.String()
		}
		p.mapping(cmp.ParamKustomizeReplicas, replicas)
	}
	p.array(cmp.ParamKustomizeComponents, k.Components)

	f.unsupported(field+".version", k.Version != "", "the plugin runs its own kustomize")
	f.unsupported(field+".commonAnnotationsEnvsubst", k.CommonAnnotationsEnvsubst, "the plugin has no such setting")
	f.unsupported(field+".labelWithoutSelector", k.LabelWithoutSelector, "the plugin has no such setting")
	f.unsupported(field+".labelIncludeTemplates", k.LabelIncludeTemplates, "the plugin has no such setting")
	f.unsupported(field+".patches", len(k.Patches) > 0, "commit the patches to the kustomization")
	f.unsupported(field+".ignoreMissingComponents", k.IgnoreMissingComponents, "the plugin has no such setting")
	f.unsupported(field+".kubeVersion", k.KubeVersion != "", "the plugin renders for the Kubernetes version Argo CD sends, KUBE_VERSION")
	f.unsupported(field+".apiVersions", len(k.APIVersions) > 0, "the plugin renders for the API versions Argo CD sends, KUBE_API_VERSIONS")
	return p
}

// ownedKustomizeImage returns the image whose kustomization image img
// overrides: the one whose name is img's.
func (plan *imagePlan) ownedKustomizeImage(img v1alpha1.KustomizeImage) (string, bool) {
	name := kustomizeImageName(string(img))
	for _, pi := range plan.images {
		if pi.kustomizeName != "" && kustomizeImageName(pi.kustomizeName) == name {
			return pi.alias, true
		}
	}
	return "", false
}

// kustomizeImageName is the name an Argo CD kustomize image entry sets:
// what comes before '=' (`name=newName:tag`), else the image without its
// tag and digest (`name:tag`, `name@digest`).
func kustomizeImageName(entry string) string {
	if name, _, ok := strings.Cut(entry, "="); ok {
		return name
	}
	name, _, _ := strings.Cut(entry, "@")
	if colon := strings.LastIndexByte(name, ':'); colon > strings.LastIndexByte(name, '/') {
		name = name[:colon]
	}
	return name
}
