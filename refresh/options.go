package refresh

import (
	"log/slog"
	"time"

	"golang.org/x/time/rate"
)

// Option configures a Refresher.
type Option func(*Refresher)

// WithInterval sets the polling interval, which is also the minimum time
// between two triggers for one app. Default 2m.
func WithInterval(d time.Duration) Option {
	return func(r *Refresher) {
		if d > 0 {
			r.interval = d
		}
	}
}

// WithMaxBackoff caps the back-off after backend errors. Default 30m.
func WithMaxBackoff(d time.Duration) Option {
	return func(r *Refresher) {
		if d > 0 {
			r.maxBackoff = d
		}
	}
}

// WithStartupListing makes the leader list the Applications using one of
// pluginNames when it starts leading and queue those not tracked yet, at
// most perSecond per second.
func WithStartupListing(l Lister, pluginNames []string, perSecond float64) Option {
	return func(r *Refresher) {
		r.lister = l
		r.pluginNames = pluginNames
		if perSecond > 0 {
			r.startup = rate.NewLimiter(rate.Limit(perSecond), 1)
		}
	}
}

// WithRate sets how many hard refreshes go out per second, with bursts of
// up to burst. Default 20 and 50.
func WithRate(perSecond float64, burst int) Option {
	return func(r *Refresher) {
		if perSecond > 0 && burst > 0 {
			r.limiter = rate.NewLimiter(rate.Limit(perSecond), burst)
		}
	}
}

// WithWorkers sets how many hard refreshes may be in flight at once.
// Default 4.
func WithWorkers(n int) Option {
	return func(r *Refresher) {
		if n > 0 {
			r.workers = n
		}
	}
}

// WithTriggerTimeout bounds one backend call. Default 90s.
func WithTriggerTimeout(d time.Duration) Option {
	return func(r *Refresher) {
		if d > 0 {
			r.timeout = d
		}
	}
}

// WithCheckTimeout bounds the re-resolution of one image in a check, so
// that a hung registry holds back only the apps that use it. Default 30s.
func WithCheckTimeout(d time.Duration) Option {
	return func(r *Refresher) {
		if d > 0 {
			r.checkTimeout = d
		}
	}
}

// WithElector makes the refresher run only while e elects this replica.
// Default AlwaysLeader.
func WithElector(e Elector) Option {
	return func(r *Refresher) {
		if e != nil {
			r.elector = e
		}
	}
}

// WithMetrics sets the collectors (default: unregistered ones).
func WithMetrics(m *Metrics) Option {
	return func(r *Refresher) { r.metrics = m }
}

// WithLogger sets the logger. Default slog.Default().
func WithLogger(l *slog.Logger) Option {
	return func(r *Refresher) { r.log = l }
}

// WithClock replaces time.Now for the guards (tests).
func WithClock(now func() time.Time) Option {
	return func(r *Refresher) { r.now = now }
}

// WithAttemptHook calls f after every attempt, pending ones included
// (tests, and callers that want their own accounting).
func WithAttemptHook(f func(Trigger)) Option {
	return func(r *Refresher) { r.onAttempt = f }
}
