package cmp

import (
	"encoding/json"

	"github.com/argocd-image-resolver/argocd-image-resolver/resolve"
)

// provenance is what the annotation "argocd-image-resolver/image.<alias>"
// says about one alias: the image, its constraint, the version written and
// the rule and gates that chose it. Only values that stay the same while
// the resolution does: no times, no cache source, no held-back candidates
// (their reasons count the hours), so Argo CD sees no change between two
// renders of one resolution.
type provenance struct {
	Image      string   `json:"image"`
	Constraint string   `json:"constraint,omitempty"`
	Tag        string   `json:"tag,omitempty"`
	Digest     string   `json:"digest,omitempty"`
	Rule       string   `json:"rule,omitempty"`
	AcceptedBy []string `json:"acceptedBy,omitempty"`
	Followed   string   `json:"followed,omitempty"`
}

// annotationFor is the annotation value of one alias's result.
func annotationFor(s resolve.Spec, r resolve.Result) string {
	p := provenance{
		Image: s.Image, Constraint: s.Constraint, Tag: r.Tag, Digest: r.Digest,
		Rule: r.Rule, AcceptedBy: r.Gates,
	}
	if r.Followed != nil {
		p.Followed = r.Followed.App
	}
	b, _ := json.Marshal(p)
	return string(b)
}
