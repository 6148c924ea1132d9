// Package valuepath parses and applies dotted Helm value paths such as
// "backend.containers[1].image.tag". It depends on the standard library
// only, so that its fuzz target runs fast; render uses it to write
// resolved images into chart values.
package valuepath

import (
	"fmt"
	"strconv"
	"strings"
)

// MaxIndex bounds list indexes in value paths so that a hostile path
// cannot make a writer allocate a huge list.
const MaxIndex = 4096

// MaxLen bounds the length of a value path, as written and in its
// canonical (escaped) form, so that every path Parse returns parses again
// from its String.
const MaxLen = 1024

// Segment is one step of a value path: a map key followed by zero or more
// list indexes ("containers[1]" is key "containers", indexes [1]).
type Segment struct {
	Key     string
	Indexes []int
}

// Path is a parsed dotted Helm value path such as
// "backend.containers[1].image.tag". Dots, brackets and backslashes inside
// a key are escaped with a backslash, as in Helm's --set.
type Path []Segment

// Parse parses a dotted value path. Keys may not be empty; indexes are
// decimal, not negative, and at most MaxIndex.
func Parse(s string) (Path, error) {
	if s == "" {
		return nil, fmt.Errorf("empty value path")
	}
	if len(s) > MaxLen {
		return nil, fmt.Errorf("value path longer than %d characters", MaxLen)
	}
	var (
		p   Path
		cur Segment
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
		cur = Segment{}
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
			if err != nil || n > MaxIndex {
				return nil, fmt.Errorf("value path %q: index %s is larger than %d", s, digits, MaxIndex)
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
	// Escaping '=' and ',' lengthens the canonical form.
	if n := len(p.String()); n > MaxLen {
		return nil, fmt.Errorf("value path longer than %d characters once escaped (%d)", MaxLen, n)
	}
	return p, nil
}

// String renders the path in the canonical escaped form Parse reads;
// Helm's --set parser reads the same form.
func (p Path) String() string {
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

// Sibling returns the path with its last key replaced by name, or nil when
// the path ends in a list index (a list element has no siblings by name).
func (p Path) Sibling(name string) Path {
	if len(p) == 0 || len(p[len(p)-1].Indexes) > 0 {
		return nil
	}
	out := make(Path, len(p))
	copy(out, p)
	out[len(out)-1] = Segment{Key: name}
	return out
}

// KeyOnly drops the indexes of the last segment.
func (p Path) KeyOnly() Path {
	if len(p) == 0 {
		return p
	}
	out := make(Path, len(p))
	copy(out, p)
	out[len(out)-1] = Segment{Key: out[len(out)-1].Key}
	return out
}
