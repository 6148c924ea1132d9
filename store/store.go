// Package store holds the state that several sidecar replicas share: cache
// entries, the tracker's records, first-seen times. One small interface has
// two implementations: Memory, for one process (the default), and Redis,
// for replicas that share Argo CD's Redis. Packages that keep state (resolve,
// refresh) take a Store and never know which one runs.
//
// The primitives are deliberately few and general: byte values by key with
// a TTL, set-if-absent, counters (used as generation numbers), capped lists,
// short exclusive locks, and a broadcast channel. Typed adds versioned JSON
// values of one Go type on top.
//
// A Store is a cache, never the only copy of anything that matters, and it
// never holds a credential: callers write keys, summaries and results, not
// secrets.
package store

import (
	"context"
	"errors"
	"strconv"
	"time"
)

// Store is shared state. Every method honours ctx; implementations add their
// own per-call timeout. Keys are plain strings chosen by the caller; an
// implementation may add its own prefix, which never shows in Keys.
type Store interface {
	// Get returns the value of each key, nil for a key that is absent or
	// expired. Counters read as their decimal value (see Counter).
	Get(ctx context.Context, keys ...string) ([][]byte, error)
	// Set writes value under key; ttl zero means no expiry.
	Set(ctx context.Context, key string, value []byte, ttl time.Duration) error
	// SetNX writes value only when key is absent and reports whether it
	// did (first writer wins).
	SetNX(ctx context.Context, key string, value []byte, ttl time.Duration) (bool, error)
	// Delete removes keys; absent keys are not an error.
	Delete(ctx context.Context, keys ...string) error
	// Keys lists the keys that start with prefix, in no order.
	Keys(ctx context.Context, prefix string) ([]string, error)
	// Incr adds one to the counter at key (absent counts as zero), gives
	// it ttl (zero: no expiry) and returns the new value.
	Incr(ctx context.Context, key string, ttl time.Duration) (int64, error)
	// Append adds value at the end of the list at key, keeps its last max
	// elements, and sets the list's TTL (zero: no expiry).
	Append(ctx context.Context, key string, value []byte, max int, ttl time.Duration) error
	// Range returns the list at key, oldest first.
	Range(ctx context.Context, key string) ([][]byte, error)
	// Lock takes a short exclusive lock on key for at most ttl. It returns
	// ErrLocked when someone else holds it. unlock releases it only if it
	// is still ours (it may have expired and been taken since).
	Lock(ctx context.Context, key string, ttl time.Duration) (unlock func(), err error)
	// Publish sends msg to every subscriber of channel, in every process
	// sharing the store, this one included.
	Publish(ctx context.Context, channel string, msg []byte) error
	// Subscribe calls fn for every message on channel until ctx ends, then
	// returns. fn(nil) is called each time the subscription is (re)made:
	// messages published before that may have been missed.
	Subscribe(ctx context.Context, channel string, fn func(msg []byte)) error
}

// ErrLocked is returned by Lock when another holder has the lock.
var ErrLocked = errors.New("store: locked by another holder")

// ErrUnavailable is returned without asking the backend while it is known
// to be failing (the circuit breaker is open); callers fall back to what
// they have in memory.
var ErrUnavailable = errors.New("store: shared store unavailable")

// Counter decodes a counter value read with Get; absent or malformed reads
// as zero.
func Counter(b []byte) int64 {
	n, err := strconv.ParseInt(string(b), 10, 64)
	if err != nil {
		return 0
	}
	return n
}
