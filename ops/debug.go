package ops

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/argocd-image-resolver/argocd-image-resolver/refresh"
	"github.com/argocd-image-resolver/argocd-image-resolver/resolve"
)

// DefaultDebugLimit is how many entries GET /debug/cache, and how many
// Applications GET /debug/apps, list unless ?limit= says otherwise
// (?limit=0: all of them).
const DefaultDebugLimit = 1000

// tableBlock is how many rows a table aligns at once: a table of any
// length is written in blocks, never held whole.
const tableBlock = 1000

// Cache is what the debug endpoint needs from the resolver
// (resolve.Resolver implements it).
type Cache interface {
	// Entries calls fn with the cache entries of one repository (any
	// spelling; "" for all) in key order until fn returns false.
	Entries(ctx context.Context, repository string, fn func(resolve.Entry) bool) error
	Invalidate(repository string) int
	// Explain resolves a spec through the cache and lists every candidate
	// tag with its verdict.
	Explain(ctx context.Context, spec resolve.Spec) (resolve.Explanation, error)
}

// AppLister lists tracked apps (refresh.Tracker implements it).
type AppLister interface {
	// EachApp calls fn with the tracked Applications ("" for all, a
	// "<namespace>/<name>" or a name) in key order until fn returns
	// false.
	EachApp(ctx context.Context, app string, fn func(refresh.AppStatus) bool) error
}

// HistorySource gives the global trigger history (refresh.Tracker
// implements it).
type HistorySource interface {
	History() []refresh.Trigger
}

// SpecSource gives the specs of an Application's last render, which
// ?explain=true explains (refresh.Tracker implements it).
type SpecSource interface {
	Specs(key string) ([]resolve.Spec, bool)
}

// CacheListing is the JSON answer of GET /debug/cache.
type CacheListing struct {
	Repository string `json:"repository,omitempty"`
	// Limit is the most entries listed; 0: no limit.
	Limit   int             `json:"limit"`
	Entries []resolve.Entry `json:"entries"`
	// Truncated is set when more entries matched than Limit.
	Truncated bool `json:"truncated,omitempty"`
	// Error is set when the listing stopped early (the store failed).
	Error string `json:"error,omitempty"`
}

// PurgeResult is the JSON answer of DELETE /debug/cache.
type PurgeResult struct {
	Repository string `json:"repository,omitempty"`
	Removed    int    `json:"removed"`
}

// AppsListing is the JSON answer of GET /debug/apps.
type AppsListing struct {
	App string `json:"app,omitempty"`
	// Limit is the most Applications listed; 0: no limit.
	Limit     int            `json:"limit"`
	Apps      []AppListEntry `json:"apps"`
	Truncated bool           `json:"truncated,omitempty"`
	Error     string         `json:"error,omitempty"`
	// History is the trigger history, of the selected Application only
	// with ?app=.
	History []refresh.Trigger `json:"history"`
}

// AppListEntry is one tracked Application in GET /debug/apps; with
// ?explain=true, also why each of its images resolves as it does now; with
// ?history=true, its image history, newest first.
type AppListEntry struct {
	refresh.AppStatus
	Explanations []ImageExplanation     `json:"explanations,omitempty"`
	ImageHistory []refresh.HistoryEntry `json:"imageHistory,omitempty"`
}

// ImageExplanation is what one spec of an Application resolves to now and
// why, recomputed from the cache (GET /debug/apps?app=...&explain=true).
type ImageExplanation struct {
	Alias string `json:"alias"`
	Image string `json:"image"`
	// Tag is what the spec resolves to now; the rendered tag may be older.
	Tag        string              `json:"tag,omitempty"`
	Candidates []resolve.Candidate `json:"candidates"`
	Error      string              `json:"error,omitempty"`
}

// listQuery is what a listing's query asks for.
type listQuery struct {
	limit   int
	table   bool
	explain bool
	// history is how many history entries of each Application to list
	// (0: none).
	history int
}

// errBadQuery is a query parameter the endpoint cannot use.
var errBadQuery = errors.New("bad query")

func parseListQuery(r *http.Request) (listQuery, error) {
	q := listQuery{limit: DefaultDebugLimit, table: r.URL.Query().Get("format") == "table"}
	if v := r.URL.Query().Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return q, fmt.Errorf("%w: limit=%q: want a number of entries, 0 for all", errBadQuery, v)
		}
		q.limit = n
	}
	if v := r.URL.Query().Get("explain"); v != "" {
		explain, err := strconv.ParseBool(v)
		if err != nil {
			return q, fmt.Errorf("%w: explain=%q: want true or false", errBadQuery, v)
		}
		q.explain = explain
	}
	return q, parseHistoryQuery(r, &q)
}

// capped passes items to fn until q's limit is reached (0: no limit), then
// stops the listing and records in truncated that there was more.
func capped[T any](q listQuery, truncated *bool, fn func(T)) func(T) bool {
	listed := 0
	return func(item T) bool {
		if q.limit > 0 && listed >= q.limit {
			*truncated = true
			return false
		}
		listed++
		fn(item)
		return true
	}
}

