package store

import (
	"context"
	"errors"
	"time"
)

// Fallback is a Store that writes to a shared primary and to a local
// secondary, reads from the primary, and answers from the secondary while
// the primary fails. The tracker uses it so that a sidecar whose Redis is
// down still refreshes what it rendered itself.
type Fallback struct {
	primary, local Store
}

// NewFallback returns a store over primary (shared) and local (usually a
// Memory).
func NewFallback(primary, local Store) *Fallback {
	return &Fallback{primary: primary, local: local}
}

// Get implements Store.
func (f *Fallback) Get(ctx context.Context, keys ...string) ([][]byte, error) {
	if v, err := f.primary.Get(ctx, keys...); err == nil {
		return v, nil
	}
	return f.local.Get(ctx, keys...)
}

// Set implements Store: the local copy is always written; the primary's
// error is returned.
func (f *Fallback) Set(ctx context.Context, key string, value []byte, ttl time.Duration) error {
	if err := f.local.Set(ctx, key, value, ttl); err != nil {
		return err
	}
	return f.primary.Set(ctx, key, value, ttl)
}

// SetNX implements Store: the primary decides; the local copy follows it,
// and decides alone while the primary fails.
func (f *Fallback) SetNX(ctx context.Context, key string, value []byte, ttl time.Duration) (bool, error) {
	set, err := f.primary.SetNX(ctx, key, value, ttl)
	if err != nil {
		return f.local.SetNX(ctx, key, value, ttl)
	}
	if set {
		err = f.local.Set(ctx, key, value, ttl)
	}
	return set, err
}

// Delete implements Store.
func (f *Fallback) Delete(ctx context.Context, keys ...string) error {
	if err := f.local.Delete(ctx, keys...); err != nil {
		return err
	}
	return f.primary.Delete(ctx, keys...)
}

// Keys implements Store.
func (f *Fallback) Keys(ctx context.Context, prefix string) ([]string, error) {
	if k, err := f.primary.Keys(ctx, prefix); err == nil {
		return k, nil
	}
	return f.local.Keys(ctx, prefix)
}

// Incr implements Store; the local counter counts on its own.
func (f *Fallback) Incr(ctx context.Context, key string, ttl time.Duration) (int64, error) {
	local, lerr := f.local.Incr(ctx, key, ttl)
	if n, err := f.primary.Incr(ctx, key, ttl); err == nil {
		return n, nil
	}
	return local, lerr
}

// Append implements Store.
func (f *Fallback) Append(ctx context.Context, key string, value []byte, max int, ttl time.Duration) error {
	if err := f.local.Append(ctx, key, value, max, ttl); err != nil {
		return err
	}
	return f.primary.Append(ctx, key, value, max, ttl)
}

// Range implements Store.
func (f *Fallback) Range(ctx context.Context, key string) ([][]byte, error) {
	if v, err := f.primary.Range(ctx, key); err == nil {
		return v, nil
	}
	return f.local.Range(ctx, key)
}

// Lock implements Store: the primary's lock, or a local one while the
// primary fails (exclusive within this process only).
func (f *Fallback) Lock(ctx context.Context, key string, ttl time.Duration) (func(), error) {
	unlock, err := f.primary.Lock(ctx, key, ttl)
	if err == nil || errors.Is(err, ErrLocked) {
		return unlock, err
	}
	return f.local.Lock(ctx, key, ttl)
}

// Publish implements Store on the primary: messages are for other
// processes.
func (f *Fallback) Publish(ctx context.Context, channel string, msg []byte) error {
	return f.primary.Publish(ctx, channel, msg)
}

// Subscribe implements Store on the primary.
func (f *Fallback) Subscribe(ctx context.Context, channel string, fn func([]byte)) error {
	return f.primary.Subscribe(ctx, channel, fn)
}

var _ Store = (*Fallback)(nil)
