// Package refresh keeps Argo CD in step with the registry. Argo CD caches
// plugin output per git commit, so a newly pushed image is never rendered
// unless something asks for a hard refresh. The Tracker remembers what every
// render resolved; the Refresher re-resolves those images on an interval and
// on webhook wake-ups, and hard-refreshes an Application through a Trigger
// backend (Kubernetes API or Argo CD API) when a result changed.
package refresh

import (
	"net/url"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/google/go-containerregistry/pkg/name"

	"github.com/argocd-image-resolver/argocd-image-resolver/resolve"
)

// App identifies the Argo CD Application a render was for.
type App struct {
	Name      string `json:"name"`
	Namespace string `json:"namespace"`
	Project   string `json:"project,omitempty"`
	RepoURL   string `json:"repoURL,omitempty"`
	Path      string `json:"path,omitempty"`
}

// Key is "<namespace>/<name>", unique per Application.
func (a App) Key() string { return a.Namespace + "/" + a.Name }

// ParseAppName splits ARGOCD_APP_NAME. Argo CD names Applications outside
// its control-plane namespace "<namespace>_<name>"; a plain name lives in
// defaultNamespace. Kubernetes names cannot hold '_', so the split is exact.
func ParseAppName(appName, defaultNamespace string) (namespace, name string) {
	if ns, n, ok := strings.Cut(appName, "_"); ok && ns != "" && n != "" {
		return ns, n
	}
	return defaultNamespace, appName
}

// Change is one image whose resolution differs from what was rendered.
type Change struct {
	Alias string `json:"alias"`
	Image string `json:"image"`
	From  string `json:"from"`
	To    string `json:"to"`
}

// Trigger outcomes, also the `result` label of the triggers metric.
const (
	ResultTriggered = "triggered"
	ResultPending   = "pending"
	ResultNotFound  = "not_found"
	ResultError     = "error"
)

// Trigger reasons.
const (
	ReasonChanged = "changed"
	ReasonStartup = "startup"
)

// Trigger is one hard-refresh attempt, as kept in the history.
type Trigger struct {
	App     App       `json:"app"`
	Reason  string    `json:"reason"`
	Changes []Change  `json:"changes,omitempty"`
	Backend string    `json:"backend"`
	Result  string    `json:"result"`
	Error   string    `json:"error,omitempty"`
	Time    time.Time `json:"time"`
}

// ImageStatus is one image of a tracked app as last rendered.
type ImageStatus struct {
	Alias    string `json:"alias"`
	Image    string `json:"image"`
	Strategy string `json:"strategy,omitempty"`
	Tag      string `json:"tag"`
	Digest   string `json:"digest,omitempty"`
	Pinned   bool   `json:"pinned,omitempty"`
}

// AppStatus is what /debug/apps shows for one tracked Application.
type AppStatus struct {
	App         App           `json:"app"`
	Images      []ImageStatus `json:"images"`
	RenderedAt  time.Time     `json:"renderedAt"`
	LastTrigger *Trigger      `json:"lastTrigger,omitempty"`
	RetryAfter  *time.Time    `json:"retryAfter,omitempty"`
	History     []Trigger     `json:"history,omitempty"`
}

type tracked struct {
	app        App
	specs      []resolve.Spec
	rendered   []resolve.Result
	renderedAt time.Time

	lastTrigger   *Trigger
	lastTriggered time.Time // last successful trigger
	failures      int
	retryAt       time.Time
}

// Tracker remembers, per Application, the specs of its last render and what
// they resolved to, plus a bounded history of hard-refresh triggers. It is
// safe for concurrent use.
type Tracker struct {
	mu         sync.Mutex
	apps       map[string]*tracked
	history    []Trigger
	maxHistory int
	defaultNS  string
	now        func() time.Time
}

// TrackerOption configures a Tracker.
type TrackerOption func(*Tracker)

// WithDefaultNamespace is the namespace of apps recorded without one (Argo
// CD's control-plane namespace). Default "argocd".
func WithDefaultNamespace(ns string) TrackerOption {
	return func(t *Tracker) { t.defaultNS = ns }
}

// WithHistorySize bounds the trigger history. Default 256.
func WithHistorySize(n int) TrackerOption {
	return func(t *Tracker) {
		if n > 0 {
			t.maxHistory = n
		}
	}
}

// WithTrackerClock replaces time.Now (tests).
func WithTrackerClock(now func() time.Time) TrackerOption {
	return func(t *Tracker) { t.now = now }
}

// NewTracker returns an empty Tracker.
func NewTracker(opts ...TrackerOption) *Tracker {
	t := &Tracker{
		apps:       map[string]*tracked{},
		maxHistory: 256,
		defaultNS:  "argocd",
		now:        time.Now,
	}
	for _, o := range opts {
		o(t)
	}
	return t
}

