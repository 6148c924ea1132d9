package render

import "github.com/argocd-image-resolver/argocd-image-resolver/valuepath"

// Value paths are parsed and applied by package valuepath, which holds the
// rules and their tests; the names below keep render's code as it reads.

// segment is one step of a value path.
type segment = valuepath.Segment

// valuePath is a parsed dotted Helm value path (a valuepath.Path).
type valuePath valuepath.Path

// parsePath parses a dotted value path (valuepath.Parse).
func parsePath(s string) (valuePath, error) {
	p, err := valuepath.Parse(s)
	return valuePath(p), err
}

func (p valuePath) String() string { return valuepath.Path(p).String() }

// sibling is valuepath.Path.Sibling.
func (p valuePath) sibling(name string) valuePath {
	return valuePath(valuepath.Path(p).Sibling(name))
}

// lookup is valuepath.Path.Lookup.
func (p valuePath) lookup(vals map[string]interface{}) (interface{}, bool) {
	return valuepath.Path(p).Lookup(vals)
}

// set is valuepath.Path.Set.
func (p valuePath) set(vals, defaults map[string]interface{}, value interface{}) error {
	return valuepath.Path(p).Set(vals, defaults, value)
}

// asMap returns v as a map when it is one (chartutil.Values included).
func asMap(v interface{}) (map[string]interface{}, bool) { return valuepath.AsMap(v) }

// deepCopyMap copies m deeply; nil becomes an empty map.
func deepCopyMap(m map[string]interface{}) map[string]interface{} {
	return valuepath.DeepCopyMap(m)
}
