package store

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/sony/gobreaker/v2"
)

// Defaults of the Redis store.
const (
	// DefaultPrefix namespaces every key and channel in Argo CD's Redis;
	// the version changes when the key layout does.
	DefaultPrefix = "argocd-image-resolver|v1|"
	// DefaultTimeout bounds one Redis call.
	DefaultTimeout = 100 * time.Millisecond
	// breakerFailures consecutive failures open the circuit breaker, which
	// then refuses calls for breakerOpen before letting one probe through.
	breakerFailures = 3
	breakerOpen     = time.Second
	// scanCount is the COUNT hint of one SCAN step.
	scanCount = 500
)

// Redis is a Store on a Redis server shared by replicas (Argo CD's own).
// Every call has its own timeout; a circuit breaker stops asking a failing
// server and lets one call through now and then, so the store reconnects by
// itself. State changes are logged once each and exported as metrics.
type Redis struct {
	client  redis.UniversalClient
	prefix  string
	timeout time.Duration
	breaker *gobreaker.CircuitBreaker[any]
	metrics *Metrics
	log     *slog.Logger
}

// RedisOption configures a Redis store.
type RedisOption func(*Redis)

// WithPrefix replaces DefaultPrefix.
func WithPrefix(p string) RedisOption { return func(r *Redis) { r.prefix = p } }

// WithTimeout bounds each call (default DefaultTimeout).
func WithTimeout(d time.Duration) RedisOption {
	return func(r *Redis) {
		if d > 0 {
			r.timeout = d
		}
	}
}

// WithLogger sets the logger for state changes (default: discard).
func WithLogger(l *slog.Logger) RedisOption { return func(r *Redis) { r.log = l } }

// WithMetrics sets the collectors (default: unregistered ones).
func WithMetrics(m *Metrics) RedisOption { return func(r *Redis) { r.metrics = m } }

