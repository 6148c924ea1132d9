package refresh

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/redis/go-redis/v9"
)

// RedisLeaseKey is the Redis key of the refresher's lease.
const RedisLeaseKey = "argocd-image-resolver:v1:lease:" + LeaseName

// The holder renews or releases the lease only while it still holds it:
// compare the token, then act, in one step.
var (
	renewScript = redis.NewScript(`if redis.call("GET", KEYS[1]) == ARGV[1] then return redis.call("PEXPIRE", KEYS[1], ARGV[2]) end return 0`)
	// releaseScript is a compare-and-delete.
	releaseScript = redis.NewScript(`if redis.call("GET", KEYS[1]) == ARGV[1] then return redis.call("DEL", KEYS[1]) end return 0`)
)

// RedisLease elects the refresher's leader with a lease in Redis, for the
// Argo CD API backend, which has no Kubernetes API to hold a Lease on: SET
// NX PX takes it, a token-checked PEXPIRE renews it every RetryPeriod, and
// a token-checked DEL releases it on shutdown. The timings are those of
// KubernetesLease.
type RedisLease struct {
	client  redis.UniversalClient
	key     string
	token   string
	timings LeaseTimings
	log     *slog.Logger
	now     func() time.Time
}

// NewRedisLease returns the election on RedisLeaseKey as identity (which
// must differ between replicas; see Identity).
func NewRedisLease(client redis.UniversalClient, identity string, timings LeaseTimings, log *slog.Logger) *RedisLease {
	if log == nil {
		log = slog.Default()
	}
	return &RedisLease{client: client, key: RedisLeaseKey, token: identity, timings: timings, log: log, now: time.Now}
}

// Name implements Elector.
func (l *RedisLease) Name() string { return "redis-lease" }

// Run implements Elector.
func (l *RedisLease) Run(ctx context.Context, lead func(ctx context.Context)) error {
	var lastErr string
	for {
		ok, err := l.acquire(ctx)
		switch {
		case ctx.Err() != nil:
			return nil
		case err != nil:
			// Logged once per distinct error: a Redis outage must not fill
			// the log every RetryPeriod.
			if err.Error() != lastErr {
				l.log.Warn("refresher lease: cannot reach Redis; retrying", "key", l.key, "error", err)
				lastErr = err.Error()
			}
		case ok:
			lastErr = ""
			l.hold(ctx, lead)
			if ctx.Err() != nil {
				return nil
			}
			continue
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(l.timings.RetryPeriod):
		}
	}
}

func (l *RedisLease) acquire(ctx context.Context) (bool, error) {
	cctx, cancel := context.WithTimeout(ctx, l.timings.RetryPeriod)
	defer cancel()
	err := l.client.SetArgs(cctx, l.key, l.token, redis.SetArgs{Mode: "NX", TTL: l.timings.LeaseDuration}).Err()
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, redis.Nil):
		return false, nil // held by another replica
	default:
		return false, fmt.Errorf("take lease %s: %w", l.key, err)
	}
}

// hold runs lead while renewing; lead's context ends when a renewal finds
// the lease taken, when no renewal succeeded for RenewDeadline, or when
// ctx ends. Then the lease is released, if this replica still holds it.
func (l *RedisLease) hold(ctx context.Context, lead func(ctx context.Context)) {
	lctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		l.log.Info("refresher leadership acquired", "key", l.key, "identity", l.token)
		lead(lctx)
	}()
	renewed := l.now()
	tick := time.NewTicker(l.timings.RetryPeriod)
	defer tick.Stop()
	for lctx.Err() == nil {
		select {
		case <-lctx.Done():
		case <-done:
			cancel()
		case <-tick.C:
			held, err := l.renew(lctx)
			switch {
			case err == nil && held:
				renewed = l.now()
			case err == nil:
				l.log.Warn("refresher lease taken by another replica; stepping down", "key", l.key, "identity", l.token)
				cancel()
			case l.now().Sub(renewed) >= l.timings.RenewDeadline:
				l.log.Warn("refresher lease not renewed within the renew deadline; stepping down", "key", l.key, "identity", l.token, "error", err)
				cancel()
			}
		}
	}
	<-done
	cancel()
	l.release()
	l.log.Info("refresher leadership ended", "key", l.key, "identity", l.token)
}

func (l *RedisLease) renew(ctx context.Context) (bool, error) {
	cctx, cancel := context.WithTimeout(ctx, l.timings.RetryPeriod)
	defer cancel()
	n, err := renewScript.Run(cctx, l.client, []string{l.key}, l.token, l.timings.LeaseDuration.Milliseconds()).Int()
	if err != nil {
		return false, fmt.Errorf("renew lease %s: %w", l.key, err)
	}
	return n == 1, nil
}

// release deletes the lease if this replica still holds it, so that
// another takes over at once instead of after LeaseDuration.
func (l *RedisLease) release() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if err := releaseScript.Run(ctx, l.client, []string{l.key}, l.token).Err(); err != nil {
		l.log.Warn("refresher lease not released; another replica takes over when it expires", "key", l.key, "error", err)
	}
}
