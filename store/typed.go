package store

import (
	"context"
	"encoding/json"
	"strings"
	"time"
)

// Typed stores values of one Go type under one key prefix as versioned
// JSON. A value written with another version (an older or newer sidecar
// during a rolling upgrade) reads as absent, never as an error.
type Typed[T any] struct {
	store   Store
	prefix  string
	version int
}

// NewTyped returns values of type T kept in s under prefix, encoded with
// version.
func NewTyped[T any](s Store, prefix string, version int) Typed[T] {
	return Typed[T]{store: s, prefix: prefix, version: version}
}

// envelope is the stored form of a typed value.
type envelope struct {
	V int             `json:"v"`
	D json.RawMessage `json:"d"`
}

// Encode returns the stored form of v.
func (t Typed[T]) Encode(v T) ([]byte, error) {
	d, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	return json.Marshal(envelope{V: t.version, D: d})
}

// Decode reads a stored value; ok is false for nil input, another version
// or data that does not decode.
func (t Typed[T]) Decode(b []byte) (v T, ok bool) {
	if b == nil {
		return v, false
	}
	var e envelope
	if err := json.Unmarshal(b, &e); err != nil || e.V != t.version {
		return v, false
	}
	if err := json.Unmarshal(e.D, &v); err != nil {
		var zero T
		return zero, false
	}
	return v, true
}

// Key is the store key of key.
func (t Typed[T]) Key(key string) string { return t.prefix + key }

// Get reads one value.
func (t Typed[T]) Get(ctx context.Context, key string) (T, bool, error) {
	vals, err := t.store.Get(ctx, t.Key(key))
	if err != nil {
		var zero T
		return zero, false, err
	}
	v, ok := t.Decode(vals[0])
	return v, ok, nil
}

// GetMany reads several values; the map holds the keys found.
func (t Typed[T]) GetMany(ctx context.Context, keys ...string) (map[string]T, error) {
	out := make(map[string]T, len(keys))
	if len(keys) == 0 {
		return out, nil
	}
	full := make([]string, len(keys))
	for i, k := range keys {
		full[i] = t.Key(k)
	}
	vals, err := t.store.Get(ctx, full...)
	if err != nil {
		return nil, err
	}
	for i, b := range vals {
		if v, ok := t.Decode(b); ok {
			out[keys[i]] = v
		}
	}
	return out, nil
}

// Set writes one value.
func (t Typed[T]) Set(ctx context.Context, key string, v T, ttl time.Duration) error {
	b, err := t.Encode(v)
	if err != nil {
		return err
	}
	return t.store.Set(ctx, t.Key(key), b, ttl)
}

// SetNX writes v only if key is absent and reports whether it did.
func (t Typed[T]) SetNX(ctx context.Context, key string, v T, ttl time.Duration) (bool, error) {
	b, err := t.Encode(v)
	if err != nil {
		return false, err
	}
	return t.store.SetNX(ctx, t.Key(key), b, ttl)
}

// Delete removes keys.
func (t Typed[T]) Delete(ctx context.Context, keys ...string) error {
	if len(keys) == 0 {
		return nil
	}
	full := make([]string, len(keys))
	for i, k := range keys {
		full[i] = t.Key(k)
	}
	return t.store.Delete(ctx, full...)
}

// Keys lists the keys under the prefix that start with sub, without the
// prefix.
func (t Typed[T]) Keys(ctx context.Context, sub string) ([]string, error) {
	keys, err := t.store.Keys(ctx, t.prefix+sub)
	if err != nil {
		return nil, err
	}
	for i, k := range keys {
		keys[i] = strings.TrimPrefix(k, t.prefix)
	}
	return keys, nil
}
