package refresh

import (
	"context"
	"errors"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/argocd-image-resolver/argocd-image-resolver/resolve"
)

// Resolver is the part of resolve.Resolver the refresher uses; it resolves
// through the cache like a render does.
type Resolver interface {
	Resolve(ctx context.Context, specs []resolve.Spec) ([]resolve.Result, error)
}

// Refresher re-resolves the images of tracked apps and hard-refreshes the
// apps whose resolution changed. Checks (periodic passes, wake-ups and the
// start-up sweep) put the apps to refresh on one queue, which a few
// workers drain at a steady rate. Guards against refresh loops: at most
// one trigger per app per interval, none while a refresh is pending (the
// backend checks), none without a change, exponential back-off after
// backend errors, and apps that are gone are forgotten. With an Elector
// only the leading replica checks and triggers.
type Refresher struct {
	tracker       *Tracker
	resolver      Resolver
	backend       Backend
	lister        Lister
	pluginNames   []string
	elector       Elector
	interval      time.Duration
	maxBackoff    time.Duration
	startup       *rate.Limiter
	limiter       *rate.Limiter
	workers       int
	timeout       time.Duration
	checkTimeout  time.Duration
	checkParallel int
	metrics       *Metrics
	log           *slog.Logger
	now           func() time.Time
	onAttempt     func(Trigger)

	queue *triggerQueue

	wakeMu  sync.Mutex
	pending map[string]bool
	wakeCh  chan struct{}

	ages *comingOfAge
}

// Defaults of the refresher's pace.
const (
	DefaultRate          = 20
	DefaultBurst         = 50
	DefaultWorkers       = 4
	DefaultCheckTimeout  = 30 * time.Second
	defaultCheckParallel = 8
)

// NewRefresher returns a refresher over the tracker's apps.
func NewRefresher(tracker *Tracker, resolver Resolver, backend Backend, opts ...Option) *Refresher {
	r := &Refresher{
		tracker:       tracker,
		resolver:      resolver,
		backend:       backend,
		elector:       AlwaysLeader{},
		interval:      2 * time.Minute,
		maxBackoff:    30 * time.Minute,
		startup:       rate.NewLimiter(rate.Limit(1), 1),
		limiter:       rate.NewLimiter(DefaultRate, DefaultBurst),
		workers:       DefaultWorkers,
		timeout:       90 * time.Second,
		checkTimeout:  DefaultCheckTimeout,
		checkParallel: defaultCheckParallel,
		log:           slog.Default(),
		now:           time.Now,
		pending:       map[string]bool{},
		wakeCh:        make(chan struct{}, 1),
		ages:          newComingOfAge(),
	}
	for _, o := range opts {
		o(r)
	}
	r.queue = newTriggerQueue(r.now)
	if r.metrics == nil {
		r.metrics = NewMetrics(nil)
	}
	r.metrics.observe(r.queue)
	for _, res := range []string{ResultTriggered, ResultPending, ResultNotFound, ResultError} {
		r.metrics.Triggers.WithLabelValues(backend.Name(), res)
	}
	for _, src := range []string{sourcePass, sourceWake, sourceStartup} {
		r.metrics.Queued.WithLabelValues(src)
	}
	return r
}

// Interval is the polling interval.
func (r *Refresher) Interval() time.Duration { return r.interval }

// Wake asks the refresher to check, now, the apps using repository (a
// webhook saw a push), named in any spelling the tracker's canonicaliser
// reads (WithCanonicalRepository). It never blocks. A replica that does not lead
// drops what it kept when it starts to lead: its first pass checks every
// app.
func (r *Refresher) Wake(repository string) {
	r.wakeMu.Lock()
	r.pending[r.tracker.canonical(repository)] = true
	r.wakeMu.Unlock()
	select {
	case r.wakeCh <- struct{}{}:
	default:
	}
}

// Run takes part in the election until ctx ends and, while this replica
// leads, polls every interval, serves wake-ups, runs the start-up sweep
// once and drains the queue.
func (r *Refresher) Run(ctx context.Context) error {
	return r.elector.Run(ctx, r.lead)
}

func (r *Refresher) lead(ctx context.Context) {
	r.metrics.Leader.Set(1)
	defer r.metrics.Leader.Set(0)
	// The first pass below covers the wake-ups received before leading.
	r.takeWakes()
	// What waits was checked by this leadership; the next one checks anew.
	defer r.queue.clear()

	var wg sync.WaitGroup
	defer wg.Wait()
	ready := make(chan struct{})
	if w, ok := r.backend.(Watcher); ok {
		wg.Go(func() {
			defer close(ready)
			if err := w.Watch(ctx); err != nil && ctx.Err() == nil {
				r.log.Warn("no watched cache of Applications; hard refreshes read each Application first", "error", err)
			}
		})
	} else {
		close(ready)
	}
	for range r.workers {
		wg.Go(func() { r.work(ctx) })
	}
	wg.Go(func() { r.serveWakes(ctx) })
	select {
	case <-ctx.Done():
		return
	case <-ready:
	}
	if r.lister != nil {
		wg.Go(func() {
			if err := r.sweep(ctx); err != nil && ctx.Err() == nil {
				r.log.Warn("start-up listing of plugin Applications failed; tracked apps are still refreshed after their next render", "error", err)
			}
		})
	}
	// A new leader checks at once: the old one may have died mid-pass.
	ticker := time.NewTicker(r.interval)
	defer ticker.Stop()
	for {
		r.check(ctx, r.tracker.Keys(), lanePass)
		if !r.waitForPass(ctx, ticker.C) {
			return
		}
	}
}

