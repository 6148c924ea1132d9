package render

import (
	"fmt"
	"sort"
	"strings"

	"github.com/agnivade/levenshtein"
)

// PathError is a value path the plugin would write that the chart's merged
// values do not have (Holder empty), or that runs into a value of another
// kind (Holder holds a Kind, not a map or list). Writing it anyway would
// render the chart's own default, or a map where the chart expects a
// string, while the logs named the resolved version.
type PathError struct {
	Alias string
	// Option is the image option the path comes from ("helm.image-tag");
	// Defaulted is set when the user did not give it.
	Option    string
	Defaulted bool
	Path      string
	// Holder and Kind describe a path that runs into a value of another
	// kind: Holder holds a Kind ("string", "list", ...) where Want was
	// needed ("map", "list" or "single value").
	Holder string
	Kind   string
	Want   string
	// Suggestions are the closest paths the values do have.
	Suggestions []string
	// Keys are the keys at KeysAt, the deepest part of the path that
	// exists, shown when nothing is close.
	Keys   []string
	KeysAt string
	// Disabled names the disabled sub-chart the path points into.
	Disabled string
}

func (e *PathError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "image %q: %s %s", e.Alias, e.Option, e.Path)
	if e.Defaulted {
		b.WriteString(" (the default)")
	}
	switch {
	case e.Holder != "":
		fmt.Fprintf(&b, ": %s holds a %s, not a %s", e.Holder, e.Kind, e.Want)
	case e.Disabled != "":
		fmt.Fprintf(&b, " is in sub-chart %q, which this render disables, so nothing would use it", e.Disabled)
	default:
		b.WriteString(" is not in the chart's values")
	}
	switch {
	case len(e.Suggestions) > 0:
		fmt.Fprintf(&b, "; did you mean %s?", strings.Join(e.Suggestions, " or "))
	case len(e.Keys) > 0 && e.KeysAt == "":
		fmt.Fprintf(&b, "; the top-level values are %s", strings.Join(e.Keys, ", "))
	case len(e.Keys) > 0:
		fmt.Fprintf(&b, "; %s holds %s", e.KeysAt, strings.Join(e.Keys, ", "))
	}
	if e.Option == "helm.image-shasum" {
		fmt.Fprintf(&b, " (set %s.helm.image-shasum to the value the chart renders as repository@digest, or use %s.pin: tag+digest, which needs only the tag path)", e.Alias, e.Alias)
	}
	if e.Holder == "" && e.Disabled == "" {
		fmt.Fprintf(&b, " (set %s.helm.create-paths: \"true\" to write it anyway)", e.Alias)
	}
	return b.String()
}

// kindOf names the kind of a values node for messages.
func kindOf(v interface{}) string {
	if _, ok := asMap(v); ok {
		return "map"
	}
	switch v.(type) {
	case nil:
		return "null"
	case []interface{}:
		return "list"
	case string:
		return "string"
	case bool:
		return "boolean"
	case float64, int, int64:
		return "number"
	}
	return fmt.Sprintf("%T", v)
}

// checkPath verifies that w can be written into the merged values: every
// step exists (unless create is set) and is of the kind the next step
// needs, and the end is a single value, not a map or list. It returns nil
// and skip=true for a clearing write whose path the values lack.
func checkPath(w write, effective map[string]interface{}, create bool, disabled map[string]bool) (skip bool, err error) {
	fail := func(e *PathError) (bool, error) {
		e.Alias, e.Option, e.Defaulted, e.Path = w.alias, w.option, w.defaulted, w.path.String()
		e.Suggestions = suggestPaths(w.path, effective)
		return false, e
	}
	var cur interface{} = effective
	missing := func(at int) (bool, error) {
		// The parent's values may still hold the sub-chart's key (its
		// condition, say): a path under a disabled sub-chart says so
		// wherever it stops.
		if w.clear {
			return true, nil
		}
		if create {
			return false, nil
		}
		e := &PathError{}
		if disabled[w.path[0].Key] {
			e.Disabled = w.path[0].Key
		} else if m, ok := asMap(cur); ok {
			e.Keys, e.KeysAt = sortedMapKeys(m, 12), w.path[:at].String()
		}
		return fail(e)
	}
	for i, seg := range w.path {
		m, ok := asMap(cur)
		if !ok {
			return fail(&PathError{Holder: w.path[:i].String(), Kind: kindOf(cur), Want: "map"})
		}
		next, exists := m[seg.Key]
		last := i == len(w.path)-1 && len(seg.Indexes) == 0
		// A null leaf (`tag:` or `tag: ~` in values.yaml) is a key the
		// chart declares; a null on the way has nothing to write into.
		if !exists || (next == nil && !last) {
			return missing(i)
		}
		cur = next
		for j, n := range seg.Indexes {
			l, ok := cur.([]interface{})
			holder := append(append(valuePath{}, w.path[:i]...), segment{Key: seg.Key, Indexes: seg.Indexes[:j]})
			if !ok {
				return fail(&PathError{Holder: holder.String(), Kind: kindOf(cur), Want: "list"})
			}
			if n >= len(l) || l[n] == nil {
				return missing(i)
			}
			cur = l[n]
		}
	}
	if k := kindOf(cur); k == "map" || k == "list" {
		return fail(&PathError{Holder: w.path.String(), Kind: k, Want: "single value"})
	}
	return false, nil
}

