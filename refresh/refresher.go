package refresh

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/time/rate"

	"github.com/argocd-image-resolver/argocd-image-resolver/resolve"
)

// Resolver is the part of resolve.Resolver the refresher uses; it resolves
// through the cache like a render does.
type Resolver interface {
	Resolve(ctx context.Context, specs []resolve.Spec) ([]resolve.Result, error)
}

// Metrics are the refresher's Prometheus collectors.
type Metrics struct {
	Triggers *prometheus.CounterVec
}

// NewMetrics creates the collectors and registers them on reg (nil: not
// registered).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		Triggers: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "argocd_image_resolver_refresh_triggers_total",
			Help: "Hard-refresh attempts by trigger backend and result (triggered, pending, not_found, error).",
		}, []string{"backend", "result"}),
	}
	if reg != nil {
		reg.MustRegister(m.Triggers)
	}
	return m
}

// Refresher re-resolves the images of tracked apps and hard-refreshes the
// apps whose resolution changed. Guards against refresh loops: at most one
// trigger per app per interval, none while a refresh is pending (the
// backend checks), none without a change, exponential back-off after
// backend errors, and apps that are gone are forgotten.
type Refresher struct {
	tracker     *Tracker
	resolver    Resolver
	backend     Backend
	lister      Lister
	pluginNames []string
	interval    time.Duration
	maxBackoff  time.Duration
	startup     *rate.Limiter
	timeout     time.Duration
	metrics     *Metrics
	log         *slog.Logger
	now         func() time.Time
	onAttempt   func(Trigger)

	wakeMu  sync.Mutex
	pending map[string]bool
	wakeCh  chan struct{}
}

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

