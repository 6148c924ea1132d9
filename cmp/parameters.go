package cmp

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/argocd-image-resolver/argocd-image-resolver/resolve"
)

// Parameter names (spec.source.plugin.parameters[].name).
const (
	ParamImages                  = "images"
	ParamImageOptions            = "image-options"
	ParamValueFiles              = "value-files"
	ParamValues                  = "values"
	ParamHelmParameters          = "helm-parameters"
	ParamHelmStringParameters    = "helm-string-parameters"
	ParamReleaseName             = "release-name"
	ParamSkipCRDs                = "skip-crds"
	ParamIgnoreMissingValueFiles = "ignore-missing-value-files"
	ParamDirectoryRecurse        = "directory-recurse"
	ParamDirectoryInclude        = "directory-include"
	ParamDirectoryExclude        = "directory-exclude"

	ParamKustomizeNamePrefix        = "kustomize-name-prefix"
	ParamKustomizeNameSuffix        = "kustomize-name-suffix"
	ParamKustomizeNamespace         = "kustomize-namespace"
	ParamKustomizeImages            = "kustomize-images"
	ParamKustomizeCommonLabels      = "kustomize-common-labels"
	ParamKustomizeCommonAnnotations = "kustomize-common-annotations"
	ParamKustomizeReplicas          = "kustomize-replicas"
	ParamKustomizeComponents        = "kustomize-components"
	ParamKustomizeLoadRestrictor    = "kustomize-load-restrictor"

	ParamKustomizeForceCommonLabels      = "kustomize-force-common-labels"
	ParamKustomizeForceCommonAnnotations = "kustomize-force-common-annotations"

	// AnnouncedImagePrefix names the informational parameters announcing
	// resolved tags (`image.<alias>`); they are accepted and ignored.
	AnnouncedImagePrefix = "image."

	// ParamImageList is argocd-image-updater's image-list annotation: the
	// images as one comma-separated string. It is another spelling of
	// images, accepted so that annotations can be copied as they are.
	ParamImageList = "image-list"
)

// notNeeded are argocd-image-updater keys that have no meaning here, with
// the reason; they are refused with it rather than as unknown.
var notNeeded = map[string]string{
	"write-back-method": "nothing is written back: the version is resolved at every render",
	"write-back-target": "nothing is written back: the version is resolved at every render",
	"git-branch":        "nothing is committed",
}

// notNeededOption are argocd-image-updater per-alias keys with no meaning
// here.
var notNeededOption = map[string]string{
	"force-update": "every configured image is resolved and written on every render",
}

func notNeededReason(name string) (string, bool) {
	if r, ok := notNeeded[name]; ok {
		return r, true
	}
	for opt, r := range notNeededOption {
		if strings.HasSuffix(name, "."+opt) {
			return r, true
		}
	}
	return "", false
}

// flexBool accepts true/false as a YAML boolean or a string.
type flexBool bool

func (b *flexBool) UnmarshalJSON(data []byte) error {
	var s string
	if err := json.Unmarshal(data, &s); err != nil {
		var v bool
		if err := json.Unmarshal(data, &v); err != nil {
			return fmt.Errorf("want \"true\" or \"false\", got %s", data)
		}
		*b = flexBool(v)
		return nil
	}
	v, err := strconv.ParseBool(strings.TrimSpace(s))
	if err != nil {
		return fmt.Errorf("want \"true\" or \"false\", got %q", s)
	}
	*b = flexBool(v)
	return nil
}

// pluginParameter is one element of ARGOCD_APP_PARAMETERS as Argo CD
// marshals ApplicationSourcePluginParameter.
type pluginParameter struct {
	Name   string             `json:"name"`
	String *string            `json:"string,omitempty"`
	Array  *[]string          `json:"array,omitempty"`
	Map    *map[string]string `json:"map,omitempty"`
}

type paramKind int

const (
	kindString paramKind = iota
	kindArray
	kindMap
	kindBool
)