// NewDebugHandler serves GET and DELETE /debug/cache and GET /debug/apps.
// apps may be nil (no refresher configured). Listings are streamed, an
// entry at a time, and hold at most ?limit= items (DefaultDebugLimit
// unless given; 0 for all). Responses hold cache keys, summaries and
// tracked apps: no credential is ever part of them (the resolver scrubs
// error messages, the tracker strips user info from URLs).
func NewDebugHandler(cache Cache, apps AppLister, now func() time.Time) http.Handler {
	if now == nil {
		now = time.Now
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /debug/cache", func(w http.ResponseWriter, r *http.Request) {
		q, err := parseListQuery(r)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		repo := strings.TrimSpace(r.URL.Query().Get("repository"))
		listCache(r.Context(), w, cache, repo, q, now())
	})
	mux.HandleFunc("DELETE /debug/cache", func(w http.ResponseWriter, r *http.Request) {
		repo := r.URL.Query().Get("repository")
		writeJSON(w, http.StatusOK, PurgeResult{Repository: repo, Removed: cache.Invalidate(repo)})
	})
	mux.HandleFunc("GET /debug/apps", func(w http.ResponseWriter, r *http.Request) {
		q, err := parseListQuery(r)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		app := strings.TrimSpace(r.URL.Query().Get("app"))
		if q.explain && app == "" {
			http.Error(w, "explain=true needs app=<namespace>/<name>: explaining resolves every image of the Application", http.StatusBadRequest)
			return
		}
		listApps(r.Context(), w, apps, cache, app, q, now())
	})
	return mux
}