// Record remembers one render: the app, the specs it asked for and the
// results it rendered. A later Record for the same app replaces the
// previous one (it is what Argo CD now shows).
func (t *Tracker) Record(app App, specs []resolve.Spec, results []resolve.Result) {
	if app.Name == "" {
		return
	}
	if app.Namespace == "" {
		app.Namespace = t.defaultNS
	}
	rendered := make([]resolve.Result, len(results))
	for i, r := range results {
		r.Candidates = nil // not needed to compare, and can be large
		rendered[i] = r
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	e, ok := t.apps[app.Key()]
	if !ok {
		e = &tracked{}
		t.apps[app.Key()] = e
	}
	e.app = app
	e.specs = append([]resolve.Spec(nil), specs...)
	e.rendered = rendered
	e.renderedAt = t.now()
	e.failures = 0
	e.retryAt = time.Time{}
}

// Forget drops an app (it was deleted, or it no longer uses the plugin).
func (t *Tracker) Forget(key string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.apps, key)
}

// Tracked reports whether the app with this key has been recorded.
func (t *Tracker) Tracked(key string) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	_, ok := t.apps[key]
	return ok
}

// Keys lists the tracked apps, sorted.
func (t *Tracker) Keys() []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	keys := make([]string, 0, len(t.apps))
	for k := range t.apps {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// KeysUsing lists the tracked apps with at least one image in repositories
// (canonical names, see CanonicalRepository), sorted.
func (t *Tracker) KeysUsing(repositories map[string]bool) []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	var keys []string
	for k, e := range t.apps {
		for _, s := range e.specs {
			if repositories[CanonicalRepository(s.Image)] {
				keys = append(keys, k)
				break
			}
		}
	}
	sort.Strings(keys)
	return keys
}

// CanonicalRepository spells a repository the way go-containerregistry
// does ("nginx" → "index.docker.io/library/nginx"), so that webhook events
// and specs compare equal. Unparsable input is returned unchanged.
func CanonicalRepository(repo string) string {
	r, err := name.NewRepository(repo, name.WeakValidation)
	if err != nil {
		return repo
	}
	return r.Name()
}

// History returns the trigger history, oldest first.
func (t *Tracker) History() []Trigger {
	t.mu.Lock()
	defer t.mu.Unlock()
	return append([]Trigger(nil), t.history...)
}

// Apps returns the status of every tracked app, sorted by key, each with
// its own part of the history. Repository URLs lose any user info.
func (t *Tracker) Apps() []AppStatus {
	t.mu.Lock()
	defer t.mu.Unlock()
	byApp := map[string][]Trigger{}
	for _, h := range t.history {
		byApp[h.App.Key()] = append(byApp[h.App.Key()], h)
	}
	out := make([]AppStatus, 0, len(t.apps))
	for k, e := range t.apps {
		st := AppStatus{App: redactApp(e.app), RenderedAt: e.renderedAt, History: byApp[k]}
		for _, r := range e.rendered {
			st.Images = append(st.Images, ImageStatus{
				Alias: r.Alias, Image: r.Image, Strategy: r.Strategy,
				Tag: r.Tag, Digest: r.Digest, Pinned: r.Pinned,
			})
		}
		if e.lastTrigger != nil {
			lt := *e.lastTrigger
			lt.App = redactApp(lt.App)
			st.LastTrigger = &lt
		}
		if !e.retryAt.IsZero() {
			ra := e.retryAt
			st.RetryAfter = &ra
		}
		for i := range st.History {
			st.History[i].App = redactApp(st.History[i].App)
		}
		out = append(out, st)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].App.Key() < out[j].App.Key() })
	return out
}

// redactApp removes credentials a repository URL may carry
// (https://user:token@host/...).
func redactApp(a App) App {
	if u, err := url.Parse(a.RepoURL); err == nil && u.User != nil {
		u.User = nil
		a.RepoURL = u.String()
	}
	return a
}

// snapshot is what the refresher needs to check one app, copied under the
// lock.
type snapshot struct {
	app           App
	specs         []resolve.Spec
	rendered      []resolve.Result
	lastTriggered time.Time
	retryAt       time.Time
}

func (t *Tracker) snapshot(key string) (snapshot, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	e, ok := t.apps[key]
	if !ok {
		return snapshot{}, false
	}
	return snapshot{
		app: e.app, specs: e.specs, rendered: e.rendered,
		lastTriggered: e.lastTriggered, retryAt: e.retryAt,
	}, true
}

// noteTrigger stores the outcome of an attempt: the history (pending
// attempts are not triggers and stay out of it), the guard and back-off
// state, and forgets apps that no longer exist.
func (t *Tracker) noteTrigger(tr Trigger, backoff func(failures int) time.Duration) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if tr.Result != ResultPending {
		t.history = append(t.history, tr)
		if over := len(t.history) - t.maxHistory; over > 0 {
			t.history = append([]Trigger(nil), t.history[over:]...)
		}
	}
	e, ok := t.apps[tr.App.Key()]
	if !ok {
		return
	}
	switch tr.Result {
	case ResultTriggered:
		e.lastTrigger = &tr
		e.lastTriggered = tr.Time
		e.failures = 0
		e.retryAt = time.Time{}
	case ResultNotFound:
		delete(t.apps, tr.App.Key())
	case ResultError:
		e.lastTrigger = &tr
		e.failures++
		e.retryAt = tr.Time.Add(backoff(e.failures))
	}
}
