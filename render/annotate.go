package render

import (
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation"
	"sigs.k8s.io/yaml"
)

// AnnotationPrefix starts the annotation key of one alias:
// "argocd-image-resolver/image.<alias>".
const AnnotationPrefix = "argocd-image-resolver/image."

// workloadKinds are the kinds whose pod templates run images.
var workloadKinds = map[string]bool{
	"Pod": true, "Deployment": true, "StatefulSet": true, "DaemonSet": true,
	"ReplicaSet": true, "ReplicationController": true, "Job": true, "CronJob": true,
}

// AnnotationKey is the annotation of an alias, or an error when the alias
// cannot form a valid key (too long).
func AnnotationKey(alias string) (string, error) {
	key := AnnotationPrefix + alias
	if errs := validation.IsQualifiedName(key); len(errs) > 0 {
		return "", fmt.Errorf("image %q: annotate: %q is not a valid annotation key (%s); use a shorter alias", alias, key, strings.Join(errs, "; "))
	}
	return key, nil
}

// Annotate writes each annotated image's Annotation into the
// metadata.annotations of every workload whose containers run the image's
// repository. Documents it changes are written back in sigs.k8s.io/yaml's
// canonical form (sorted keys), which is the same for the same input, so
// two renders of one resolution stay byte-identical.
func Annotate(manifests []string, images []Image) ([]string, error) {
	type ann struct{ key, value, repo string }
	var anns []ann
	for _, img := range images {
		if img.Annotation == "" {
			continue
		}
		key, err := AnnotationKey(img.Alias)
		if err != nil {
			return nil, err
		}
		anns = append(anns, ann{key: key, value: img.Annotation, repo: repositoryPath(img.Repository)})
	}
	if len(anns) == 0 {
		return manifests, nil
	}
	out := make([]string, len(manifests))
	for i, doc := range manifests {
		out[i] = doc
		if !strings.Contains(doc, "image") {
			continue
		}
		var obj map[string]interface{}
		if err := yaml.Unmarshal([]byte(doc), &obj); err != nil || obj == nil {
			continue
		}
		kind, _ := obj["kind"].(string)
		if !workloadKinds[kind] {
			continue
		}
		runs := map[string]bool{}
		for _, ref := range renderedImages([]string{doc}) {
			runs[parseImageRef(ref).path] = true
		}
		changed := false
		for _, a := range anns {
			if !runsRepository(runs, a.repo) {
				continue
			}
			meta, ok := obj["metadata"].(map[string]interface{})
			if !ok {
				meta = map[string]interface{}{}
				obj["metadata"] = meta
			}
			annotations, ok := meta["annotations"].(map[string]interface{})
			if !ok {
				annotations = map[string]interface{}{}
				meta["annotations"] = annotations
			}
			annotations[a.key] = a.value
			changed = true
		}
		if !changed {
			continue
		}
		b, err := yaml.Marshal(obj)
		if err != nil {
			return nil, fmt.Errorf("annotate %s: %w", kind, err)
		}
		out[i] = string(b)
	}
	return out, nil
}

// runsRepository reports whether one of the rendered repository paths is
// repo, allowing a registry proxy prefix on either side (as the rendered
// check does).
func runsRepository(paths map[string]bool, repo string) bool {
	for p := range paths {
		if p == repo || strings.HasSuffix(p, "/"+repo) || strings.HasSuffix(repo, "/"+p) {
			return true
		}
	}
	return false
}