// listCache streams the cache entries of repo.
func listCache(ctx context.Context, w http.ResponseWriter, cache Cache, repo string, q listQuery, now time.Time) {
	truncated := false
	each := func(fn func(resolve.Entry)) error {
		return cache.Entries(ctx, repo, capped(q, &truncated, fn))
	}
	if q.table {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		t := newCacheTable(w, now)
		err := each(t.row)
		t.flush()
		listingNote(w, "entries", q.limit, truncated, err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	var head []field
	if repo != "" {
		head = append(head, field{"repository", repo})
	}
	l := startList(w, "entries", append(head, field{"limit", q.limit})...)
	err := each(func(e resolve.Entry) { _ = l.item(e) })
	_ = l.end(tail(truncated, err)...)
}

// listApps streams the tracked Applications (app selects one or a name).
func listApps(ctx context.Context, w http.ResponseWriter, apps AppLister, cache Cache, app string, q listQuery, now time.Time) {
	truncated := false
	each := func(fn func(refresh.AppStatus)) error {
		if apps == nil {
			return nil
		}
		return apps.EachApp(ctx, app, capped(q, &truncated, fn))
	}
	explain := func(st refresh.AppStatus) []ImageExplanation {
		if !q.explain {
			return nil
		}
		return explainApp(ctx, cache, apps, st.App.Key())
	}
	history := func(st refresh.AppStatus) ([]refresh.HistoryEntry, error) {
		return appHistory(ctx, apps, st.App.Key(), q.history)
	}
	if q.table {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		t := newAppsTable(w, now)
		err := each(func(st refresh.AppStatus) {
			t.row(st)
			if ex := explain(st); ex != nil {
				t.flush()
				writeExplanations(w, st.App.Key(), ex)
			}
			if q.history > 0 {
				t.flush()
				entries, err := history(st)
				writeHistory(w, st.App.Key(), entries, err, t.now)
			}
		})
		t.flush()
		listingNote(w, "applications", q.limit, truncated, err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	var head []field
	if app != "" {
		head = append(head, field{"app", app})
	}
	l := startList(w, "apps", append(head, field{"limit", q.limit})...)
	err := each(func(st refresh.AppStatus) {
		entry := AppListEntry{AppStatus: st, Explanations: explain(st)}
		entry.ImageHistory, _ = history(st) // a failed read shows as none
		_ = l.item(entry)
	})
	triggers := []refresh.Trigger{}
	if h, ok := apps.(HistorySource); ok {
		for _, tr := range h.History() {
			if app == "" || appMatches(tr.App, app) {
				triggers = append(triggers, tr)
			}
		}
	}
	_ = l.end(append(tail(truncated, err), field{"history", triggers})...)
}

// appMatches reports whether a is the Application ?app= names.
func appMatches(a refresh.App, app string) bool {
	if strings.Contains(app, "/") {
		return a.Key() == app
	}
	return a.Name == app
}

// explainApp explains every spec of an Application's last render.
func explainApp(ctx context.Context, cache Cache, apps AppLister, key string) []ImageExplanation {
	src, ok := apps.(SpecSource)
	if !ok {
		return nil
	}
	specs, ok := src.Specs(key)
	if !ok {
		return nil
	}
	out := make([]ImageExplanation, 0, len(specs))
	for _, spec := range specs {
		ex, err := cache.Explain(ctx, spec)
		ie := ImageExplanation{Alias: spec.Alias, Image: spec.Image, Tag: ex.Tag, Candidates: ex.Candidates}
		if err != nil {
			ie.Error = err.Error()
		}
		out = append(out, ie)
	}
	return out
}

// tail is the closing members of a listing.
func tail(truncated bool, err error) []field {
	var out []field
	if truncated {
		out = append(out, field{"truncated", true})
	}
	if err != nil {
		out = append(out, field{"error", err.Error()})
	}
	return out
}

// listingNote ends a table with what it left out.
func listingNote(w io.Writer, what string, limit int, truncated bool, err error) {
	if truncated {
		fmt.Fprintf(w, "(the first %d %s; ?limit= lists more, 0 all)\n", limit, what)
	}
	if err != nil {
		fmt.Fprintf(w, "(listing stopped: %v)\n", err)
	}
}

// blockTable is a tabwriter table aligned a block of rows at a time, so
// that a listing of any length is written as it is read.
type blockTable struct {
	tw   *tabwriter.Writer
	now  time.Time
	rows int
}

func newBlockTable(w io.Writer, now time.Time, header string) blockTable {
	t := blockTable{tw: tabwriter.NewWriter(w, 0, 4, 2, ' ', 0), now: now}
	fmt.Fprintln(t.tw, header)
	return t
}

// endRow counts one row (an item, whatever its lines) and writes out the
// block when it is full.
func (t *blockTable) endRow() {
	if t.rows++; t.rows%tableBlock == 0 {
		t.flush()
	}
}

func (t *blockTable) flush() { _ = t.tw.Flush() }

// cacheTable prints cache entries for people.
type cacheTable struct{ blockTable }

func newCacheTable(w io.Writer, now time.Time) *cacheTable {
	return &cacheTable{newBlockTable(w, now, "LAYER\tREPOSITORY\tKEY\tSTATE\tAGE\tEXPIRES\tHITS\tSUMMARY")}
}

func (t *cacheTable) row(e resolve.Entry) {
	state := "fresh"
	switch {
	case e.Negative:
		state = "error"
	case e.Stale:
		state = "stale"
	}
	expires := "never"
	if !e.ExpiresAt.IsZero() {
		expires = relative(e.ExpiresAt.Sub(t.now))
	}
	summary := e.Summary
	if e.LastError != "" {
		summary += " (last error: " + e.LastError + ")"
	}
	fmt.Fprintf(t.tw, "%s\t%s\t%s\t%s\t%s\t%s\t%d\t%s\n", e.Layer, e.Repository, e.Key, state,
		relative(t.now.Sub(e.CachedAt)), expires, e.Hits, summary)
	t.endRow()
}

// appsTable prints tracked apps for people, one line per image.
type appsTable struct{ blockTable }

func newAppsTable(w io.Writer, now time.Time) *appsTable {
	return &appsTable{newBlockTable(w, now, "APP\tALIAS\tIMAGE\tRENDERED\tRENDERED AGO\tLAST TRIGGER")}
}

func (t *appsTable) row(a refresh.AppStatus) {
	last := "-"
	if tr := a.LastTrigger; tr != nil {
		last = fmt.Sprintf("%s %s ago", tr.Result, relative(t.now.Sub(tr.Time)))
	}
	if len(a.Images) == 0 {
		fmt.Fprintf(t.tw, "%s\t-\t-\t-\t%s\t%s\n", a.App.Key(), relative(t.now.Sub(a.RenderedAt)), last)
	}
	for _, img := range a.Images {
		version := img.Tag
		if img.Digest != "" {
			version += "@" + shortDigest(img.Digest)
		}
		if img.Pinned {
			version += " (pinned)"
		}
		fmt.Fprintf(t.tw, "%s\t%s\t%s\t%s\t%s\t%s\n", a.App.Key(), img.Alias, img.Image, version, relative(t.now.Sub(a.RenderedAt)), last)
	}
	t.endRow()
}

// writeExplanations prints, under an Application's rows, what each of its
// images resolves to now and every candidate with its reason, as the
// resolve command does.
func writeExplanations(w io.Writer, key string, explanations []ImageExplanation) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for _, ex := range explanations {
		switch {
		case ex.Error != "":
			fmt.Fprintf(tw, "  %s %s (%s) now: error: %s\n", key, ex.Alias, ex.Image, ex.Error)
		default:
			fmt.Fprintf(tw, "  %s %s (%s) now: %s\n", key, ex.Alias, ex.Image, ex.Tag)
		}
		for _, c := range ex.Candidates {
			mark := "-"
			if c.Accepted {
				mark = "+"
			}
			fmt.Fprintf(tw, "    %s %s\t%s\n", mark, c.Tag, c.Reason)
		}
	}
	_ = tw.Flush()
}

func shortDigest(d string) string {
	if algo, hex, ok := strings.Cut(d, ":"); ok && len(hex) > 12 {
		return algo + ":" + hex[:12]
	}
	return d
}

// relative prints a duration rounded for people; a negative one (an
// expiry already past) keeps its sign.
func relative(d time.Duration) string {
	sign := ""
	if d < 0 {
		sign, d = "-", -d
	}
	if d < time.Hour {
		return sign + d.Round(time.Second).String()
	}
	return sign + d.Round(time.Minute).String()
}
