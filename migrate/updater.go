package migrate

// argocd-image-updater's settings, in its own words: the suffixes of its
// per-image annotations (`<alias>.<option>`). The ImageUpdater resource's
// fields are read into the same names, so that one conversion serves both.
const (
	updUpdateStrategy     = "update-strategy"
	updAllowTags          = "allow-tags"
	updTagMatch           = "tag-match" // the old spelling of allow-tags
	updIgnoreTags         = "ignore-tags"
	updForceUpdate        = "force-update"
	updPullSecret         = "pull-secret"
	updPlatforms          = "platforms"
	updHelmImageName      = "helm.image-name"
	updHelmImageTag       = "helm.image-tag"
	updHelmImageSpec      = "helm.image-spec"
	updKustomizeImageName = "kustomize.image-name"
)

// Its write-back settings (Application-wide annotations, and the
// ImageUpdater's writeBackConfig).
const (
	updWriteBackMethod = "write-back-method"
	updGitBranch       = "git-branch"
	updGitRepository   = "git-repository"
	updWriteBackTarget = "write-back-target"
	// updPullRequest is the ImageUpdater's gitConfig.pullRequest; it has
	// no annotation.
	updPullRequest = "pull-request"
)

// updImageList is the annotation that lists the images.
const updImageList = "image-list"

// The Helm value paths argocd-image-updater writes when an image names
// none.
const (
	updDefaultHelmName = "image.name"
	updDefaultHelmTag  = "image.tag"
)

// writeBackSettings lists the write-back settings in report order.
func writeBackSettings() []string {
	return []string{updWriteBackMethod, updGitRepository, updGitBranch, updWriteBackTarget, updPullRequest}
}

// perImageSettings lists the per-image settings, longest first, so that
// the suffix of "web.helm.image-tag" is found as helm.image-tag.
func perImageSettings() []string {
	return []string{
		updKustomizeImageName, updHelmImageName, updHelmImageTag, updHelmImageSpec,
		updUpdateStrategy, updForceUpdate, updPullSecret, updIgnoreTags, updAllowTags,
		updPlatforms, updTagMatch,
	}
}

// applicationWideSettings are the settings an annotation without alias
// sets for every image that does not set its own.
func applicationWideSettings() []string {
	return []string{updUpdateStrategy, updAllowTags, updIgnoreTags, updForceUpdate, updPullSecret}
}

// setting is one argocd-image-updater setting and where it was read.
type setting struct {
	value string
	// from names the annotation or the ImageUpdater field, for the report.
	from string
}

// updaterImage is one image argocd-image-updater was told to update.
type updaterImage struct {
	// alias is argocd-image-updater's alias; "" when the image-list entry
	// had none.
	alias string
	// image is `image[:constraint]`.
	image string
	// from names where the image was listed.
	from string
	// settings are keyed by the upd* names.
	settings map[string]setting
}

// updaterConfig is how argocd-image-updater was told to update one
// Application.
type updaterConfig struct {
	images []updaterImage
	// writeBack is keyed by the write-back upd* names.
	writeBack map[string]setting
}
