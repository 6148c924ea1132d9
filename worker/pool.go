package worker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os/exec"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/argocd-image-resolver/argocd-image-resolver/cmp"
	"github.com/argocd-image-resolver/argocd-image-resolver/render"
)

// Pool is a set of render workers started ahead. It implements
// cmp.Renderer, each Prepare leasing one worker until the Prepared is
// closed, and cmp.Kustomizer, each build leasing one for its duration.
type Pool struct {
	newCmd    func() *exec.Cmd
	size      int
	memLimit  int64
	maxOutput int64
	logger    *slog.Logger
	metrics   *Metrics

	mu sync.Mutex
	// idle workers, and a channel closed (and replaced) each time one
	// becomes idle.
	idle     []*process
	idleWake chan struct{}
	closed   bool
	startErr error // the last failure to start a worker
	starting sync.WaitGroup
}

// Option configures a Pool.
type Option func(*Pool) error

// WithSize sets how many workers run (default 4).
func WithSize(n int) Option {
	return func(p *Pool) error {
		if n <= 0 {
			return fmt.Errorf("render workers must be positive, got %d", n)
		}
		p.size = n
		return nil
	}
}

// WithMemoryLimit caps the resident memory of a rendering worker, in
// bytes: a worker over it is killed and its render fails. The workers run
// with GOMEMLIMIT at nine tenths of it, so that their garbage collector
// works harder before that. Zero means no limit.
func WithMemoryLimit(n int64) Option {
	return func(p *Pool) error {
		if n < 0 {
			return fmt.Errorf("render memory limit must not be negative, got %d", n)
		}
		p.memLimit = n
		return nil
	}
}

// WithMaxOutput caps the manifests of one render, in bytes (default
// DefaultMaxOutput). The workers enforce it; the pool refuses answers
// that could not hold a render within it.
func WithMaxOutput(n int64) Option {
	return func(p *Pool) error {
		if n <= 0 {
			return fmt.Errorf("render output cap must be positive, got %d", n)
		}
		p.maxOutput = n
		return nil
	}
}

// WithLogger sets the logger (default slog.Default()).
func WithLogger(l *slog.Logger) Option {
	return func(p *Pool) error { p.logger = l; return nil }
}

// WithMetrics sets the collectors (default: unregistered ones).
func WithMetrics(m *Metrics) Option {
	return func(p *Pool) error { p.metrics = m; return nil }
}

// New starts a pool whose workers run the commands newCmd returns; each
// command must run Serve on file descriptors 3 and 4 (the plugin's hidden
// `render-worker` command does). The workers start in the background;
// Prepare waits for one. Close stops them.
func New(newCmd func() *exec.Cmd, opts ...Option) (*Pool, error) {
	if newCmd == nil {
		return nil, errors.New("worker: a command is required")
	}
	p := &Pool{newCmd: newCmd, size: 4, maxOutput: DefaultMaxOutput, logger: slog.Default()}
	for _, o := range opts {
		if err := o(p); err != nil {
			return nil, fmt.Errorf("worker: %w", err)
		}
	}
	if p.metrics == nil {
		p.metrics = NewMetrics(nil)
	}
	p.idleWake = make(chan struct{})
	for range p.size {
		p.replace()
	}
	return p, nil
}

// env is what a worker's environment gets on top of the sidecar's. PATH
// is emptied: a worker renders author input and runs no program, and
// Kustomize would find git there for remote bases (the kustomization
// screen refuses those first; this is the second wall).
func (p *Pool) env() []string {
	env := []string{"PATH="}
	if p.memLimit > 0 {
		env = append(env, "GOMEMLIMIT="+strconv.FormatInt(p.memLimit/10*9, 10))
	}
	return env
}

// replace starts a worker in the background and makes it idle; failures
// are retried with growing pauses until the pool closes.
func (p *Pool) replace() {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return
	}
	p.starting.Add(1)
	p.mu.Unlock()
	go func() {
		defer p.starting.Done()
		pause := 100 * time.Millisecond
		for {
			w, err := startProcess(p.newCmd, p.env())
			p.mu.Lock()
			if p.closed {
				p.mu.Unlock()
				if err == nil {
					w.kill()
				}
				return
			}
			p.startErr = err
			p.mu.Unlock()
			if err == nil {
				p.metrics.Started.Inc()
				p.makeIdle(w)
				return
			}
			p.logger.Error("starting a render worker failed; retrying", "error", err, "retryIn", pause)
			time.Sleep(pause)
			pause = min(2*pause, 10*time.Second)
		}
	}()
}

// makeIdle puts a worker among the idle ones and wakes those waiting.
func (p *Pool) makeIdle(w *process) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.idle = append(p.idle, w)
	close(p.idleWake)
	p.idleWake = make(chan struct{})
}

// takeIdle removes an idle worker, preferring one that holds the chart
// key (its chart cache saves loading the chart again), else the one idle
// longest; nil when none is idle.
func (p *Pool) takeIdle(key string) (*process, <-chan struct{}) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.idle) == 0 {
		return nil, p.idleWake
	}
	i := 0
	if key != "" {
		if j := slices.IndexFunc(p.idle, func(w *process) bool { return w.charts.has(key) }); j >= 0 {
			i = j
		}
	}
	w := p.idle[i]
	p.idle = slices.Delete(p.idle, i, i+1)
	return w, nil
}

