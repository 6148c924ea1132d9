package kustomization

import (
	"fmt"
	"strings"

	"sigs.k8s.io/kustomize/api/types"
)

// ParseImage reads an image override in the form of Argo CD's
// spec.source.kustomize.images and of `kustomize edit set image`:
// `[name=]newName[:newTag][@digest]`. Without `name=` the entry keeps the
// name and changes the tag or digest.
func ParseImage(entry string) (types.Image, error) {
	s := strings.TrimSpace(entry)
	var img types.Image
	name, rest, renamed := strings.Cut(s, "=")
	if !renamed {
		rest = name
	}
	ref, digest, hasDigest := strings.Cut(rest, "@")
	if hasDigest {
		if !strings.Contains(digest, ":") || strings.ContainsAny(digest, "@=") {
			return img, fmt.Errorf("image %q: %q is not a digest (algorithm:hex, e.g. sha256:...)", entry, digest)
		}
		img.Digest = digest
	}
	newName, tag := splitTag(ref)
	if newName == "" {
		return img, fmt.Errorf("image %q: no image name; write [name=]newName[:newTag][@digest]", entry)
	}
	img.NewTag = tag
	if renamed {
		name = strings.TrimSpace(name)
		if name == "" {
			return img, fmt.Errorf("image %q: empty name before '='; write [name=]newName[:newTag][@digest]", entry)
		}
		img.Name, img.NewName = name, newName
	} else {
		img.Name = newName
	}
	if strings.ContainsAny(img.Name+img.NewName+img.NewTag, " \t\r\n@=") {
		return img, fmt.Errorf("image %q: names and tags may not hold spaces, '@' or '='", entry)
	}
	return img, nil
}

// splitTag splits ref at the colon of its tag: a colon after the last
// slash (a colon before it belongs to a registry's port).
func splitTag(ref string) (name, tag string) {
	i := strings.LastIndex(ref, ":")
	if i < 0 || strings.LastIndex(ref, "/") > i {
		return ref, ""
	}
	return ref[:i], ref[i+1:]
}

// SetImage sets img in the images of a kustomization as `kustomize edit
// set image` does: an entry with the same name is updated, a new tag or
// digest replacing both the old tag and digest (and a tag suffix); else
// img is appended.
func SetImage(images []types.Image, img types.Image) []types.Image {
	for i := range images {
		if images[i].Name != img.Name {
			continue
		}
		if img.NewName != "" {
			images[i].NewName = img.NewName
		}
		if img.NewTag != "" || img.Digest != "" {
			images[i].NewTag, images[i].Digest, images[i].TagSuffix = img.NewTag, img.Digest, ""
		}
		return images
	}
	return append(images, img)
}
