package plugin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
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
	project        string
	strictSemver   bool
	maxCandidates  int
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
cloud helpers for ECR, GCR/Artifact Registry and ACR; pull-secret names a
registries.conf entry. With the allowed and projects rules of registries.conf,
--project checks the specs as the plugin does for an Application of that
AppProject. The exit code is non-zero when any spec fails; the error names
the alias, image, registry and cause.`,
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
	fl.StringVar(&f.project, "project", "", "AppProject whose registries.conf rules apply (ARGOCD_APP_PROJECT_NAME of the plugin)")
	addStrictSemverFlag(fl, &f.strictSemver)
	fl.IntVar(&f.maxCandidates, "max-candidates", 0, "list at most this many candidates per spec, best first (0: all)")
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
	specs, err := resolve.ParseSpecs(args, options, resolve.StrictSemverByDefault(f.strictSemver))
	if err != nil {
		return err
	}
	for i := range specs {
		specs[i].Project = f.project
	}

	r, _, err := newResolver(resolverConfig{
		logger:         slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), &slog.HandlerOptions{Level: slog.LevelWarn})),
		registriesConf: f.registriesConf,
		insecure:       f.insecure,
	})
	if err != nil {
		return err
	}
	ctx := cmd.Context()
	if f.timeout > 0 {
		var cancel func()
		ctx, cancel = context.WithTimeout(ctx, f.timeout)
		defer cancel()
	}
	outs := make([]resolveOutput, len(specs))
	errs := make([]error, len(specs))
	var wg sync.WaitGroup
	for i, spec := range specs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Candidates are not cached with results: Explain recomputes
			// them from the tag list.
			ex, err := r.Explain(ctx, spec)
			errs[i] = err
			outs[i] = newResolveOutput(spec, ex, err, f.maxCandidates)
		}()
	}
	wg.Wait()

	out := cmd.OutOrStdout()
	if f.output == "json" {
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		if err := enc.Encode(struct {
			Results []resolveOutput `json:"results"`
		}{outs}); err != nil {
			return err
		}
	} else if err := writeResolveTable(out, outs); err != nil {
		return err
	}
	return errors.Join(errs...)
}

// resolveOutput is one spec's answer: the result and its candidates (also
// when resolution failed, with the candidates seen), the reference its pin
// mode renders, and the error.
type resolveOutput struct {
	resolve.Explanation
	// Reference is what a chart renders with helm.image-name and the tag
	// path written (repo:tag, repo@digest or repo:tag@digest).
	Reference         string `json:"reference,omitempty"`
	Pin               string `json:"pin,omitempty"`
	CandidatesOmitted int    `json:"candidatesOmitted,omitempty"`
	Error             string `json:"error,omitempty"`
}

func newResolveOutput(spec resolve.Spec, ex resolve.Explanation, err error, maxCandidates int) resolveOutput {
	res := ex.Result
	o := resolveOutput{Explanation: ex, Pin: spec.Options.Pin}
	if o.Candidates == nil {
		o.Candidates = []resolve.Candidate{}
	}
	if maxCandidates > 0 && len(o.Candidates) > maxCandidates {
		o.CandidatesOmitted = len(o.Candidates) - maxCandidates
		o.Candidates = o.Candidates[:maxCandidates]
	}
	if err != nil {
		o.Error = err.Error()
		return o
	}
	switch {
	case res.Paused || res.Tag == "":
	case res.Pinned || spec.Options.Pin == resolve.PinTag || res.Digest == "":
		o.Reference = spec.Image + ":" + res.Tag
	case spec.Options.Pin == resolve.PinDigest:
		o.Reference = spec.Image + "@" + res.Digest
	default:
		o.Reference = spec.Image + ":" + res.Tag + "@" + res.Digest
	}
	return o
}

// writeResolveTable prints one block per spec: what was picked, from
// where, and every candidate with its reason.
func writeResolveTable(w io.Writer, outs []resolveOutput) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for i, o := range outs {
		if i > 0 {
			fmt.Fprintln(tw)
		}
		ref := o.Image
		if o.Constraint != "" {
			ref += ":" + o.Constraint
		}
		if o.Repository != "" && o.Repository != o.Image {
			ref += " (" + o.Repository + ")"
		}
		fmt.Fprintf(tw, "%s  %s\n", o.Alias, ref)
		switch {
		case o.Error != "":
			fmt.Fprintf(tw, "  error:\t%s\n", o.Error)
		case o.Pinned && o.Warning != "":
			fmt.Fprintf(tw, "  tag:\t%s (pinned by override-tag; %s)\n", o.Tag, o.Warning)
		case o.Pinned:
			fmt.Fprintf(tw, "  tag:\t%s (pinned by override-tag; the registry has it: %s)\n", o.Tag, o.Digest)
		case o.Paused:
			fmt.Fprintf(tw, "  tag:\t(paused by ignore-tags \"*\"; the chart's value is kept)\n")
		default:
			fmt.Fprintf(tw, "  strategy:\t%s\n", o.Strategy)
			fmt.Fprintf(tw, "  tag:\t%s\n", o.Tag)
			fmt.Fprintf(tw, "  digest:\t%s\n", o.Digest)
			fmt.Fprintf(tw, "  source:\t%s\n", o.Source)
			fmt.Fprintf(tw, "  pin:\t%s → %s\n", o.Pin, o.Reference)
			if o.Rule != "" {
				fmt.Fprintf(tw, "  rule:\t%s\n", o.Rule)
			}
			if o.Followed != nil {
				fmt.Fprintf(tw, "  followed:\t%s (from its %s)\n", o.Followed.App, o.Followed.From)
			}
			if len(o.Gates) > 0 {
				fmt.Fprintf(tw, "  accepted by:\t%s\n", strings.Join(o.Gates, ", "))
			}
			for i, h := range o.HeldBack {
				label := "  held back:"
				if i > 0 {
					label = ""
				}
				line := fmt.Sprintf("%s %s", h.Tag, h.Reason)
				if !h.EligibleAt.IsZero() {
					line += "; eligible at " + h.EligibleAt.UTC().Format(time.RFC3339)
				}
				fmt.Fprintf(tw, "%s\t%s\n", label, line)
			}
		}
		if len(o.Candidates) > 0 {
			fmt.Fprintf(tw, "  candidates:\n")
			for _, c := range o.Candidates {
				mark := "-"
				if c.Accepted {
					mark = "+"
				}
				fmt.Fprintf(tw, "    %s %s\t%s\n", mark, c.Tag, c.Reason)
			}
			if o.CandidatesOmitted > 0 {
				fmt.Fprintf(tw, "    ... %d more (--max-candidates)\n", o.CandidatesOmitted)
			}
		}
	}
	return tw.Flush()
}