// acquire takes an idle worker, preferring one holding the chart key,
// waiting until ctx ends.
func (p *Pool) acquire(ctx context.Context, key string) (*process, error) {
	for {
		w, wake := p.takeIdle(key)
		if w != nil {
			if w.alive() {
				return w, nil
			}
			// Ended while idle (killed from outside, crashed).
			p.logger.Warn("a render worker ended while idle; starting another", "pid", w.pid(), "error", w.waitErr)
			w.kill()
			p.replace()
			continue
		}
		select {
		case <-wake:
		case <-ctx.Done():
			p.mu.Lock()
			startErr := p.startErr
			p.mu.Unlock()
			if startErr != nil {
				return nil, fmt.Errorf("%w: no render worker is running: %w", ctx.Err(), startErr)
			}
			return nil, fmt.Errorf("%w: waiting for a free render worker (serve --render-workers %d)", ctx.Err(), p.size)
		}
	}
}

// release gives a worker back, or replaces it when broken.
func (p *Pool) release(w *process, broken bool) {
	p.mu.Lock()
	closed := p.closed
	p.mu.Unlock()
	if broken || closed {
		if broken {
			p.metrics.Killed.Inc()
		}
		w.kill()
		p.replace()
		return
	}
	p.makeIdle(w)
}

// maxAnswer is the largest answer frame read from a worker: the JSON of
// manifests within the output cap (escapes may double them) and the rest.
func (p *Pool) maxAnswer() int64 { return 2*p.maxOutput + 1<<20 }

// Prepare implements cmp.Renderer: it leases a worker, which loads the
// chart and merges the values. A repository held in memory is sent along:
// the value files, and the chart's files unless the worker holds the chart
// already (the whole repository when the chart has file:// dependencies,
// which Helm reads from beside it).
func (p *Pool) Prepare(ctx context.Context, req render.Request) (cmp.Prepared, error) {
	req.Dependencies.Transport = nil
	req.Dependencies.Logger = nil
	out, err := newOutgoing(req)
	if err != nil {
		return nil, err
	}
	var (
		w    *process
		resp response
	)
	for attempt := 0; ; attempt++ {
		if w, err = p.acquire(ctx, out.key); err != nil {
			return nil, err
		}
		var broken bool
		resp, broken, err = w.call(ctx, out.request(w.charts.has(out.key)), p.maxAnswer(), p.memLimit)
		if err == nil && resp.Err != nil && resp.Err.NotCached && attempt == 0 {
			// The worker dropped the chart: send it again.
			w.charts.forget(out.key)
			resp, broken, err = w.call(ctx, out.request(false), p.maxAnswer(), p.memLimit)
		}
		if err == nil {
			break
		}
		p.release(w, broken)
		// A worker that ended while idle may look alive until its exit
		// is noticed: a prepare it could not answer is asked of another.
		var exit *ExitError
		if attempt > 0 || !errors.As(err, &exit) {
			return nil, err
		}
	}
	if resp.ChartLoaded {
		p.metrics.ChartLoads.Inc()
	}
	if resp.Err != nil {
		p.release(w, false)
		return nil, resp.Err.err()
	}
	if out.key != "" {
		w.charts.touch(out.key)
	}
	return &lease{pool: p, w: w, pins: resp.Pins, pinsErr: resp.PinsErr.err()}, nil
}

// Close stops the workers, idle ones at once and leased ones when they
// are given back.
func (p *Pool) Close() {
	p.mu.Lock()
	p.closed = true
	p.mu.Unlock()
	p.starting.Wait()
	p.mu.Lock()
	idle := p.idle
	p.idle = nil
	p.mu.Unlock()
	for _, w := range idle {
		w.kill()
	}
}

// lease is one worker holding a prepared chart.
type lease struct {
	pool    *Pool
	w       *process
	pins    map[string]string
	pinsErr error
	// rendered: the worker dropped the chart itself; broken: it was
	// killed or failed.
	rendered, broken, closed bool
}

func (l *lease) Pins() (map[string]string, error) { return l.pins, l.pinsErr }

// Render implements cmp.Prepared.
func (l *lease) Render(ctx context.Context, images []render.Image) (*render.Output, error) {
	if l.closed || l.rendered || l.broken {
		return nil, errors.New("worker: the prepared chart was already rendered or given back")
	}
	l.rendered = true
	resp, broken, err := l.w.call(ctx, request{Op: opRender, Images: images}, l.pool.maxAnswer(), l.pool.memLimit)
	if err != nil {
		l.broken = broken
		return nil, err
	}
	if resp.Err != nil {
		return nil, resp.Err.err()
	}
	if resp.Output == nil {
		return nil, errors.New("worker: the render worker answered without manifests")
	}
	return resp.Output, nil
}

// Close implements cmp.Prepared: the worker goes back to the pool (told
// to drop the chart when it did not render it), or is replaced if broken.
func (l *lease) Close() {
	if l.closed {
		return
	}
	l.closed = true
	if !l.broken && !l.rendered {
		if err := writeFrame(l.w.requests, request{Op: opRelease}); err != nil {
			l.broken = true
		}
	}
	l.pool.release(l.w, l.broken)
}
