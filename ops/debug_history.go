package ops

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/argocd-image-resolver/argocd-image-resolver/refresh"
)

// DefaultDebugHistory is how many history entries of each Application GET
// /debug/apps?history=true lists; ?history=N lists N (the tracker keeps
// refresh.DefaultAppHistorySize).
const DefaultDebugHistory = 20

// ImageHistorySource gives an Application's image history: changes of
// what its aliases resolve to, and candidates gates held back, newest
// first (refresh.Tracker implements it).
type ImageHistorySource interface {
	ImageHistory(ctx context.Context, key string) ([]refresh.HistoryEntry, error)
}

// parseHistoryQuery reads ?history=: true (DefaultDebugHistory entries),
// false, or a number of entries.
func parseHistoryQuery(r *http.Request, q *listQuery) error {
	v := r.URL.Query().Get("history")
	if v == "" {
		return nil
	}
	if n, err := strconv.Atoi(v); err == nil && n >= 0 {
		q.history = n
		return nil
	}
	on, err := strconv.ParseBool(v)
	if err != nil {
		return fmt.Errorf("%w: history=%q: want true, false or a number of entries per Application", errBadQuery, v)
	}
	if on {
		q.history = DefaultDebugHistory
	}
	return nil
}

// appHistory is the newest n entries of an Application's history (none
// when n is 0 or apps keeps no history).
func appHistory(ctx context.Context, apps AppLister, key string, n int) ([]refresh.HistoryEntry, error) {
	src, ok := apps.(ImageHistorySource)
	if n <= 0 || !ok {
		return nil, nil
	}
	entries, err := src.ImageHistory(ctx, key)
	if len(entries) > n {
		entries = entries[:n]
	}
	return entries, err
}

// writeHistory prints, under an Application's rows, its image history,
// newest first: time, alias, change, and the rule and gates that decided
// it or the reason a candidate was held back.
func writeHistory(w io.Writer, key string, entries []refresh.HistoryEntry, err error, now time.Time) {
	switch {
	case err != nil:
		fmt.Fprintf(w, "  %s history: not readable: %v\n", key, err)
		return
	case len(entries) == 0:
		fmt.Fprintf(w, "  %s history: none recorded\n", key)
		return
	}
	fmt.Fprintf(w, "  %s history, newest first:\n", key)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for _, e := range entries {
		why := e.Why()
		if why == "" {
			why = "-"
		}
		fmt.Fprintf(tw, "    %s\t%s ago\t%s\t%s\t%s\n", e.Time.UTC().Format(time.RFC3339), relative(now.Sub(e.Time)), e.Alias, e.Change(), why)
	}
	_ = tw.Flush()
}