// work drains the queue: a token first, then the next app, so that an app
// queued during a storm takes the next free slot.
func (r *Refresher) work(ctx context.Context) {
	for {
		if err := r.limiter.Wait(ctx); err != nil {
			return
		}
		w, waited, ok := r.queue.get(ctx)
		if !ok {
			return
		}
		r.process(ctx, w, waited)
		r.queue.done(w.app.Key())
	}
}

// serveWakes checks the apps of each woken repository in its own
// goroutine, apart from the periodic pass, so that neither a long pass nor
// a hung registry holds back a push to another repository.
func (r *Refresher) serveWakes(ctx context.Context) {
	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		for _, repo := range r.takeWakes() {
			wg.Go(func() { r.check(ctx, r.tracker.KeysUsing(map[string]bool{repo: true}), laneWake+repo) })
		}
		select {
		case <-ctx.Done():
			return
		case <-r.wakeCh:
		}
	}
}

func (r *Refresher) takeWakes() []string {
	r.wakeMu.Lock()
	defer r.wakeMu.Unlock()
	repos := make([]string, 0, len(r.pending))
	for repo := range r.pending {
		repos = append(repos, repo)
	}
	r.pending = map[string]bool{}
	sort.Strings(repos)
	return repos
}

// RunOnce checks every tracked app once, fires the hard refreshes due in
// the calling goroutine (at the configured rate), and returns the attempts
// made. Run does the same in the background.
func (r *Refresher) RunOnce(ctx context.Context) []Trigger {
	r.check(ctx, r.tracker.Keys(), lanePass)
	return r.drain(ctx)
}

// ProcessWakes checks the apps using the repositories passed to Wake since
// the last call, fires what is due as RunOnce does, and returns the
// attempts made.
func (r *Refresher) ProcessWakes(ctx context.Context) []Trigger {
	for _, repo := range r.takeWakes() {
		r.check(ctx, r.tracker.KeysUsing(map[string]bool{repo: true}), laneWake+repo)
	}
	return r.drain(ctx)
}

// Startup lists the Applications using the plugin and hard-refreshes those
// not tracked yet, rate-limited, so that a restarted sidecar picks its apps
// back up. It returns the attempts made. Run does this once per
// leadership, through the queue.
func (r *Refresher) Startup(ctx context.Context) ([]Trigger, error) {
	err := r.sweep(ctx)
	return r.drain(ctx), err
}

// sweep queues the untracked plugin Applications at the start-up rate.
func (r *Refresher) sweep(ctx context.Context) error {
	if r.lister == nil {
		return errors.New("no Application lister configured")
	}
	apps, err := r.lister.ListApps(ctx, r.pluginNames)
	if err != nil {
		return err
	}
	r.log.Info("start-up listing found plugin Applications", "count", len(apps), "plugins", r.pluginNames)
	for _, app := range apps {
		if r.tracker.Tracked(app.Key()) {
			continue
		}
		if err := r.startup.Wait(ctx); err != nil {
			return err
		}
		if r.tracker.Tracked(app.Key()) {
			continue // rendered while we waited
		}
		r.enqueue(laneStartup, work{app: app, reason: ReasonStartup})
	}
	return nil
}

// Sources of queued work, the `source` label of the queued metric.
const (
	sourcePass    = "pass"
	sourceWake    = "wake"
	sourceStartup = "startup"
)

func (r *Refresher) enqueue(lane string, w work) {
	if !r.queue.add(lane, w) {
		return
	}
	src := sourcePass
	switch {
	case lane == laneStartup:
		src = sourceStartup
	case strings.HasPrefix(lane, laneWake):
		src = sourceWake
	}
	r.metrics.Queued.WithLabelValues(src).Inc()
}

// drain fires what waits in the queue, in the calling goroutine.
func (r *Refresher) drain(ctx context.Context) []Trigger {
	var out []Trigger
	for ctx.Err() == nil {
		w, waited, ok := r.queue.tryGet()
		if !ok {
			break
		}
		if err := r.limiter.Wait(ctx); err != nil {
			r.queue.done(w.app.Key())
			break
		}
		t, ok := r.process(ctx, w, waited)
		r.queue.done(w.app.Key())
		if ok {
			out = append(out, t)
		}
	}
	return out
}

// due reports whether the guards let an app be triggered now.
func (r *Refresher) due(s snapshot, now time.Time) bool {
	if now.Before(s.retryAt) {
		r.log.Debug("refresh backing off after an error", "app", s.app.Key(), "until", s.retryAt)
		return false
	}
	if !s.lastTriggered.IsZero() && now.Sub(s.lastTriggered) < r.interval {
		r.log.Debug("app refreshed less than one interval ago", "app", s.app.Key(), "interval", r.interval)
		return false
	}
	return true
}

// process fires the hard refresh of one queued app, after checking again
// what may have changed while it waited: a render may have caught up, a
// trigger or a failure may have happened, the app may be gone.
func (r *Refresher) process(ctx context.Context, w work, waited time.Duration) (Trigger, bool) {
	key := w.app.Key()
	if w.reason == ReasonStartup {
		if r.tracker.Tracked(key) {
			return Trigger{}, false
		}
		return r.fire(ctx, w.app, ReasonStartup, nil, waited), true
	}
	s, ok := r.tracker.snapshot(key)
	if !ok || !r.due(s, r.now()) {
		return Trigger{}, false
	}
	changes := Diff(s.specs, s.rendered, w.fresh)
	if len(changes) == 0 {
		return Trigger{}, false
	}
	return r.fire(ctx, s.app, ReasonChanged, changes, waited), true
}

func (r *Refresher) fire(ctx context.Context, app App, reason string, changes []Change, waited time.Duration) Trigger {
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
	attrs := []any{"app", app.Key(), "reason", reason, "backend", t.Backend, "result", t.Result, "queued", waited}
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