// WithStartupListing makes Run list the Applications using one of
// pluginNames at start and hard-refresh those not tracked yet, at most
// perSecond per second.
func WithStartupListing(l Lister, pluginNames []string, perSecond float64) Option {
	return func(r *Refresher) {
		r.lister = l
		r.pluginNames = pluginNames
		if perSecond > 0 {
			r.startup = rate.NewLimiter(rate.Limit(perSecond), 1)
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

// NewRefresher returns a refresher over the tracker's apps.
func NewRefresher(tracker *Tracker, resolver Resolver, backend Backend, opts ...Option) *Refresher {
	r := &Refresher{
		tracker:    tracker,
		resolver:   resolver,
		backend:    backend,
		interval:   2 * time.Minute,
		maxBackoff: 30 * time.Minute,
		startup:    rate.NewLimiter(rate.Limit(1), 1),
		timeout:    90 * time.Second,
		log:        slog.Default(),
		now:        time.Now,
		pending:    map[string]bool{},
		wakeCh:     make(chan struct{}, 1),
	}
	for _, o := range opts {
		o(r)
	}
	if r.metrics == nil {
		r.metrics = NewMetrics(nil)
	}
	for _, res := range []string{ResultTriggered, ResultPending, ResultNotFound, ResultError} {
		r.metrics.Triggers.WithLabelValues(backend.Name(), res)
	}
	return r
}

// Interval is the polling interval.
func (r *Refresher) Interval() time.Duration { return r.interval }

// Wake asks Run to check, now, the apps using repository (a webhook saw a
// push). It never blocks.
func (r *Refresher) Wake(repository string) {
	r.wakeMu.Lock()
	r.pending[CanonicalRepository(repository)] = true
	r.wakeMu.Unlock()
	select {
	case r.wakeCh <- struct{}{}:
	default:
	}
}

// Run polls every interval and serves wake-ups until ctx ends. With a
// start-up listing configured, that pass runs first, in the background.
func (r *Refresher) Run(ctx context.Context) error {
	if r.lister != nil {
		go func() {
			if _, err := r.Startup(ctx); err != nil && ctx.Err() == nil {
				r.log.Warn("start-up listing of plugin Applications failed; tracked apps are still refreshed after their next render", "error", err)
			}
		}()
	}
	ticker := time.NewTicker(r.interval)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-ticker.C:
			r.RunOnce(ctx)
		case <-r.wakeCh:
			r.ProcessWakes(ctx)
		}
	}
}

// RunOnce checks every tracked app once and returns the attempts made.
func (r *Refresher) RunOnce(ctx context.Context) []Trigger {
	return r.checkKeys(ctx, r.tracker.Keys())
}

// ProcessWakes checks the apps using the repositories passed to Wake since
// the last call, and returns the attempts made.
func (r *Refresher) ProcessWakes(ctx context.Context) []Trigger {
	r.wakeMu.Lock()
	repos := r.pending
	r.pending = map[string]bool{}
	r.wakeMu.Unlock()
	if len(repos) == 0 {
		return nil
	}
	return r.checkKeys(ctx, r.tracker.KeysUsing(repos))
}

func (r *Refresher) checkKeys(ctx context.Context, keys []string) []Trigger {
	var out []Trigger
	for _, k := range keys {
		if ctx.Err() != nil {
			break
		}
		if t, ok := r.check(ctx, k); ok {
			out = append(out, t)
		}
	}
	return out
}

// check re-resolves one app and triggers when a result changed.
func (r *Refresher) check(ctx context.Context, key string) (Trigger, bool) {
	s, ok := r.tracker.snapshot(key)
	if !ok || len(s.specs) == 0 {
		return Trigger{}, false
	}
	now := r.now()
	if now.Before(s.retryAt) {
		r.log.Debug("refresh backing off after an error", "app", key, "until", s.retryAt)
		return Trigger{}, false
	}
	if !s.lastTriggered.IsZero() && now.Sub(s.lastTriggered) < r.interval {
		r.log.Debug("app refreshed less than one interval ago", "app", key, "interval", r.interval)
		return Trigger{}, false
	}
	// Resolve returns what did resolve beside the joined failures; an image
	// that fails is left out of the comparison, the others still count.
	results, err := r.resolver.Resolve(ctx, s.specs)
	if err != nil {
		r.log.Warn("re-resolving images failed; those images are not compared this round", "app", key, "error", err)
	}
	changes := Diff(s.specs, s.rendered, results)
	if len(changes) == 0 {
		return Trigger{}, false
	}
	return r.fire(ctx, s.app, ReasonChanged, changes), true
}

// Startup lists the Applications using the plugin and hard-refreshes those
// not tracked yet, rate-limited, so that a restarted sidecar picks its apps
// back up. It returns the attempts made.
func (r *Refresher) Startup(ctx context.Context) ([]Trigger, error) {
	if r.lister == nil {
		return nil, errors.New("no Application lister configured")
	}
	apps, err := r.lister.ListApps(ctx, r.pluginNames)
	if err != nil {
		return nil, err
	}
	r.log.Info("start-up listing found plugin Applications", "count", len(apps), "plugins", r.pluginNames)
	var out []Trigger
	for _, app := range apps {
		if r.tracker.Tracked(app.Key()) {
			continue
		}
		if err := r.startup.Wait(ctx); err != nil {
			return out, err
		}
		if r.tracker.Tracked(app.Key()) {
			continue // rendered while we waited
		}
		out = append(out, r.fire(ctx, app, ReasonStartup, nil))
	}
	return out, nil
}

func (r *Refresher) fire(ctx context.Context, app App, reason string, changes []Change) Trigger {
	callCtx, cancel := context.WithTimeout(ctx, r.timeout)
	err := r.backend.Refresh(callCtx, app)
	cancel()
	t := Trigger{App: app, Reason: reason, Changes: changes, Backend: r.backend.Name(), Time: r.now()}
	switch {
	case err == nil:
		t.Result = ResultTriggered
	case errors.Is(err, ErrRefreshPending):
		t.Result = ResultPending
	case errors.Is(err, ErrAppNotFound):
		t.Result = ResultNotFound
	default:
		t.Result = ResultError
		t.Error = err.Error()
	}
	r.tracker.noteTrigger(t, r.backoff)
	r.metrics.Triggers.WithLabelValues(t.Backend, t.Result).Inc()
	attrs := []any{"app", app.Key(), "reason", reason, "backend", t.Backend, "result", t.Result}
	for _, c := range changes {
		attrs = append(attrs, slog.Group("image", "alias", c.Alias, "image", c.Image, "from", c.From, "to", c.To))
	}
	switch t.Result {
	case ResultTriggered:
		r.log.Info("hard refresh triggered", attrs...)
	case ResultPending:
		r.log.Debug("hard refresh skipped: previous refresh still pending", attrs...)
	case ResultNotFound:
		r.log.Info("application gone; no longer tracked", attrs...)
	default:
		r.log.Warn("hard refresh failed; backing off", append(attrs, "error", err)...)
	}
	if r.onAttempt != nil {
		r.onAttempt(t)
	}
	return t
}

// backoff doubles from one interval per consecutive failure, capped.
func (r *Refresher) backoff(failures int) time.Duration {
	d := r.interval
	for i := 1; i < failures && d < r.maxBackoff; i++ {
		d *= 2
	}
	return min(d, r.maxBackoff)
}

// Diff compares fresh results with the rendered ones, alias by alias. The
// tag always counts; the digest counts when the spec writes it into the
// manifests (pin digest or tag+digest, or the digest strategy). Pinned or
// paused images, and aliases missing on either side, never count.
func Diff(specs []resolve.Spec, rendered, fresh []resolve.Result) []Change {
	old := map[string]resolve.Result{}
	for _, r := range rendered {
		old[r.Alias] = r
	}
	now := map[string]resolve.Result{}
	for _, r := range fresh {
		now[r.Alias] = r
	}
	var changes []Change
	for _, s := range specs {
		n, ok := now[s.Alias]
		o, had := old[s.Alias]
		// Pinned when rendered (by option or chart values) or paused: the
		// registry cannot change the output. Missing on either side: nothing
		// to compare.
		if !ok || !had || o.Pinned || n.Pinned || o.Paused || n.Paused || n.Tag == "" {
			continue
		}
		withDigest := s.Options.Pin == resolve.PinDigest || s.Options.Pin == resolve.PinTagDigest || s.Options.Strategy == resolve.StrategyDigest
		if from, to := version(o, withDigest), version(n, withDigest); from != to {
			changes = append(changes, Change{Alias: s.Alias, Image: s.Image, From: from, To: to})
		}
	}
	return changes
}

func version(r resolve.Result, withDigest bool) string {
	if withDigest && r.Digest != "" {
		return r.Tag + "@" + r.Digest
	}
	return r.Tag
}
