package render

import (
	"fmt"
	"strconv"
	"strings"

	"helm.sh/helm/v3/pkg/chartutil"
)

// maxPathIndex bounds list indexes in value paths so that a hostile path
// cannot make render allocate a huge list.
const maxPathIndex = 4096

// maxPathLen bounds the length of a value path.
const maxPathLen = 1024

// segment is one step of a value path: a map key followed by zero or more
// list indexes ("containers[1]" is key "containers", indexes [1]).
type segment struct {
	Key     string
	Indexes []int
}

// valuePath is a parsed dotted Helm value path such as
// "backend.containers[1].image.tag". Dots, brackets and backslashes inside a
// key are escaped with a backslash, as in Helm's --set.
type valuePath []segment

// parsePath parses a dotted value path. Keys may not be empty; indexes are
// decimal, not negative, and at most maxPathIndex.
func parsePath(s string) (valuePath, error) {
	if s == "" {
		return nil, fmt.Errorf("empty value path")
	}
	if len(s) > maxPathLen {
		return nil, fmt.Errorf("value path longer than %d characters", maxPathLen)
	}
	var (
		p   valuePath
		cur segment
		key strings.Builder
		// afterIndex: the current segment already has an index, so only
		// '.', '[' or the end may follow.
		afterIndex bool
	)
	finish := func(pos int) error {
		if !afterIndex {
			if key.Len() == 0 {
				return fmt.Errorf("value path %q: empty key at offset %d", s, pos)
			}
			cur.Key = key.String()
		}
		p = append(p, cur)
		cur = segment{}
		key.Reset()
		afterIndex = false
		return nil
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '\\':
			if afterIndex {
				return nil, fmt.Errorf("value path %q: unexpected %q after index at offset %d", s, c, i)
			}
			if i+1 >= len(s) {
				return nil, fmt.Errorf("value path %q: trailing backslash", s)
			}
			i++
			key.WriteByte(s[i])
		case c == '.':
			if err := finish(i); err != nil {
				return nil, err
			}
			if i == len(s)-1 {
				return nil, fmt.Errorf("value path %q: ends with '.'", s)
			}
		case c == '[':
			if !afterIndex {
				if key.Len() == 0 {
					return nil, fmt.Errorf("value path %q: index without a key at offset %d", s, i)
				}
				cur.Key = key.String()
			}
			end := strings.IndexByte(s[i:], ']')
			if end < 0 {
				return nil, fmt.Errorf("value path %q: unclosed '[' at offset %d", s, i)
			}
			digits := s[i+1 : i+end]
			if digits == "" || strings.TrimLeft(digits, "0123456789") != "" {
				return nil, fmt.Errorf("value path %q: index %q is not a non-negative integer", s, digits)
			}
			n, err := strconv.Atoi(digits)
			if err != nil || n > maxPathIndex {
				return nil, fmt.Errorf("value path %q: index %s is larger than %d", s, digits, maxPathIndex)
			}
			cur.Indexes = append(cur.Indexes, n)
			afterIndex = true
			i += end
		case c == ']':
			return nil, fmt.Errorf("value path %q: unexpected ']' at offset %d", s, i)
		default:
			if afterIndex {
				return nil, fmt.Errorf("value path %q: expected '.' or '[' after index at offset %d", s, i)
			}
			key.WriteByte(c)
		}
	}
	if err := finish(len(s)); err != nil {
		return nil, err
	}
	return p, nil
}

// String renders the path in the canonical escaped form parsePath reads;
// Helm's --set parser reads the same form.
func (p valuePath) String() string {
	var b strings.Builder
	for i, seg := range p {
		if i > 0 {
			b.WriteByte('.')
		}
		for j := 0; j < len(seg.Key); j++ {
			switch c := seg.Key[j]; c {
			case '.', '[', ']', '\\', '=', ',':
				b.WriteByte('\\')
				b.WriteByte(c)
			default:
				b.WriteByte(c)
			}
		}
		for _, n := range seg.Indexes {
			b.WriteByte('[')
			b.WriteString(strconv.Itoa(n))
			b.WriteByte(']')
		}
	}
	return b.String()
}

