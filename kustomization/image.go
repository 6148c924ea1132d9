package kustomization

import (
	"fmt"
	"slices"
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
		if digest != Preserve && (!strings.Contains(digest, ":") || strings.ContainsAny(digest, "@=")) {
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

// Preserve, as the new name, tag or digest of an image override, keeps
// what the kustomization's entry of that name has.
const Preserve = "*"

// SetImages sets the overrides in the images of a kustomization as
// `kustomize edit set image` does: an override replaces the entry of the
// same name whole, but for its Preserve fields, which keep the entry's
// values; an override with no entry is added (Preserve fields empty); the
// images come out sorted by name.
func SetImages(images []types.Image, overrides ...types.Image) []types.Image {
	out := slices.Clone(images)
	for _, img := range overrides {
		i := slices.IndexFunc(out, func(have types.Image) bool { return have.Name == img.Name })
		var have types.Image
		if i >= 0 {
			have = out[i]
		}
		if img.NewName == Preserve {
			img.NewName = have.NewName
		}
		if img.NewTag == Preserve {
			img.NewTag = have.NewTag
		}
		if img.Digest == Preserve {
			img.Digest = have.Digest
		}
		if i >= 0 {
			out[i] = img
		} else {
			out = append(out, img)
		}
	}
	slices.SortStableFunc(out, func(a, b types.Image) int { return strings.Compare(a.Name, b.Name) })
	return out
}
