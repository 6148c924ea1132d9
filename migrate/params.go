package migrate

import (
	"github.com/argoproj/argo-cd/v3/pkg/apis/application/v1alpha1"
)

// paramTrue is how the plugin's boolean parameters are set.
const paramTrue = "true"

// params builds the plugin parameters of one source, in the order they
// are added.
type params []v1alpha1.ApplicationSourcePluginParameter

func (p *params) str(name, value string) {
	v := value
	*p = append(*p, v1alpha1.ApplicationSourcePluginParameter{Name: name, String_: &v})
}

// array adds an array parameter unless values is empty.
func (p *params) array(name string, values []string) {
	if len(values) == 0 {
		return
	}
	*p = append(*p, v1alpha1.ApplicationSourcePluginParameter{
		Name:          name,
		OptionalArray: &v1alpha1.OptionalArray{Array: append([]string(nil), values...)},
	})
}

// mapping adds a map parameter unless values is empty.
func (p *params) mapping(name string, values map[string]string) {
	if len(values) == 0 {
		return
	}
	m := make(map[string]string, len(values))
	for k, v := range values {
		m[k] = v
	}
	*p = append(*p, v1alpha1.ApplicationSourcePluginParameter{Name: name, OptionalMap: &v1alpha1.OptionalMap{Map: m}})
}

// strIf adds a string parameter unless value is empty.
func (p *params) strIf(name, value string) {
	if value != "" {
		p.str(name, value)
	}
}

// flag adds a boolean parameter set to "true" when on.
func (p *params) flag(name string, on bool) {
	if on {
		p.str(name, paramTrue)
	}
}
