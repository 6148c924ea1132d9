package resolve

import (
	"context"
	"encoding/json"
	"errors"
	"strconv"
	"sync/atomic"
	"time"
)

// Entry describes one cache entry for inspection (the debug endpoint and
// the `cache` command). It never holds a credential.
type Entry struct {
	Key        string    `json:"key"`
	Layer      string    `json:"layer"`
	Repository string    `json:"repository"`
	Summary    string    `json:"summary"`
	CachedAt   time.Time `json:"cachedAt"`
	// ExpiresAt is when the entry stops being fresh; zero for entries that
	// never expire (immutable metadata).
	ExpiresAt time.Time `json:"expiresAt,omitzero"`
	Hits      int64     `json:"hits"`
	// Stale is true once ExpiresAt has passed or the repository was
	// invalidated: the entry is only used when the registry fails.
	Stale bool `json:"stale"`
	// Negative marks a cached error: the registry is not asked again for
	// this key until ExpiresAt.
	Negative  bool   `json:"negative,omitempty"`
	LastError string `json:"lastError,omitempty"`
}

// generation is the pair of invalidation counters an entry was written
// under: its repository's and the global one. An entry of an older
// generation is expired (but kept as a stale copy).
type generation struct {
	Repo int64 `json:"repo"`
	All  int64 `json:"all"`
}

func (g generation) String() string {
	return strconv.FormatInt(g.Repo, 10) + "." + strconv.FormatInt(g.All, 10)
}

// entry is one cached value as the in-process front layer keeps it.
type entry struct {
	layer      string
	key        string
	repository string
	value      any
	summary    string
	cachedAt   time.Time
	freshUntil time.Time // zero: never expires
	staleUntil time.Time // zero: never dropped
	gen        generation
	// synced is when (UnixNano) this copy last agreed with the store;
	// after memory-ttl the store is asked again.
	synced    atomic.Int64
	hits      atomic.Int64
	lastError atomic.Pointer[string]
}

func (e *entry) fresh(now time.Time) bool {
	return e.freshUntil.IsZero() || now.Before(e.freshUntil)
}

func (e *entry) usable(now time.Time) bool {
	return e.staleUntil.IsZero() || now.Before(e.staleUntil)
}

// inStep reports whether the copy agreed with the store less than ttl ago.
func (e *entry) inStep(now time.Time, ttl time.Duration) bool {
	return now.Sub(time.Unix(0, e.synced.Load())) < ttl
}

func (e *entry) markSynced(now time.Time) { e.synced.Store(now.UnixNano()) }

// storedEntry is an entry as the store keeps it (versioned JSON).
type storedEntry struct {
	Layer      string          `json:"layer"`
	Key        string          `json:"key"`
	Repository string          `json:"repository"`
	Value      json.RawMessage `json:"value"`
	Summary    string          `json:"summary"`
	CachedAt   time.Time       `json:"cachedAt"`
	FreshUntil time.Time       `json:"freshUntil,omitzero"`
	StaleUntil time.Time       `json:"staleUntil,omitzero"`
	Gen        generation      `json:"gen"`
}

// negative is a cached failure.
type negative struct {
	layer      string
	key        string
	repository string
	err        error
	cachedAt   time.Time
	until      time.Time
	gen        generation
}

// storedNegative is a negative as the store keeps it: the failure as data,
// scrubbed of secrets, so that another replica can rebuild the error.
type storedNegative struct {
	Layer      string     `json:"layer"`
	Key        string     `json:"key"`
	Repository string     `json:"repository"`
	Op         string     `json:"op,omitempty"`
	Registry   string     `json:"registry,omitempty"`
	Cause      string     `json:"cause"`
	Status     int        `json:"status,omitempty"`
	Timeout    bool       `json:"timeout,omitempty"`
	CachedAt   time.Time  `json:"cachedAt"`
	Until      time.Time  `json:"until"`
	Gen        generation `json:"gen"`
}

// describe records err as data, scrubbed of secrets.
func (sn *storedNegative) describe(err error, scrub func(string) string) {
	sn.Timeout = errors.Is(err, context.DeadlineExceeded)
	var re *registryError
	if !errors.As(err, &re) {
		sn.Cause = scrub(err.Error())
		return
	}
	sn.Op, sn.Registry = re.Op, re.Registry
	// In our own words, as the error shows it: never the answer's text.
	sn.Cause = scrub(describeFailure(re.Err, re.Registry))
	sn.Status = statusCode(re.Err)
}

// err rebuilds the failure another replica (or this one) recorded.
func (sn storedNegative) err() error {
	cause := &recordedError{msg: sn.Cause, status: sn.Status, timeout: sn.Timeout}
	if sn.Op == "" {
		return cause
	}
	return &registryError{Op: sn.Op, Registry: sn.Registry, Err: cause}
}

// expiredAt is a copy of e that stopped being fresh at now (and was never
// in step with the store since).
func (e *entry) expiredAt(now time.Time) *entry {
	out := &entry{layer: e.layer, key: e.key, repository: e.repository, value: e.value, summary: e.summary,
		cachedAt: e.cachedAt, freshUntil: now, staleUntil: e.staleUntil, gen: e.gen}
	out.hits.Store(e.hits.Load())
	if msg := e.lastError.Load(); msg != nil {
		out.lastError.Store(msg)
	}
	return out
}

func (e *entry) describe(now time.Time) Entry {
	return Entry{
		Key:        e.key,
		Layer:      e.layer,
		Repository: e.repository,
		Summary:    e.summary,
		CachedAt:   e.cachedAt,
		ExpiresAt:  e.freshUntil,
		Hits:       e.hits.Load(),
		Stale:      !e.fresh(now),
	}
}

func negativeEntry(layer, key, repository string, cachedAt, until time.Time, msg string) Entry {
	return Entry{
		Key:        key,
		Layer:      layer,
		Repository: repository,
		Summary:    "registry error cached; not asked again before expiresAt",
		CachedAt:   cachedAt,
		ExpiresAt:  until,
		Negative:   true,
		LastError:  msg,
	}
}
