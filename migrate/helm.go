package migrate

import (
	"strings"

	"github.com/argoproj/argo-cd/v3/pkg/apis/application/v1alpha1"
	"sigs.k8s.io/yaml"

	"github.com/argocd-image-resolver/argocd-image-resolver/cmp"
)

// helmParameters converts a Helm source's settings (field names it in the
// report) to the plugin's parameters. Helm parameters at a value path
// argocd-image-updater wrote for an image are left out: the plugin writes
// that path itself on every render, while such a parameter would pin it.
func helmParameters(h *v1alpha1.ApplicationSourceHelm, field string, plan *imagePlan, destinationNamespace string, f *findings) params {
	var p params
	p.array(cmp.ParamValueFiles, valueFiles(h.ValueFiles, field+".valueFiles", f))
	p.strIf(cmp.ParamValues, helmValues(h, field, f))

	plain, forced := map[string]string{}, map[string]string{}
	for _, hp := range h.Parameters {
		if alias, owned, ok := plan.ownedHelmPath(hp.Name); ok {
			f.note(field+".parameters "+hp.Name, "the value argocd-image-updater wrote for image %s (%q); removed, the plugin writes %s at every render", alias, hp.Value, hp.Name)
			if owned.isDefault {
				plan.useHelmPath(alias, owned)
			}
			continue
		}
		if hp.ForceString {
			forced[hp.Name] = hp.Value
		} else {
			plain[hp.Name] = hp.Value
		}
	}
	p.mapping(cmp.ParamHelmParameters, plain)
	p.mapping(cmp.ParamHelmStringParameters, forced)
	p.strIf(cmp.ParamReleaseName, h.ReleaseName)
	p.flag(cmp.ParamSkipCRDs, h.SkipCrds)
	p.flag(cmp.ParamIgnoreMissingValueFiles, h.IgnoreMissingValueFiles)

	f.unsupported(field+".fileParameters", len(h.FileParameters) > 0, "move each file's content into a value file or values")
	f.unsupported(field+".passCredentials", h.PassCredentials, "the plugin has no such setting")
	f.unsupported(field+".version", h.Version != "" && h.Version != "v3", "the plugin renders with Helm 3")
	f.unsupported(field+".kubeVersion", h.KubeVersion != "", "the plugin renders for the Kubernetes version Argo CD sends, KUBE_VERSION")
	f.unsupported(field+".apiVersions", len(h.APIVersions) > 0, "the plugin renders for the API versions Argo CD sends, KUBE_API_VERSIONS")
	f.unsupported(field+".skipTests", h.SkipTests, "the plugin always renders the chart's test hooks")
	f.unsupported(field+".skipSchemaValidation", h.SkipSchemaValidation, "the plugin always checks the values against the chart's values.schema.json")
	switch {
	case h.Namespace == "":
	case h.Namespace == destinationNamespace:
		f.note(field+".namespace", "the destination namespace, where the plugin renders anyway; removed")
	default:
		f.unsupported(field+".namespace", true, "the plugin renders into the destination namespace, "+destinationNamespace)
	}
	return p
}

// valueFiles keeps the value files the plugin can read and reports the
// others: files of another source ($ref/...) and remote files.
func valueFiles(files []string, field string, f *findings) []string {
	var out []string
	for _, vf := range files {
		switch {
		case strings.HasPrefix(vf, "$"):
			f.error(field+" "+vf, "names a file of another source (a $ref value file); Argo CD hands a plugin only the files of its own source: "+
				"commit the file beside the chart and name it relative to the chart; kept, and the render will fail until then")
		case strings.Contains(vf, "://"):
			f.error(field+" "+vf, "a remote value file, which the plugin does not fetch: commit it beside the chart; kept, and the render will fail until then")
		}
		out = append(out, vf)
	}
	return out
}

// helmValues returns the inline values: valuesObject as YAML when set (it
// wins over values in Argo CD too), else values.
func helmValues(h *v1alpha1.ApplicationSourceHelm, field string, f *findings) string {
	if h.ValuesObject == nil || len(h.ValuesObject.Raw) == 0 {
		return h.Values
	}
	out, err := yaml.JSONToYAML(h.ValuesObject.Raw)
	if err != nil {
		f.error(field+".valuesObject", "cannot be written as YAML (%v); not converted", err)
		return h.Values
	}
	if h.Values != "" {
		f.note(field+".values", "Argo CD uses valuesObject when both are set; only valuesObject is converted")
	}
	return string(out)
}