// sibling returns the path with its last key replaced by name, or nil when
// the path ends in a list index (a list element has no siblings by name).
func (p valuePath) sibling(name string) valuePath {
	if len(p) == 0 || len(p[len(p)-1].Indexes) > 0 {
		return nil
	}
	out := make(valuePath, len(p))
	copy(out, p)
	out[len(out)-1] = segment{Key: name}
	return out
}

// lookup returns the value at p in vals and whether it exists.
func (p valuePath) lookup(vals map[string]interface{}) (interface{}, bool) {
	var cur interface{} = vals
	for _, seg := range p {
		m, ok := asMap(cur)
		if !ok {
			return nil, false
		}
		cur, ok = m[seg.Key]
		if !ok {
			return nil, false
		}
		for _, n := range seg.Indexes {
			l, ok := cur.([]interface{})
			if !ok || n >= len(l) {
				return nil, false
			}
			cur = l[n]
		}
	}
	return cur, true
}

// set writes value at p into vals, creating maps and lists on the way. A
// list that vals does not hold yet is seeded with a deep copy of the list at
// the same place in defaults (the chart's coalesced values), so that writing
// "containers[1].image.tag" keeps containers[0] instead of replacing the
// whole list the way Helm's --set does.
func (p valuePath) set(vals, defaults map[string]interface{}, value interface{}) error {
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

// assign writes value at steps below node and returns the updated node; def
// is the node at the same place in the defaults, or nil.
func (p valuePath) assign(node, def interface{}, steps []step, value interface{}) (interface{}, error) {
	if len(steps) == 0 {
		return value, nil
	}
	st := steps[0]
	if st.index < 0 {
		m, ok := asMap(node)
		switch {
		case node == nil:
			m = map[string]interface{}{}
		case !ok:
			return nil, fmt.Errorf("value path %s: %s holds a %T, not a map", p, p[:st.seg], node)
		}
		var childDef interface{}
		if dm, ok := asMap(def); ok {
			childDef = dm[st.key]
		}
		child, err := p.assign(m[st.key], childDef, steps[1:], value)
		if err != nil {
			return nil, err
		}
		m[st.key] = child
		return m, nil
	}
	var l []interface{}
	switch n := node.(type) {
	case nil:
		if dl, ok := def.([]interface{}); ok {
			l = deepCopyList(dl)
		}
	case []interface{}:
		l = n
	default:
		return nil, fmt.Errorf("value path %s: %s holds a %T, not a list", p, p[:st.seg+1].keyOnly(), node)
	}
	if st.index >= len(l) {
		grown := make([]interface{}, st.index+1)
		copy(grown, l)
		l = grown
	}
	var childDef interface{}
	if dl, ok := def.([]interface{}); ok && st.index < len(dl) {
		childDef = dl[st.index]
	}
	child, err := p.assign(l[st.index], childDef, steps[1:], value)
	if err != nil {
		return nil, err
	}
	l[st.index] = child
	return l, nil
}

// keyOnly drops the indexes of the last segment.
func (p valuePath) keyOnly() valuePath {
	if len(p) == 0 {
		return p
	}
	out := make(valuePath, len(p))
	copy(out, p)
	out[len(out)-1] = segment{Key: out[len(out)-1].Key}
	return out
}

func asMap(v interface{}) (map[string]interface{}, bool) {
	switch m := v.(type) {
	case map[string]interface{}:
		return m, true
	case chartutil.Values:
		return m, true
	default:
		return nil, false
	}
}

func deepCopy(v interface{}) interface{} {
	if m, ok := asMap(v); ok {
		out := make(map[string]interface{}, len(m))
		for k, e := range m {
			out[k] = deepCopy(e)
		}
		return out
	}
	switch t := v.(type) {
	case []interface{}:
		return deepCopyList(t)
	default:
		return v
	}
}

func deepCopyList(l []interface{}) []interface{} {
	out := make([]interface{}, len(l))
	for i, e := range l {
		out[i] = deepCopy(e)
	}
	return out
}

func deepCopyMap(m map[string]interface{}) map[string]interface{} {
	if m == nil {
		return map[string]interface{}{}
	}
	return deepCopy(m).(map[string]interface{})
}