// NewRedis returns a store on client. The client is the caller's to close.
func NewRedis(client redis.UniversalClient, opts ...RedisOption) *Redis {
	r := &Redis{
		client:  client,
		prefix:  DefaultPrefix,
		timeout: DefaultTimeout,
		log:     slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
	for _, o := range opts {
		o(r)
	}
	if r.metrics == nil {
		r.metrics = NewMetrics(nil)
	}
	r.metrics.Up.Set(1)
	r.breaker = gobreaker.NewCircuitBreaker[any](gobreaker.Settings{
		Name:    "redis",
		Timeout: breakerOpen,
		ReadyToTrip: func(c gobreaker.Counts) bool {
			return c.ConsecutiveFailures >= breakerFailures
		},
		IsExcluded:    func(err error) bool { return errors.As(err, new(callerGone)) },
		OnStateChange: r.stateChanged,
	})
	return r
}

// stateChanged logs when Redis goes away and when it is back; the probes
// in between (half-open) are not news.
func (r *Redis) stateChanged(_ string, from, to gobreaker.State) {
	switch {
	case to == gobreaker.StateOpen && from == gobreaker.StateClosed:
		r.metrics.Up.Set(0)
		r.log.Warn("Redis unavailable: renders go on from memory and the registries; retrying in the background",
			"addrs", r.addrs())
	case to == gobreaker.StateClosed:
		r.metrics.Up.Set(1)
		r.log.Info("Redis available again: shared cache and tracker back in use", "addrs", r.addrs())
	}
}

func (r *Redis) addrs() string {
	if c, ok := r.client.(*redis.Client); ok && c.Options().Addr != "FailoverClient" {
		return c.Options().Addr
	}
	return "sentinel"
}

// callerGone wraps the error of a call whose caller gave up first: not the
// server's fault, so the breaker ignores it.
type callerGone struct{ err error }

func (c callerGone) Error() string { return c.err.Error() }
func (c callerGone) Unwrap() error { return c.err }

// Error is a failed Redis call.
type Error struct {
	Op  string
	Err error
}

func (e *Error) Error() string { return "redis " + e.Op + ": " + e.Err.Error() }
func (e *Error) Unwrap() error { return e.Err }

// do runs one call through the breaker with its own timeout.
func (r *Redis) do(ctx context.Context, op string, fn func(ctx context.Context) error) error {
	_, err := r.breaker.Execute(func() (any, error) {
		cctx, cancel := context.WithTimeout(ctx, r.timeout)
		defer cancel()
		err := fn(cctx)
		if err != nil && ctx.Err() != nil {
			return nil, callerGone{err}
		}
		return nil, err
	})
	switch {
	case err == nil:
		return nil
	case errors.Is(err, gobreaker.ErrOpenState), errors.Is(err, gobreaker.ErrTooManyRequests):
		return ErrUnavailable
	case errors.As(err, new(callerGone)):
		return &Error{Op: op, Err: ctx.Err()}
	}
	r.metrics.Errors.WithLabelValues(op).Inc()
	return &Error{Op: op, Err: err}
}

// Ping checks the server once (serve logs the answer at start-up).
func (r *Redis) Ping(ctx context.Context) error {
	return r.do(ctx, "ping", func(ctx context.Context) error { return r.client.Ping(ctx).Err() })
}

// Get implements Store.
func (r *Redis) Get(ctx context.Context, keys ...string) ([][]byte, error) {
	full := make([]string, len(keys))
	for i, k := range keys {
		full[i] = r.prefix + k
	}
	out := make([][]byte, len(keys))
	err := r.do(ctx, "get", func(ctx context.Context) error {
		vals, err := r.client.MGet(ctx, full...).Result()
		if err != nil {
			return err
		}
		for i, v := range vals {
			if s, ok := v.(string); ok {
				out[i] = []byte(s)
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// Set implements Store.
func (r *Redis) Set(ctx context.Context, key string, value []byte, ttl time.Duration) error {
	return r.do(ctx, "set", func(ctx context.Context) error {
		return r.client.Set(ctx, r.prefix+key, value, ttl).Err()
	})
}

// SetNX implements Store.
func (r *Redis) SetNX(ctx context.Context, key string, value []byte, ttl time.Duration) (bool, error) {
	var set bool
	err := r.do(ctx, "setnx", func(ctx context.Context) error {
		err := r.client.SetArgs(ctx, r.prefix+key, value, redis.SetArgs{Mode: "NX", TTL: ttl}).Err()
		switch {
		case errors.Is(err, redis.Nil):
			return nil
		case err != nil:
			return err
		}
		set = true
		return nil
	})
	return set, err
}

// Delete implements Store.
func (r *Redis) Delete(ctx context.Context, keys ...string) error {
	if len(keys) == 0 {
		return nil
	}
	full := make([]string, len(keys))
	for i, k := range keys {
		full[i] = r.prefix + k
	}
	return r.do(ctx, "delete", func(ctx context.Context) error { return r.client.Del(ctx, full...).Err() })
}

// globEscaper quotes the characters SCAN MATCH treats as a pattern.
var globEscaper = strings.NewReplacer(`\`, `\\`, `*`, `\*`, `?`, `\?`, `[`, `\[`, `]`, `\]`)

// Keys implements Store with SCAN; each step is one call with its own
// timeout.
func (r *Redis) Keys(ctx context.Context, prefix string) ([]string, error) {
	match := globEscaper.Replace(r.prefix+prefix) + "*"
	var out []string
	var cursor uint64
	for {
		var keys []string
		err := r.do(ctx, "scan", func(ctx context.Context) error {
			var err error
			keys, cursor, err = r.client.Scan(ctx, cursor, match, scanCount).Result()
			return err
		})
		if err != nil {
			return nil, err
		}
		for _, k := range keys {
			out = append(out, strings.TrimPrefix(k, r.prefix))
		}
		if cursor == 0 {
			return out, nil
		}
	}
}

// Incr implements Store in one MULTI/EXEC.
func (r *Redis) Incr(ctx context.Context, key string, ttl time.Duration) (int64, error) {
	k := r.prefix + key
	var incr *redis.IntCmd
	err := r.do(ctx, "incr", func(ctx context.Context) error {
		_, err := r.client.TxPipelined(ctx, func(p redis.Pipeliner) error {
			incr = p.Incr(ctx, k)
			if ttl > 0 {
				p.PExpire(ctx, k, ttl)
			} else {
				p.Persist(ctx, k)
			}
			return nil
		})
		return err
	})
	if err != nil {
		return 0, err
	}
	return incr.Val(), nil
}

// Append implements Store in one MULTI/EXEC.
func (r *Redis) Append(ctx context.Context, key string, value []byte, max int, ttl time.Duration) error {
	k := r.prefix + key
	return r.do(ctx, "append", func(ctx context.Context) error {
		_, err := r.client.TxPipelined(ctx, func(p redis.Pipeliner) error {
			p.RPush(ctx, k, value)
			if max > 0 {
				p.LTrim(ctx, k, int64(-max), -1)
			}
			if ttl > 0 {
				p.PExpire(ctx, k, ttl)
			} else {
				p.Persist(ctx, k)
			}
			return nil
		})
		return err
	})
}

// Range implements Store.
func (r *Redis) Range(ctx context.Context, key string) ([][]byte, error) {
	var out [][]byte
	err := r.do(ctx, "range", func(ctx context.Context) error {
		vals, err := r.client.LRange(ctx, r.prefix+key, 0, -1).Result()
		if err != nil {
			return err
		}
		out = make([][]byte, len(vals))
		for i, v := range vals {
			out[i] = []byte(v)
		}
		return nil
	})
	return out, err
}

// unlockScript deletes the lock only while it still holds our token.
var unlockScript = redis.NewScript(`if redis.call("get", KEYS[1]) == ARGV[1] then return redis.call("del", KEYS[1]) end return 0`)

// Lock implements Store with SET NX PX and a random token.
func (r *Redis) Lock(ctx context.Context, key string, ttl time.Duration) (func(), error) {
	var raw [16]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return nil, fmt.Errorf("lock token: %w", err)
	}
	token := hex.EncodeToString(raw[:])
	set, err := r.SetNX(ctx, key, []byte(token), ttl)
	if err != nil {
		return nil, err
	}
	if !set {
		return nil, ErrLocked
	}
	k := r.prefix + key
	return func() {
		// Unlocking must happen even when the caller's context is over;
		// a lock left behind only delays others until it expires.
		_ = r.do(context.Background(), "unlock", func(ctx context.Context) error {
			return unlockScript.Run(ctx, r.client, []string{k}, token).Err()
		})
	}, nil
}

// Publish implements Store.
func (r *Redis) Publish(ctx context.Context, channel string, msg []byte) error {
	return r.do(ctx, "publish", func(ctx context.Context) error {
		return r.client.Publish(ctx, r.prefix+channel, msg).Err()
	})
}

// Subscribe implements Store. go-redis keeps the subscription alive:
// it pings, reconnects and subscribes again by itself; every
// (re)subscription is passed on as fn(nil).
func (r *Redis) Subscribe(ctx context.Context, channel string, fn func([]byte)) error {
	ps := r.client.Subscribe(ctx, r.prefix+channel)
	defer ps.Close()
	ch := ps.ChannelWithSubscriptions(redis.WithChannelHealthCheckInterval(time.Second))
	for {
		select {
		case <-ctx.Done():
			return nil
		case m, ok := <-ch:
			if !ok {
				return nil
			}
			switch m := m.(type) {
			case *redis.Subscription:
				if m.Kind == "subscribe" {
					fn(nil)
				}
			case *redis.Message:
				fn([]byte(m.Payload))
			}
		}
	}
}

var _ Store = (*Redis)(nil)
