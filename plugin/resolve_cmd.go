package plugin

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/argocd-image-resolver/argocd-image-resolver/resolve"
)

type resolveFlags struct {
	options        []string
	registriesConf string
	output         string
	timeout        time.Duration
	insecure       bool
}

func newResolveCommand() *cobra.Command {
	f := &resolveFlags{}
	cmd := &cobra.Command{
		Use:   "resolve SPEC...",
		Short: "Show what image specs resolve to, and why, without a cluster",
		Long: `resolve asks the registries which tag each image spec picks right now and
lists every candidate tag with the rule that accepted or dropped it.

A spec is [alias=]image[:constraint-or-tag], as in the plugin's "images"
parameter. Per-alias options are given with --option alias.key=value, as in
"image-options" (update-strategy, allow-tags, ignore-tags, platforms,
pull-secret, override-tag, pin, ...).

Credentials come from the docker config (DOCKER_CONFIG), from
--registries-conf (argocd-image-updater's registries.conf format) and from the
cloud helpers for ECR, GCR/Artifact Registry and ACR. The exit code is
non-zero when any spec fails; the error names the alias, image, registry and
cause.`,
		Example: `  # Highest 1.6.x of an image
  argocd-image-resolver resolve 'web=ghcr.io/acme/web:~1.6'

  # Newest build among tags matching a pattern, for one platform, as JSON
  argocd-image-resolver resolve 'job=ghcr.io/acme/job' \
    --option job.update-strategy=newest-build \
    --option 'job.allow-tags=regexp:^main-' \
    --option job.platforms=linux/arm64 -o json

  # Follow a mutable tag by digest, with registry credentials
  argocd-image-resolver resolve 'api=registry.example.com/acme/api:main' \
    --option api.update-strategy=digest --registries-conf registries.conf`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runResolve(cmd, args, f)
		},
	}
	fl := cmd.Flags()
	fl.StringArrayVar(&f.options, "option", nil, "per-alias option alias.key=value (repeatable)")
	fl.StringVar(&f.registriesConf, "registries-conf", "", "registries.conf file (credentials, limits, default registry)")
	fl.StringVarP(&f.output, "output", "o", "table", "output format: table or json")
	fl.DurationVar(&f.timeout, "timeout", 60*time.Second, "give up after this long")
	fl.BoolVar(&f.insecure, "insecure", false, "allow plain HTTP to every registry (loopback and private addresses use it anyway)")
	return cmd
}

func runResolve(cmd *cobra.Command, args []string, f *resolveFlags) error {
	if f.output != "table" && f.output != "json" {
		return fmt.Errorf("--output %q: use table or json", f.output)
	}
	options := make(map[string]string, len(f.options))
	for _, o := range f.options {
		key, value, ok := strings.Cut(o, "=")
		if !ok || strings.TrimSpace(key) == "" {
			return fmt.Errorf("--option %q: write alias.key=value, e.g. web.update-strategy=semver", o)
		}
		options[strings.TrimSpace(key)] = value
	}
	specs, err := resolve.ParseSpecs(args, options)
	if err != nil {
		return err
	}

	opts := []resolve.Option{
		resolve.WithLogger(slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), &slog.HandlerOptions{Level: slog.LevelWarn}))),
	}
	if f.registriesConf != "" {
		conf, err := resolve.LoadRegistriesConfig(f.registriesConf)
		if err != nil {
			return err
		}
		opts = append(opts, resolve.WithRegistriesConfig(conf))
	}
	if f.insecure {
		opts = append(opts, resolve.WithInsecure())
	}
	r, err := resolve.New(opts...)
	if err != nil {
		return err
	}
	ctx := cmd.Context()
	if f.timeout > 0 {
		var cancel func()
		ctx, cancel = context.WithTimeout(ctx, f.timeout)
		defer cancel()
	}
	results, resolveErr := r.Resolve(ctx, specs)

	out := cmd.OutOrStdout()
	if f.output == "json" {
		if results == nil {
			results = []resolve.Result{}
		}
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		if err := enc.Encode(struct {
			Results []resolve.Result `json:"results"`
		}{results}); err != nil {
			return err
		}
	} else if err := writeResolveTable(out, results); err != nil {
		return err
	}
	return resolveErr
}

// writeResolveTable prints one block per spec: what was picked, from
// where, and every candidate with its reason.
func writeResolveTable(w io.Writer, results []resolve.Result) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for i, res := range results {
		if i > 0 {
			fmt.Fprintln(tw)
		}
		ref := res.Image
		if res.Constraint != "" {
			ref += ":" + res.Constraint
		}
		fmt.Fprintf(tw, "%s\t%s\n", res.Alias, ref)
		switch {
		case res.Pinned:
			fmt.Fprintf(tw, "  tag:\t%s (pinned by override-tag; registry not asked)\n", res.Tag)
		case res.Paused:
			fmt.Fprintf(tw, "  tag:\t(paused by ignore-tags \"*\"; the chart's value is kept)\n")
		default:
			fmt.Fprintf(tw, "  strategy:\t%s\n", res.Strategy)
			fmt.Fprintf(tw, "  tag:\t%s\n", res.Tag)
			fmt.Fprintf(tw, "  digest:\t%s\n", res.Digest)
			fmt.Fprintf(tw, "  source:\t%s\n", res.Source)
		}
		if len(res.Candidates) > 0 {
			fmt.Fprintf(tw, "  candidates:\n")
			for _, c := range res.Candidates {
				mark := "-"
				if c.Accepted {
					mark = "+"
				}
				fmt.Fprintf(tw, "    %s %s\t%s\n", mark, c.Tag, c.Reason)
			}
		}
	}
	return tw.Flush()
}
