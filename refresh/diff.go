package refresh

import "github.com/argocd-image-resolver/argocd-image-resolver/resolve"

// Diff compares fresh results with the rendered ones, alias by alias. The
// tag always counts; the digest counts when the spec writes it into the
// manifests (pin digest or tag+digest, or the digest strategy). Pinned or
// paused images, and aliases missing on either side, never count.
func Diff(specs []resolve.Spec, rendered, fresh []resolve.Result) []Change {
	old := map[string]resolve.Result{}
	for _, r := range rendered {
		old[r.Alias] = r
	}
	now := map[string]resolve.Result{}
	for _, r := range fresh {
		now[r.Alias] = r
	}
	var changes []Change
	for _, s := range specs {
		n, ok := now[s.Alias]
		o, had := old[s.Alias]
		// Pinned when rendered (by option or chart values) or paused: the
		// registry cannot change the output. Missing on either side: nothing
		// to compare.
		if !ok || !had || o.Pinned || n.Pinned || o.Paused || n.Paused || n.Tag == "" {
			continue
		}
		withDigest := s.Options.Pin == resolve.PinDigest || s.Options.Pin == resolve.PinTagDigest || s.Options.Strategy == resolve.StrategyDigest
		if from, to := version(o, withDigest), version(n, withDigest); from != to {
			changes = append(changes, Change{Alias: s.Alias, Image: s.Image, From: from, To: to})
		}
	}
	return changes
}

func version(r resolve.Result, withDigest bool) string {
	if withDigest && r.Digest != "" {
		return r.Tag + "@" + r.Digest
	}
	return r.Tag
}
