// Package refresh keeps Argo CD in step with the registry. Argo CD caches
// plugin output per git commit, so a newly pushed image is never rendered
// unless something asks for a hard refresh. The Tracker remembers what every
// render resolved; the Refresher re-resolves those images on an interval and
// on webhook wake-ups, and hard-refreshes an Application through a Trigger
// backend (Kubernetes API or Argo CD API) when a result changed.
package refresh

import (
	"context"
	"log/slog"
	"net/url"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/argocd-image-resolver/argocd-image-resolver/resolve"
	"github.com/argocd-image-resolver/argocd-image-resolver/store"
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

// triggerState is the refresher's guard and back-off state per
// Application, kept apart from the record so that a render never
// overwrites it. Failures count only while newer than the last render (a
// render resets the back-off).
type triggerState struct {
	LastTrigger   *Trigger  `json:"lastTrigger,omitempty"`
	LastTriggered time.Time `json:"lastTriggered,omitzero"`
	Failures      int       `json:"failures,omitempty"`
	FailedAt      time.Time `json:"failedAt,omitzero"`
	RetryAt       time.Time `json:"retryAt,omitzero"`
}

// current drops failures older than the last render.
func (s triggerState) current(renderedAt time.Time) triggerState {
	if !s.FailedAt.After(renderedAt) {
		s.Failures, s.RetryAt = 0, time.Time{}
	}
	return s
}

// Store layout of the tracker (under the store's own prefix).
const (
	keyApp     = "app|"    // app|<namespace>/<name> -> record (tracker_records.go)
	keyTrigger = "trig|"   // trig|<namespace>/<name> -> triggerState
	keyUses    = "uses|"   // uses|<repository>|<namespace>/<name>: the app renders an image of the repository
	keyHistory = "history" // capped list of Trigger
	// recordTTL forgets Applications not rendered for a week; Argo CD
	// renders every Application at least once a day (its manifest cache
	// expires after 24h by default).
	recordTTL      = 7 * 24 * time.Hour
	triggerVersion = 1
	historyVersion = 1
)

// Tracker remembers, per Application, the specs of its last render and what
// they resolved to, plus a bounded history of hard-refresh triggers. Its
// data lives in a store.Store: the process's memory by default, or the
// Redis that several replicas share, so that whichever replica refreshes
// knows every tracked Application. It is safe for concurrent use.
type Tracker struct {
	store      store.Store
	codecs     recordCodecs
	triggers   store.Typed[triggerState]
	history    store.Typed[Trigger]
	maxHistory int
	defaultNS  string
	now        func() time.Time
	log        *slog.Logger
	// canonical spells repositories for the uses| index and for
	// comparisons with pushes (see WithCanonicalRepository).
	canonical func(repository string) string

	// appHistory is the per-Application history (history.go).
	appHistory    store.Typed[HistoryEntry]
	maxAppHistory int
	// events posts history entries as Kubernetes Events (events.go).
	events     EventPoster
	eventSlots chan struct{}
	eventsWG   sync.WaitGroup
}

// TrackerOption configures a Tracker.
type TrackerOption func(*Tracker)

// WithDefaultNamespace is the namespace of apps recorded without one (Argo
// CD's control-plane namespace). Default "argocd".
func WithDefaultNamespace(ns string) TrackerOption {
	return func(t *Tracker) { t.defaultNS = ns }
}

// WithCanonicalRepository spells repositories the way the resolver does,
// registries.conf applied (serve passes (*resolve.Resolver).
// CanonicalRepository), so that a spec's image and a webhook's repository
// compare equal. Default: resolve.CanonicalRepository, which knows no
// registries.conf.
func WithCanonicalRepository(canonical func(repository string) string) TrackerOption {
	return func(t *Tracker) {
		if canonical != nil {
			t.canonical = canonical
		}
	}
}

// WithHistorySize bounds the trigger history. Default 256.
func WithHistorySize(n int) TrackerOption {
	return func(t *Tracker) {
		if n > 0 {
			t.maxHistory = n
		}
	}
}

// WithAppHistorySize bounds the history each Application keeps (image
// changes and held-back candidates). Default DefaultAppHistorySize.
func WithAppHistorySize(n int) TrackerOption {
	return func(t *Tracker) {
		if n > 0 {
			t.maxAppHistory = n
		}
	}
}

// WithTrackerClock replaces time.Now (tests).
func WithTrackerClock(now func() time.Time) TrackerOption {
	return func(t *Tracker) { t.now = now }
}

// WithTrackerStore keeps the tracker's data in s (default: a store.Memory
// of this process).
func WithTrackerStore(s store.Store) TrackerOption {
	return func(t *Tracker) { t.store = s }
}

// WithTrackerLogger logs store failures at debug level (default: discard;
// the store logs its own state changes).
func WithTrackerLogger(l *slog.Logger) TrackerOption {
	return func(t *Tracker) { t.log = l }
}

// NewTracker returns an empty Tracker.
func NewTracker(opts ...TrackerOption) *Tracker {
	t := &Tracker{
		maxHistory:    256,
		maxAppHistory: DefaultAppHistorySize,
		defaultNS:     "argocd",
		now:           time.Now,
		log:           slog.New(slog.DiscardHandler),
		canonical:     resolve.CanonicalRepository,
		eventSlots:    make(chan struct{}, eventSlots),
	}
	for _, o := range opts {
		o(t)
	}
	if t.store == nil {
		t.store = store.NewMemory(store.WithClock(t.now))
	}
	t.codecs = newRecordCodecs(t.store)
	t.triggers = store.NewTyped[triggerState](t.store, keyTrigger, triggerVersion)
	t.history = store.NewTyped[Trigger](t.store, keyHistory, historyVersion)
	t.appHistory = store.NewTyped[HistoryEntry](t.store, keyAppHistory, appHistoryVersion)
	return t
}

func (t *Tracker) failed(op string, err error) {
	if err != nil {
		t.log.Debug("tracker store call failed", "op", op, "error", err)
	}
}

// Record remembers one render: the app, the specs it asked for and the
// results it rendered. A later Record for the same app replaces the
// previous one (it is what Argo CD now shows). Specs and rendered versions
// are kept once however many Applications share them (tracker_records.go);
// each render extends their lifetime with the record's. What changed since
// the previous record becomes history (history.go), posted as Kubernetes
// Events with WithEvents.
func (t *Tracker) Record(app App, specs []resolve.Spec, results []resolve.Result) {
	if app.Name == "" {
		return
	}
	if app.Namespace == "" {
		app.Namespace = t.defaultNS
	}
	ctx := context.Background()
	key := app.Key()
	now := t.now()
	rec := record{App: app, Specs: make([]string, 0, len(specs)), Rendered: make([]string, 0, len(results)), RenderedAt: now}
	prev, readable := t.previous(ctx, key)
	var entries []HistoryEntry
	rec.Images, entries = imageChanges(prev, results, now)
	rec.ImagesKept = true
	if !readable {
		entries = nil // a store that cannot be read says nothing of changes
	}
	writes := map[string]shared{}
	for _, s := range specs {
		h, err := intern(t.codecs.specs, s, writes)
		if err != nil {
			t.failed("record", err)
			return
		}
		rec.Specs = append(rec.Specs, h)
	}
	for _, r := range results {
		h, err := intern(t.codecs.rendered, renderedOf(r), writes)
		if err != nil {
			t.failed("record", err)
			return
		}
		rec.Rendered = append(rec.Rendered, h)
	}
	// The shared values first: a record is never read before what it
	// names.
	for _, w := range writes {
		t.failed("record", t.store.Set(ctx, w.key, w.value, recordTTL))
	}
	t.failed("record", t.codecs.records.Set(ctx, key, rec, recordTTL))
	seen := map[string]bool{}
	for _, s := range specs {
		repo := t.canonical(s.Image)
		if seen[repo] {
			continue
		}
		seen[repo] = true
		t.failed("record", t.store.Set(ctx, keyUses+repo+"|"+key, []byte("1"), recordTTL))
	}
	if len(entries) > 0 {
		var prevAt time.Time
		if prev != nil {
			prevAt = prev.RenderedAt
		}
		t.postEvents(redactApp(app), t.recordHistory(ctx, app, prevAt, entries))
	}
}

// previous reads the record an Application's render replaces: nil when it
// has none (or a record this sidecar cannot read, which counts as none);
// readable is false when the store failed.
func (t *Tracker) previous(ctx context.Context, key string) (*record, bool) {
	vals, err := t.store.Get(ctx, t.codecs.records.Key(key))
	if err != nil {
		t.failed("record", err)
		return nil, false
	}
	if rec, ok := t.codecs.records.Decode(vals[0]); ok {
		return &rec, true
	}
	if old, ok := t.codecs.legacy.Decode(vals[0]); ok {
		return &record{App: old.App, RenderedAt: old.RenderedAt}, true
	}
	return nil, true
}

// Forget drops an app (it was deleted, or it no longer uses the plugin).
func (t *Tracker) Forget(key string) {
	ctx := context.Background()
	t.failed("forget", t.codecs.records.Delete(ctx, key))
	t.failed("forget", t.triggers.Delete(ctx, key))
	t.failed("forget", t.store.Delete(ctx, keyAppHistory+key))
}

// Tracked reports whether the app with this key has been recorded.
func (t *Tracker) Tracked(key string) bool {
	vals, err := t.store.Get(context.Background(), t.codecs.records.Key(key))
	t.failed("tracked", err)
	return err == nil && t.codecs.exists(vals[0])
}

// Keys lists the tracked apps, sorted.
func (t *Tracker) Keys() []string {
	keys, err := t.codecs.records.Keys(context.Background(), "")
	t.failed("keys", err)
	sort.Strings(keys)
	return keys
}

// KeysUsing lists the tracked apps with at least one image in repositories
// (canonical names, see WithCanonicalRepository), sorted.
func (t *Tracker) KeysUsing(repositories map[string]bool) []string {
	ctx := context.Background()
	candidates := map[string]bool{}
	for repo := range repositories {
		prefix := keyUses + repo + "|"
		keys, err := t.store.Keys(ctx, prefix)
		t.failed("keys using", err)
		for _, k := range keys {
			candidates[strings.TrimPrefix(k, prefix)] = true
		}
	}
	list := make([]string, 0, len(candidates))
	for k := range candidates {
		list = append(list, k)
	}
	// The index may name an app whose later render dropped the image: the
	// record decides.
	recs, err := t.codecs.read(ctx, t.store, list)
	t.failed("keys using", err)
	var keys []string
	for k, rec := range recs {
		for _, s := range rec.specs {
			if repositories[t.canonical(s.Image)] {
				keys = append(keys, k)
				break
			}
		}
	}
	sort.Strings(keys)
	return keys
}

// History returns the trigger history, oldest first.
func (t *Tracker) History() []Trigger {
	raw, err := t.store.Range(context.Background(), keyHistory)
	t.failed("history", err)
	out := make([]Trigger, 0, len(raw))
	for _, b := range raw {
		if tr, ok := t.history.Decode(b); ok {
			out = append(out, tr)
		}
	}
	return out
}

// Apps returns the status of every tracked app (see EachApp).
func (t *Tracker) Apps() []AppStatus {
	var out []AppStatus
	t.failed("apps", t.EachApp(context.Background(), "", func(st AppStatus) bool {
		out = append(out, st)
		return true
	}))
	return out
}

// EachApp calls fn with the status of every tracked Application, sorted by
// key, each with its own part of the trigger history, until fn returns
// false. app selects one: "<namespace>/<name>", or a name in any
// namespace. Records are read a chunk at a time, so a listing of every
// Application holds the keys and one chunk. Repository URLs lose any user
// info.
func (t *Tracker) EachApp(ctx context.Context, app string, fn func(AppStatus) bool) error {
	app = strings.TrimSpace(app)
	var keys []string
	if strings.Contains(app, "/") {
		keys = []string{app}
	} else {
		all, err := t.codecs.records.Keys(ctx, "")
		if err != nil {
			return err
		}
		for _, k := range all {
			if app == "" || strings.HasSuffix(k, "/"+app) {
				keys = append(keys, k)
			}
		}
		sort.Strings(keys)
	}
	byApp := map[string][]Trigger{}
	for _, h := range t.History() {
		byApp[h.App.Key()] = append(byApp[h.App.Key()], h)
	}
	for start := 0; start < len(keys); start += recordChunk {
		part := keys[start:min(start+recordChunk, len(keys))]
		recs, err := t.codecs.read(ctx, t.store, part)
		if err != nil {
			return err
		}
		trigs, err := t.triggers.GetMany(ctx, part...)
		if err != nil {
			return err
		}
		for _, k := range part {
			rec, ok := recs[k]
			if !ok {
				continue
			}
			if !fn(t.status(rec, trigs[k], byApp[k])) {
				return nil
			}
		}
	}
	return nil
}

// status is what /debug/apps shows of one record.
func (t *Tracker) status(rec tracked, trig triggerState, history []Trigger) AppStatus {
	st := AppStatus{App: redactApp(rec.app), RenderedAt: rec.renderedAt, History: history}
	for _, r := range rec.rendered {
		st.Images = append(st.Images, ImageStatus{
			Alias: r.Alias, Image: r.Image, Strategy: r.Strategy,
			Tag: r.Tag, Digest: r.Digest, Pinned: r.Pinned,
		})
	}
	trig = trig.current(rec.renderedAt)
	if trig.LastTrigger != nil {
		lt := *trig.LastTrigger
		lt.App = redactApp(lt.App)
		st.LastTrigger = &lt
	}
	if !trig.RetryAt.IsZero() {
		ra := trig.RetryAt
		st.RetryAfter = &ra
	}
	for i := range st.History {
		st.History[i].App = redactApp(st.History[i].App)
	}
	return st
}

// Specs returns the specs of an Application's last render, for explaining
// what they resolve to now.
func (t *Tracker) Specs(key string) ([]resolve.Spec, bool) {
	rec, _, ok := t.load(context.Background(), key)
	return rec.specs, ok
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

// snapshot is what the refresher needs to check one app, read from the
// store.
type snapshot struct {
	app           App
	specs         []resolve.Spec
	rendered      []resolve.Result
	lastTriggered time.Time
	retryAt       time.Time
}

// load reads an app's record, the values it shares and its trigger
// state.
func (t *Tracker) load(ctx context.Context, key string) (tracked, triggerState, bool) {
	vals, err := t.store.Get(ctx, t.codecs.records.Key(key), t.triggers.Key(key))
	t.failed("snapshot", err)
	if err != nil {
		return tracked{}, triggerState{}, false
	}
	recs := map[string]tracked{}
	t.failed("snapshot", t.codecs.expand(ctx, t.store, []string{key}, vals[:1], recs))
	rec, ok := recs[key]
	if !ok {
		return tracked{}, triggerState{}, false
	}
	trig, _ := t.triggers.Decode(vals[1])
	return rec, trig.current(rec.renderedAt), true
}

func (t *Tracker) snapshot(key string) (snapshot, bool) {
	rec, trig, ok := t.load(context.Background(), key)
	if !ok {
		return snapshot{}, false
	}
	return newSnapshot(rec, trig), true
}

// snapshots reads the snapshots of keys a chunk at a time (found ones
// only).
func (t *Tracker) snapshots(ctx context.Context, keys []string) map[string]snapshot {
	out := make(map[string]snapshot, len(keys))
	for start := 0; start < len(keys); start += recordChunk {
		part := keys[start:min(start+recordChunk, len(keys))]
		recs, err := t.codecs.read(ctx, t.store, part)
		t.failed("snapshot", err)
		trigs, err := t.triggers.GetMany(ctx, part...)
		t.failed("snapshot", err)
		for k, rec := range recs {
			out[k] = newSnapshot(rec, trigs[k].current(rec.renderedAt))
		}
	}
	return out
}

func newSnapshot(rec tracked, trig triggerState) snapshot {
	return snapshot{
		app: rec.app, specs: rec.specs, rendered: rec.rendered,
		lastTriggered: trig.LastTriggered, retryAt: trig.RetryAt,
	}
}

// noteTrigger stores the outcome of an attempt: the history (pending
// attempts are not triggers and stay out of it), the guard and back-off
// state, and forgets apps that no longer exist.
func (t *Tracker) noteTrigger(tr Trigger, backoff func(failures int) time.Duration) {
	ctx := context.Background()
	if tr.Result != ResultPending {
		if b, err := t.history.Encode(tr); err == nil {
			t.failed("history", t.store.Append(ctx, keyHistory, b, t.maxHistory, recordTTL))
		}
	}
	key := tr.App.Key()
	_, trig, ok := t.load(ctx, key)
	if !ok {
		return
	}
	switch tr.Result {
	case ResultTriggered:
		trig = triggerState{LastTrigger: &tr, LastTriggered: tr.Time}
	case ResultNotFound:
		t.Forget(key)
		return
	case ResultError:
		trig.LastTrigger = &tr
		trig.Failures++
		trig.FailedAt = tr.Time
		trig.RetryAt = tr.Time.Add(backoff(trig.Failures))
	default:
		return
	}
	t.failed("trigger", t.triggers.Set(ctx, key, trig, recordTTL))
}
