package migrate

import (
	"github.com/argoproj/argo-cd/v3/pkg/apis/application/v1alpha1"

	"github.com/argocd-image-resolver/argocd-image-resolver/cmp"
)

// directoryParameters converts a directory source's settings (field names
// it in the report) to the plugin's parameters.
func directoryParameters(d *v1alpha1.ApplicationSourceDirectory, field string, f *findings) params {
	var p params
	p.flag(cmp.ParamDirectoryRecurse, d.Recurse)
	p.strIf(cmp.ParamDirectoryInclude, d.Include)
	p.strIf(cmp.ParamDirectoryExclude, d.Exclude)
	f.unsupported(field+".jsonnet", !d.Jsonnet.IsZero(), "the plugin reads YAML and JSON manifests, not Jsonnet")
	f.unsupported(field+".disableExtensionFilter", d.DisableExtensionFilter, "the plugin reads *.yaml, *.yml and *.json files only")
	return p
}