var parameterKinds = map[string]paramKind{
	ParamImages:                  kindArray,
	ParamImageOptions:            kindMap,
	ParamValueFiles:              kindArray,
	ParamValues:                  kindString,
	ParamHelmParameters:          kindMap,
	ParamHelmStringParameters:    kindMap,
	ParamReleaseName:             kindString,
	ParamSkipCRDs:                kindBool,
	ParamIgnoreMissingValueFiles: kindBool,
	ParamDirectoryRecurse:        kindBool,
	ParamDirectoryInclude:        kindString,
	ParamDirectoryExclude:        kindString,

	ParamKustomizeNamePrefix:        kindString,
	ParamKustomizeNameSuffix:        kindString,
	ParamKustomizeNamespace:         kindString,
	ParamKustomizeImages:            kindArray,
	ParamKustomizeCommonLabels:      kindMap,
	ParamKustomizeCommonAnnotations: kindMap,
	ParamKustomizeReplicas:          kindMap,
	ParamKustomizeComponents:        kindArray,
	ParamKustomizeLoadRestrictor:    kindString,

	ParamKustomizeForceCommonLabels:      kindBool,
	ParamKustomizeForceCommonAnnotations: kindBool,
}

func knownParameters() string {
	names := make([]string, 0, len(parameterKinds))
	for n := range parameterKinds {
		names = append(names, n)
	}
	sort.Strings(names)
	return strings.Join(names, ", ")
}

// parseParameters decodes ARGOCD_APP_PARAMETERS.
func parseParameters(raw string) (settings, error) {
	var out settings
	if strings.TrimSpace(raw) == "" {
		return out, nil
	}
	var params []pluginParameter
	dec := json.NewDecoder(strings.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&params); err != nil {
		return out, inputError("%s is not the JSON list of plugin parameters Argo CD sends: %v", EnvAppParameters, err)
	}
	var errs []error
	// The known parameters, by name, decoded into settings through its
	// JSON names (the same as the repository file's keys).
	known := map[string]any{}
	for _, p := range params {
		name := strings.TrimPrefix(p.Name, resolve.UpdaterPrefix)
		if strings.HasPrefix(name, AnnouncedImagePrefix) && !resolve.IsOptionKey(name) {
			// image.<alias>: what the plugin announced, sent back by
			// the UI. An alias named "image" keeps its option keys
			// (image.update-strategy).
			continue
		}
		kind, ok := parameterKinds[name]
		if !ok {
			if err := out.setUpdaterKey(name, p); err != nil {
				errs = append(errs, err)
			}
			continue
		}
		v, err := p.value(kind)
		if err != nil {
			errs = append(errs, fmt.Errorf("parameter %q: %w", p.Name, err))
			continue
		}
		known[name] = v
	}
	if len(errs) > 0 {
		return settings{}, inputError("%v", errors.Join(errs...))
	}
	data, err := json.Marshal(known)
	if err == nil {
		dec := json.NewDecoder(bytes.NewReader(data))
		dec.DisallowUnknownFields()
		err = dec.Decode(&out)
	}
	if err != nil {
		return settings{}, fmt.Errorf("decoding the plugin parameters: %w", err)
	}
	return out, nil
}

// setUpdaterKey takes a parameter that is not one of plugin.yaml's:
// argocd-image-updater's image-list or a per-alias key, else an error.
func (s *settings) setUpdaterKey(name string, p pluginParameter) error {
	switch {
	case name == ParamImageList, resolve.IsOptionKey(name):
		if p.String == nil {
			return fmt.Errorf("parameter %q: must be a string (set `string:` in spec.source.plugin.parameters)", p.Name)
		}
		if name == ParamImageList {
			s.ImageList = p.String
		} else {
			s.addAliasOption(p.Name, *p.String)
		}
		return nil
	}
	if reason, ok := notNeededReason(name); ok {
		return fmt.Errorf("parameter %q is not needed with image-resolver (%s); remove it", p.Name, reason)
	}
	return fmt.Errorf("unknown parameter %q (known: %s, %s, and <alias>.<option> keys)", p.Name, knownParameters(), ParamImageList)
}

// value is the parameter's value for its kind: the array, map or string
// Argo CD sent, a boolean parsed from the string.
func (p pluginParameter) value(kind paramKind) (any, error) {
	switch kind {
	case kindArray:
		if p.Array == nil {
			return nil, errors.New("must be an array (set `array:` in spec.source.plugin.parameters)")
		}
		return *p.Array, nil
	case kindMap:
		if p.Map == nil {
			return nil, errors.New("must be a map (set `map:` in spec.source.plugin.parameters)")
		}
		return *p.Map, nil
	}
	if p.String == nil {
		return nil, errors.New("must be a string (set `string:` in spec.source.plugin.parameters)")
	}
	if kind == kindBool {
		v, err := strconv.ParseBool(strings.TrimSpace(*p.String))
		if err != nil {
			return nil, fmt.Errorf("want \"true\" or \"false\", got %q", *p.String)
		}
		return v, nil
	}
	return *p.String, nil
}
