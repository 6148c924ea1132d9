package plugin

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/argocd-image-resolver/argocd-image-resolver/ops"
)

type cacheOptions struct {
	addr       string
	repository string
	output     string
	timeout    time.Duration
}

func newCacheCommand() *cobra.Command {
	o := &cacheOptions{}
	cmd := &cobra.Command{
		Use:   "cache",
		Short: "Inspect and purge the running plugin's cache, list tracked apps",
		Long: `cache talks to a running plugin's debug endpoint, which listens on
loopback only (serve's default is 127.0.0.1:8081; the manifests in
manifests/ move it to 127.0.0.1:8082, because the repo-server's own gRPC port
is 8081 in the same pod). From outside the pod, forward it first:

  kubectl -n argocd port-forward deploy/argocd-repo-server 8082:8082
  argocd-image-resolver cache list --addr http://127.0.0.1:8082`,
		Example: `  argocd-image-resolver cache list
  argocd-image-resolver cache list --repository ghcr.io/acme/web -o json
  argocd-image-resolver cache purge --repository ghcr.io/acme/web
  argocd-image-resolver cache purge            # everything
  argocd-image-resolver cache apps`,
		Args: cobra.NoArgs,
	}
	pf := cmd.PersistentFlags()
	pf.StringVar(&o.addr, "addr", "http://"+ops.DefaultDebugAddr, "debug endpoint URL of the running plugin")
	pf.StringVarP(&o.output, "output", "o", "table", "output format: table or json")
	pf.DurationVar(&o.timeout, "timeout", 10*time.Second, "request timeout")

	list := &cobra.Command{
		Use:   "list [--repository R]",
		Short: "List cache entries (tag lists, digests, metadata, results)",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			return o.call(c.Context(), c.OutOrStdout(), http.MethodGet, "/debug/cache", true)
		},
	}
	list.Flags().StringVar(&o.repository, "repository", "", "only entries of this repository")

	purge := &cobra.Command{
		Use:   "purge [--repository R]",
		Short: "Drop cache entries of one repository, or all of them",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			return o.call(c.Context(), c.OutOrStdout(), http.MethodDelete, "/debug/cache", false)
		},
	}
	purge.Flags().StringVar(&o.repository, "repository", "", "only entries of this repository (default: all)")

	apps := &cobra.Command{
		Use:   "apps",
		Short: "List tracked Applications, their images, last render and refresh triggers",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			return o.call(c.Context(), c.OutOrStdout(), http.MethodGet, "/debug/apps", true)
		},
	}
	cmd.AddCommand(list, purge, apps)
	return cmd
}

func (o *cacheOptions) call(ctx context.Context, out io.Writer, method, path string, tableCapable bool) error {
	if o.output != "table" && o.output != "json" {
		return fmt.Errorf("-o %q: use table or json", o.output)
	}
	base, err := url.Parse(o.addr)
	if err != nil || (base.Scheme != "http" && base.Scheme != "https") || base.Host == "" {
		return fmt.Errorf("--addr %q: want http://host:port", o.addr)
	}
	u := base.JoinPath(path)
	q := url.Values{}
	if o.repository != "" {
		q.Set("repository", o.repository)
	}
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
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, u.Redacted(), err)
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s %s: %s: %s", method, u.Redacted(), resp.Status, strings.TrimSpace(string(body)))
	}
	if method == http.MethodDelete && o.output == "table" {
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