func sortedMapKeys(m map[string]interface{}, limit int) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	if len(keys) > limit {
		keys = append(keys[:limit], "...")
	}
	return keys
}

// Bounds of the value paths collected for suggestions, so that a huge
// values file cannot make an error expensive.
const (
	maxSuggestPaths = 20000
	maxSuggestDepth = 16
	maxSuggestList  = 32
	maxSuggestions  = 3
)

// suggestPaths returns the closest single-value paths of the values to p.
// Each candidate gets a score: 1 for the same path under a sub-chart's name
// (or a path a few edits away by that many edits), 2 for p with one
// sub-chart prefix too many; the best score wins. When nothing scores,
// the paths ending in the same key and fewest edits away are offered.
func suggestPaths(p valuePath, vals map[string]interface{}) []string {
	want := p.String()
	last := p[len(p)-1].Key
	var all []string
	collectPaths(vals, nil, 0, &all)
	limit := max(2, len(want)/4)
	type scored struct {
		path  string
		score int
		dist  int
	}
	var ranked, sameKey []scored
	for _, c := range all {
		if c == want || strings.HasPrefix(want, c+".") || strings.HasPrefix(want, c+"[") {
			continue // the value the path runs into is no answer
		}
		d := levenshtein.ComputeDistance(c, want)
		switch {
		case strings.HasSuffix(c, "."+want):
			ranked = append(ranked, scored{c, 1, d})
		case d <= limit:
			ranked = append(ranked, scored{c, d, d})
		case strings.HasSuffix(want, "."+c):
			ranked = append(ranked, scored{c, 2, d})
		case c == last || strings.HasSuffix(c, "."+last):
			sameKey = append(sameKey, scored{c, d, d})
		}
	}
	if len(ranked) == 0 {
		ranked = sameKey
	}
	sort.Slice(ranked, func(i, j int) bool {
		a, b := ranked[i], ranked[j]
		if a.score != b.score {
			return a.score < b.score
		}
		if a.dist != b.dist {
			return a.dist < b.dist
		}
		return a.path < b.path
	})
	var out []string
	for _, c := range ranked {
		if len(out) == maxSuggestions || c.score != ranked[0].score {
			break
		}
		out = append(out, c.path)
	}
	return out
}

// collectPaths appends the canonical path of every single value below v.
func collectPaths(v interface{}, at valuePath, depth int, out *[]string) {
	if len(*out) >= maxSuggestPaths || depth > maxSuggestDepth {
		return
	}
	if m, ok := asMap(v); ok {
		for _, k := range sortedMapKeys(m, len(m)) {
			collectPaths(m[k], append(append(valuePath{}, at...), segment{Key: k}), depth+1, out)
		}
		return
	}
	if l, ok := v.([]interface{}); ok && len(at) > 0 {
		for i, e := range l {
			if i == maxSuggestList {
				break
			}
			p := append(valuePath{}, at...)
			lastSeg := p[len(p)-1]
			p[len(p)-1] = segment{Key: lastSeg.Key, Indexes: append(append([]int{}, lastSeg.Indexes...), i)}
			collectPaths(e, p, depth+1, out)
		}
		return
	}
	if len(at) > 0 {
		*out = append(*out, at.String())
	}
}
