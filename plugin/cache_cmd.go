package plugin

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/argocd-image-resolver/argocd-image-resolver/ops"
)

type cacheOptions struct {
	addr       string
	repository string
	app        string
	limit      int
	explain    bool
	history    bool
	historyN   int
	output     string
	timeout    time.Duration
}

func newCacheCommand() *cobra.Command {
	o := &cacheOptions{}
	cmd := &cobra.Command{
		Use:   "cache",
		Short: "Inspect and purge the running plugin's cache, list tracked apps",
		Long: `cache talks to a running plugin's debug endpoint, which listens on
loopback only (serve's --debug-addr, default 127.0.0.1:8082; not 8081, the
repo-server's own gRPC port in the same pod). From outside the pod, forward
it first:

  kubectl -n argocd port-forward deploy/argocd-repo-server 8082:8082
  argocd-image-resolver cache list --addr http://127.0.0.1:8082`,
		Example: `  argocd-image-resolver cache list
  argocd-image-resolver cache list --repository ghcr.io/acme/web -o json
  argocd-image-resolver cache list --limit 0   # every entry
  argocd-image-resolver cache purge --repository ghcr.io/acme/web
  argocd-image-resolver cache purge            # everything
  argocd-image-resolver cache apps
  argocd-image-resolver cache apps --app argocd/web --explain
  argocd-image-resolver cache apps --app argocd/web --history`,
		// Without RunE cobra prints help and exits 0 for `cache lsit`;
		// a typo must fail.
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error { return c.Help() },
	}
	pf := cmd.PersistentFlags()
	pf.StringVar(&o.addr, "addr", "http://"+ops.DefaultDebugAddr, "debug endpoint URL of the running plugin")
	pf.StringVarP(&o.output, "output", "o", "table", "output format: table or json")
	pf.DurationVar(&o.timeout, "timeout", 10*time.Second, "request timeout")

	list := &cobra.Command{
		Use:   "list [--repository R] [--limit N]",
		Short: "List cache entries (tag lists, digests, metadata, results)",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			q := url.Values{}
			if o.repository != "" {
				q.Set("repository", o.repository)
			}
			q.Set("limit", strconv.Itoa(o.limit))
			return o.call(c.Context(), c.OutOrStdout(), http.MethodGet, "/debug/cache", q, true)
		},
	}
	list.Flags().StringVar(&o.repository, "repository", "", "only entries of this repository")
	list.Flags().IntVar(&o.limit, "limit", ops.DefaultDebugLimit, "list at most this many entries (0: all)")

	purge := &cobra.Command{
		Use:   "purge [--repository R]",
		Short: "Drop cache entries of one repository, or all of them",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			q := url.Values{}
			if o.repository != "" {
				q.Set("repository", o.repository)
			}
			return o.call(c.Context(), c.OutOrStdout(), http.MethodDelete, "/debug/cache", q, false)
		},
	}
	purge.Flags().StringVar(&o.repository, "repository", "", "only entries of this repository (default: all)")

	apps := &cobra.Command{
		Use:   "apps [--app NAMESPACE/NAME [--explain]] [--history] [--limit N]",
		Short: "List tracked Applications, their images, last render, refresh triggers and image history",
		Long: `apps lists the tracked Applications. --app selects one ("namespace/name", or a
name in any namespace); with --explain it also shows what each of its images
resolves to now and every candidate tag with the rule that accepted or dropped
it, recomputed from the plugin's cache.

--history adds each Application's image history, newest first: when an alias
started rendering another version (old → new, with the rule and gates that
decided it) and each newer candidate a gate held back, with the reason. Git
does not record which version ran when; the plugin does, in the store every
replica shares.`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			if o.explain && o.app == "" {
				return fmt.Errorf("--explain needs --app: it resolves every image of one Application")
			}
			q := url.Values{}
			if o.app != "" {
				q.Set("app", o.app)
			}
			if o.explain {
				q.Set("explain", "true")
			}
			if o.history {
				if o.historyN < 1 {
					return fmt.Errorf("--history-limit %d: want at least 1 entry per Application", o.historyN)
				}
				q.Set("history", strconv.Itoa(o.historyN))
			}
			q.Set("limit", strconv.Itoa(o.limit))
			return o.call(c.Context(), c.OutOrStdout(), http.MethodGet, "/debug/apps", q, true)
		},
	}
	apps.Flags().StringVar(&o.app, "app", "", "only this Application: namespace/name, or a name in any namespace")
	apps.Flags().BoolVar(&o.explain, "explain", false, "with --app: what each image resolves to now, and why")
	apps.Flags().IntVar(&o.limit, "limit", ops.DefaultDebugLimit, "list at most this many Applications (0: all)")
	apps.Flags().BoolVar(&o.history, "history", false, "also each Application's image history: version changes and held-back candidates, newest first")
	apps.Flags().IntVar(&o.historyN, "history-limit", ops.DefaultDebugHistory, "with --history: at most this many entries per Application")
	cmd.AddCommand(list, purge, apps)
	return cmd
}

func (o *cacheOptions) call(ctx context.Context, out io.Writer, method, path string, q url.Values, tableCapable bool) error {
	if o.output != "table" && o.output != "json" {
		return fmt.Errorf("-o %q: use table or json", o.output)
	}
	base, err := url.Parse(o.addr)
	if err != nil || (base.Scheme != "http" && base.Scheme != "https") || base.Host == "" {
		return fmt.Errorf("--addr %q: want http://host:port", o.addr)
	}
	u := base.JoinPath(path)
	if tableCapable && o.output == "table" {
		q.Set("format", "table")
	}
	u.RawQuery = q.Encode()
	ctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, u.String(), nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("%s %s: %w (is the plugin running, and the debug port forwarded?)", method, u.Redacted(), err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
		return fmt.Errorf("%s %s: %s: %s", method, u.Redacted(), resp.Status, strings.TrimSpace(string(body)))
	}
	if method == http.MethodGet {
		// Listings are streamed through, never held whole.
		if _, err := io.Copy(out, resp.Body); err != nil {
			return fmt.Errorf("%s %s: %w", method, u.Redacted(), err)
		}
		return nil
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, u.Redacted(), err)
	}
	if o.output == "table" {
		var res ops.PurgeResult
		if err := json.Unmarshal(body, &res); err != nil {
			return fmt.Errorf("decode purge answer: %w", err)
		}
		scope := "all repositories"
		if res.Repository != "" {
			scope = res.Repository
		}
		_, err = fmt.Fprintf(out, "purged %d cache entries of %s\n", res.Removed, scope)
		return err
	}
	_, err = out.Write(body)
	return err
}
