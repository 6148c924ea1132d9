package store

import (
	"container/list"
	"context"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Memory is a Store inside one process: what a single sidecar uses when no
// Redis is configured. Expiry follows the clock given with WithClock, so
// tests that advance a fake clock see entries expire with it (go-cache, used
// elsewhere, always reads the wall clock; set-if-absent, counters and lists
// also need one lock around read and write, which is all this type is).
type Memory struct {
	now func() time.Time

	mu     sync.Mutex
	items  map[string]memItem
	lists  map[string]memList
	writes int
	subs   map[string]map[*memSub]struct{}
	tokens uint64
	limits []*memLimit
}

// memLimit bounds the keys one predicate selects; the oldest write goes
// first.
type memLimit struct {
	match     func(key string) bool
	max       int
	order     *list.List
	positions map[string]*list.Element
}

type memItem struct {
	value   []byte
	expires time.Time // zero: never
}

type memList struct {
	values  [][]byte
	expires time.Time
}

type memSub struct{ fn func([]byte) }

// MemoryOption configures a Memory store.
type MemoryOption func(*Memory)

// WithClock replaces time.Now for expiry (tests).
func WithClock(now func() time.Time) MemoryOption {
	return func(m *Memory) { m.now = now }
}

// WithLimit keeps at most max of the keys match selects: writing one more
// evicts the one written longest ago. It bounds what an in-process cache
// may hold (a shared store bounds itself by TTLs and its own memory
// policy).
func WithLimit(match func(key string) bool, max int) MemoryOption {
	return func(m *Memory) {
		if max > 0 {
			m.limits = append(m.limits, &memLimit{match: match, max: max, order: list.New(), positions: map[string]*list.Element{}})
		}
	}
}

// sweepEvery is how many writes pass between two sweeps of expired keys.
const sweepEvery = 1024

// NewMemory returns an empty in-process store.
func NewMemory(opts ...MemoryOption) *Memory {
	m := &Memory{
		now:   time.Now,
		items: map[string]memItem{},
		lists: map[string]memList{},
		subs:  map[string]map[*memSub]struct{}{},
	}
	for _, o := range opts {
		o(m)
	}
	return m
}

func expiry(now time.Time, ttl time.Duration) time.Time {
	if ttl <= 0 {
		return time.Time{}
	}
	return now.Add(ttl)
}

func live(expires, now time.Time) bool { return expires.IsZero() || now.Before(expires) }

// lookup returns a live item; the caller holds mu.
func (m *Memory) lookup(key string, now time.Time) (memItem, bool) {
	it, ok := m.items[key]
	if !ok {
		return memItem{}, false
	}
	if !live(it.expires, now) {
		m.remove(key)
		return memItem{}, false
	}
	return it, true
}

// remove deletes an item and its place in the limits; the caller holds mu.
func (m *Memory) remove(key string) {
	delete(m.items, key)
	for _, l := range m.limits {
		if el, ok := l.positions[key]; ok {
			l.order.Remove(el)
			delete(l.positions, key)
		}
	}
}

// put writes an item and enforces the limits; the caller holds mu.
func (m *Memory) put(key string, it memItem, now time.Time) {
	m.items[key] = it
	for _, l := range m.limits {
		if !l.match(key) {
			continue
		}
		if el, ok := l.positions[key]; ok {
			l.order.MoveToBack(el)
		} else {
			l.positions[key] = l.order.PushBack(key)
		}
		for l.order.Len() > l.max {
			m.remove(l.order.Front().Value.(string))
		}
	}
	m.wrote(now)
}

// wrote counts a write and sweeps expired keys now and then; the caller
// holds mu.
func (m *Memory) wrote(now time.Time) {
	m.writes++
	if m.writes%sweepEvery != 0 {
		return
	}
	for k, it := range m.items {
		if !live(it.expires, now) {
			m.remove(k)
		}
	}
	for k, l := range m.lists {
		if !live(l.expires, now) {
			delete(m.lists, k)
		}
	}
}

func clone(b []byte) []byte { return append([]byte(nil), b...) }

// Get implements Store.
func (m *Memory) Get(ctx context.Context, keys ...string) ([][]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now()
	out := make([][]byte, len(keys))
	for i, k := range keys {
		if it, ok := m.lookup(k, now); ok {
			out[i] = clone(it.value)
		}
	}
	return out, nil
}

// Set implements Store.
func (m *Memory) Set(ctx context.Context, key string, value []byte, ttl time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now()
	m.put(key, memItem{value: clone(value), expires: expiry(now, ttl)}, now)
	return nil
}

// SetNX implements Store.
func (m *Memory) SetNX(ctx context.Context, key string, value []byte, ttl time.Duration) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now()
	if _, ok := m.lookup(key, now); ok {
		return false, nil
	}
	m.put(key, memItem{value: clone(value), expires: expiry(now, ttl)}, now)
	return true, nil
}

