package ops

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/argocd-image-resolver/argocd-image-resolver/refresh"
	"github.com/argocd-image-resolver/argocd-image-resolver/resolve"
)

// Cache is what the debug endpoint needs from the resolver
// (resolve.Resolver implements it).
type Cache interface {
	Snapshot() []resolve.Entry
	Invalidate(repository string) int
}

// AppLister lists tracked apps (refresh.Tracker implements it).
type AppLister interface {
	Apps() []refresh.AppStatus
}

// CacheListing is the JSON answer of GET /debug/cache.
type CacheListing struct {
	Repository string          `json:"repository,omitempty"`
	Entries    []resolve.Entry `json:"entries"`
}

// PurgeResult is the JSON answer of DELETE /debug/cache.
type PurgeResult struct {
	Repository string `json:"repository,omitempty"`
	Removed    int    `json:"removed"`
}

// AppsListing is the JSON answer of GET /debug/apps.
type AppsListing struct {
	Apps    []refresh.AppStatus `json:"apps"`
	History []refresh.Trigger   `json:"history"`
}

// HistorySource gives the global trigger history (refresh.Tracker
// implements it).
type HistorySource interface {
	History() []refresh.Trigger
}

// NewDebugHandler serves GET and DELETE /debug/cache and GET /debug/apps.
// apps may be nil (no refresher configured). Responses hold cache keys,
// summaries and tracked apps: no credential is ever part of them (the
// resolver scrubs error messages, the tracker strips user info from URLs).
func NewDebugHandler(cache Cache, apps AppLister, now func() time.Time) http.Handler {
	if now == nil {
		now = time.Now
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /debug/cache", func(w http.ResponseWriter, r *http.Request) {
		repo := r.URL.Query().Get("repository")
		entries := filterEntries(cache.Snapshot(), repo)
		if r.URL.Query().Get("format") == "table" {
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			WriteCacheTable(w, entries, now())
			return
		}
		writeJSON(w, http.StatusOK, CacheListing{Repository: repo, Entries: entries})
	})
	mux.HandleFunc("DELETE /debug/cache", func(w http.ResponseWriter, r *http.Request) {
		repo := r.URL.Query().Get("repository")
		writeJSON(w, http.StatusOK, PurgeResult{Repository: repo, Removed: cache.Invalidate(repo)})
	})
	mux.HandleFunc("GET /debug/apps", func(w http.ResponseWriter, r *http.Request) {
		listing := AppsListing{Apps: []refresh.AppStatus{}, History: []refresh.Trigger{}}
		if apps != nil {
			listing.Apps = apps.Apps()
			if h, ok := apps.(HistorySource); ok {
				listing.History = h.History()
			}
		}
		if r.URL.Query().Get("format") == "table" {
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			WriteAppsTable(w, listing.Apps, now())
			return
		}
		writeJSON(w, http.StatusOK, listing)
	})
	return mux
}

func filterEntries(entries []resolve.Entry, repo string) []resolve.Entry {
	out := []resolve.Entry{}
	want := refresh.CanonicalRepository(strings.TrimSpace(repo))
	for _, e := range entries {
		if repo == "" || e.Repository == want || refresh.CanonicalRepository(e.Repository) == want {
			out = append(out, e)
		}
	}
	return out
}

// WriteCacheTable prints entries for people.
func WriteCacheTable(w io.Writer, entries []resolve.Entry, now time.Time) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "LAYER\tREPOSITORY\tKEY\tSTATE\tAGE\tEXPIRES\tHITS\tSUMMARY")
	for _, e := range entries {
		state := "fresh"
		switch {
		case e.Negative:
			state = "error"
		case e.Stale:
			state = "stale"
		}
		expires := "never"
		if !e.ExpiresAt.IsZero() {
			expires = relative(e.ExpiresAt.Sub(now))
		}
		summary := e.Summary
		if e.LastError != "" {
			summary += " (last error: " + e.LastError + ")"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%d\t%s\n", e.Layer, e.Repository, e.Key, state,
			relative(now.Sub(e.CachedAt)), expires, e.Hits, summary)
	}
	_ = tw.Flush()
}

// WriteAppsTable prints tracked apps for people, one line per image.
func WriteAppsTable(w io.Writer, apps []refresh.AppStatus, now time.Time) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "APP\tALIAS\tIMAGE\tRENDERED\tRENDERED AGO\tLAST TRIGGER")
	for _, a := range apps {
		last := "-"
		if t := a.LastTrigger; t != nil {
			last = fmt.Sprintf("%s %s ago", t.Result, relative(now.Sub(t.Time)))
		}
		if len(a.Images) == 0 {
			fmt.Fprintf(tw, "%s\t-\t-\t-\t%s\t%s\n", a.App.Key(), relative(now.Sub(a.RenderedAt)), last)
		}
		for _, img := range a.Images {
			version := img.Tag
			if img.Digest != "" {
				version += "@" + shortDigest(img.Digest)
			}
			if img.Pinned {
				version += " (pinned)"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", a.App.Key(), img.Alias, img.Image, version, relative(now.Sub(a.RenderedAt)), last)
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
