package valuepath

import (
	"fmt"
	"reflect"
)

// Lookup returns the value at p in vals and whether it exists.
func (p Path) Lookup(vals map[string]any) (any, bool) {
	var cur any = vals
	for _, seg := range p {
		m, ok := AsMap(cur)
		if !ok {
			return nil, false
		}
		cur, ok = m[seg.Key]
		if !ok {
			return nil, false
		}
		for _, n := range seg.Indexes {
			l, ok := cur.([]any)
			if !ok || n >= len(l) {
				return nil, false
			}
			cur = l[n]
		}
	}
	return cur, true
}

// Set writes value at p into vals, creating maps and lists on the way. A
// list that vals does not hold yet is seeded with a deep copy of the list
// at the same place in defaults (the chart's coalesced values), so that
// writing "containers[1].image.tag" keeps containers[0] instead of
// replacing the whole list the way Helm's --set does.
func (p Path) Set(vals, defaults map[string]any, value any) error {
	var steps []step
	for i, seg := range p {
		steps = append(steps, step{key: seg.Key, index: -1, seg: i})
		for _, n := range seg.Indexes {
			steps = append(steps, step{index: n, seg: i})
		}
	}
	_, err := p.assign(vals, defaults, steps, value)
	return err
}

// step is one key or one list index of a flattened value path.
type step struct {
	key   string
	index int // -1 for a map key
	seg   int // the path segment this step belongs to, for errors
}

// assign writes value at steps below node and returns the updated node;
// def is the node at the same place in the defaults, or nil.
func (p Path) assign(node, def any, steps []step, value any) (any, error) {
	if len(steps) == 0 {
		return value, nil
	}
	st := steps[0]
	if st.index < 0 {
		m, ok := AsMap(node)
		switch {
		case node == nil:
			m = map[string]any{}
		case !ok:
			return nil, fmt.Errorf("value path %s: %s holds a %T, not a map", p, p[:st.seg], node)
		}
		var childDef any
		if dm, ok := AsMap(def); ok {
			childDef = dm[st.key]
		}
		child, err := p.assign(m[st.key], childDef, steps[1:], value)
		if err != nil {
			return nil, err
		}
		m[st.key] = child
		return m, nil
	}
	var l []any
	switch n := node.(type) {
	case nil:
		if dl, ok := def.([]any); ok {
			l = deepCopyList(dl)
		}
	case []any:
		l = n
	default:
		return nil, fmt.Errorf("value path %s: %s holds a %T, not a list", p, p[:st.seg+1].KeyOnly(), node)
	}
	if st.index >= len(l) {
		grown := make([]any, st.index+1)
		copy(grown, l)
		l = grown
	}
	var childDef any
	if dl, ok := def.([]any); ok && st.index < len(dl) {
		childDef = dl[st.index]
	}
	child, err := p.assign(l[st.index], childDef, steps[1:], value)
	if err != nil {
		return nil, err
	}
	l[st.index] = child
	return l, nil
}

// AsMap returns v as a map when it is one: a map[string]any, or a named
// type of it such as Helm's chartutil.Values (the same map, not a copy).
func AsMap(v any) (map[string]any, bool) {
	if m, ok := v.(map[string]any); ok {
		return m, true
	}
	if v == nil {
		return nil, false
	}
	mapType := reflect.TypeFor[map[string]any]()
	rv := reflect.ValueOf(v)
	if rv.Kind() != reflect.Map || !rv.Type().ConvertibleTo(mapType) {
		return nil, false
	}
	return rv.Convert(mapType).Interface().(map[string]any), true
}

// DeepCopy copies the maps and lists of v; named map types come back as
// map[string]any.
func DeepCopy(v any) any {
	if m, ok := AsMap(v); ok {
		out := make(map[string]any, len(m))
		for k, e := range m {
			out[k] = DeepCopy(e)
		}
		return out
	}
	switch t := v.(type) {
	case []any:
		return deepCopyList(t)
	default:
		return v
	}
}

func deepCopyList(l []any) []any {
	out := make([]any, len(l))
	for i, e := range l {
		out[i] = DeepCopy(e)
	}
	return out
}

// DeepCopyMap copies m deeply; nil becomes an empty map.
func DeepCopyMap(m map[string]any) map[string]any {
	if m == nil {
		return map[string]any{}
	}
	return DeepCopy(m).(map[string]any)
}