// Delete implements Store.
func (m *Memory) Delete(ctx context.Context, keys ...string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, k := range keys {
		m.remove(k)
		delete(m.lists, k)
	}
	return nil
}

// Keys implements Store.
func (m *Memory) Keys(ctx context.Context, prefix string) ([]string, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now()
	var out []string
	for k, it := range m.items {
		if strings.HasPrefix(k, prefix) && live(it.expires, now) {
			out = append(out, k)
		}
	}
	for k, l := range m.lists {
		if strings.HasPrefix(k, prefix) && live(l.expires, now) {
			out = append(out, k)
		}
	}
	return out, nil
}

// Incr implements Store.
func (m *Memory) Incr(ctx context.Context, key string, ttl time.Duration) (int64, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now()
	var n int64
	if it, ok := m.lookup(key, now); ok {
		n = Counter(it.value)
	}
	n++
	m.put(key, memItem{value: []byte(strconv.FormatInt(n, 10)), expires: expiry(now, ttl)}, now)
	return n, nil
}

// Append implements Store.
func (m *Memory) Append(ctx context.Context, key string, value []byte, max int, ttl time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now()
	l, ok := m.lists[key]
	if !ok || !live(l.expires, now) {
		l = memList{}
	}
	l.values = append(l.values, clone(value))
	if max > 0 && len(l.values) > max {
		l.values = append([][]byte(nil), l.values[len(l.values)-max:]...)
	}
	l.expires = expiry(now, ttl)
	m.lists[key] = l
	m.wrote(now)
	return nil
}

// Range implements Store.
func (m *Memory) Range(ctx context.Context, key string) ([][]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	l, ok := m.lists[key]
	if !ok || !live(l.expires, m.now()) {
		return nil, nil
	}
	out := make([][]byte, len(l.values))
	for i, v := range l.values {
		out[i] = clone(v)
	}
	return out, nil
}

// Lock implements Store.
func (m *Memory) Lock(ctx context.Context, key string, ttl time.Duration) (func(), error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now()
	if _, ok := m.lookup(key, now); ok {
		return nil, ErrLocked
	}
	m.tokens++
	token := []byte(strconv.FormatUint(m.tokens, 10))
	m.put(key, memItem{value: token, expires: expiry(now, ttl)}, now)
	return func() {
		m.mu.Lock()
		defer m.mu.Unlock()
		if it, ok := m.lookup(key, m.now()); ok && string(it.value) == string(token) {
			m.remove(key)
		}
	}, nil
}

// Publish implements Store: subscribers are called in turn, before Publish
// returns.
func (m *Memory) Publish(ctx context.Context, channel string, msg []byte) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	m.mu.Lock()
	subs := make([]*memSub, 0, len(m.subs[channel]))
	for s := range m.subs[channel] {
		subs = append(subs, s)
	}
	m.mu.Unlock()
	for _, s := range subs {
		s.fn(clone(msg))
	}
	return nil
}

// Subscribe implements Store.
func (m *Memory) Subscribe(ctx context.Context, channel string, fn func([]byte)) error {
	s := &memSub{fn: fn}
	m.mu.Lock()
	if m.subs[channel] == nil {
		m.subs[channel] = map[*memSub]struct{}{}
	}
	m.subs[channel][s] = struct{}{}
	m.mu.Unlock()
	fn(nil)
	<-ctx.Done()
	m.mu.Lock()
	delete(m.subs[channel], s)
	m.mu.Unlock()
	return nil
}

var _ Store = (*Memory)(nil)
