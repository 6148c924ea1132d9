package plugin

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"golang.org/x/sync/errgroup"

	"github.com/argocd-image-resolver/argocd-image-resolver/cmp"
	"github.com/argocd-image-resolver/argocd-image-resolver/resolve"
)

// serveOptions are the flags of `serve`.
type serveOptions struct {
	socketDir      string
	workDir        string
	pluginConfig   string
	parallelism    int
	maxTarSize     int64
	maxExtracted   int64
	maxFiles       int
	gracePeriod    time.Duration
	cacheTTL       time.Duration
	staleTTL       time.Duration
	registriesConf string
	logFormat      string
	logLevel       string
}

// serveWiring is what `serve` builds before it starts serving. Extensions
// (the HTTP server for metrics, health and webhooks, the refresher) read
// the shared parts and add CMP options and background runners.
type serveWiring struct {
	Logger   *slog.Logger
	Resolver *resolve.Resolver
	// Metrics is the registry the resolver reports to; serve it on
	// /metrics.
	Metrics *prometheus.Registry
	Plugin  *cmp.PluginConfig
	// CMPOptions are applied to the CMP server after serve's own (for
	// example cmp.WithRecorder).
	CMPOptions []cmp.Option
	// Runners run beside the CMP server until ctx is cancelled; the first
	// error stops the process.
	Runners []func(ctx context.Context) error
	// Ready is closed once the CMP socket is listening (for /readyz).
	Ready chan struct{}
}

// serveExtension adds flags to `serve` and wires itself in.
type serveExtension struct {
	Flags func(fs *pflag.FlagSet)
	Wire  func(ctx context.Context, w *serveWiring) error
}

// serveExtensions are registered by other files of this package from
// init() with registerServeExtension, so that serve.go needs no edit.
var serveExtensions []serveExtension

func registerServeExtension(e serveExtension) { serveExtensions = append(serveExtensions, e) }

func newServeCommand() *cobra.Command {
	o := &serveOptions{}
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Serve the Argo CD config management plugin on a unix socket (the repo-server sidecar)",
		Long: `serve runs the plugin as a sidecar of argocd-repo-server. It listens on
<socket-dir>/<name>-<version>.sock (name and version from plugin.yaml) and
answers the repo-server's ConfigManagementPluginService calls: it receives
the repository, resolves the Application's images through an in-memory
cache and renders the Helm chart in process.

It stops on SIGTERM or SIGINT: it stops accepting, lets in-flight renders
finish within --grace-period and removes its socket.`,
		Example: `  # In the repo-server pod (the socket dir is the shared plugins volume):
  argocd-image-resolver serve

  # Locally, with a registries config and readable logs:
  argocd-image-resolver serve --socket-dir /tmp/plugins --registries-conf registries.conf --log-format text`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runServe(cmd.Context(), cmd.ErrOrStderr(), o)
		},
	}
	f := cmd.Flags()
	defSocket := os.Getenv("ARGOCD_PLUGINSOCKFILEPATH")
	if defSocket == "" {
		defSocket = cmp.DefaultSocketDir
	}
	f.StringVar(&o.socketDir, "socket-dir", defSocket, "directory of the plugin socket (default $ARGOCD_PLUGINSOCKFILEPATH or "+cmp.DefaultSocketDir+")")
	f.StringVar(&o.workDir, "work-dir", os.TempDir(), "where repository tarballs are received and extracted; give the sidecar its own, not the repo-server's /tmp")
	f.StringVar(&o.pluginConfig, "plugin-config", "", "plugin.yaml to use instead of the built-in copy")
	f.IntVar(&o.parallelism, "parallelism", 4, "renders run at once; more wait for a slot until their deadline")
	f.Int64Var(&o.maxTarSize, "max-tar-size", cmp.DefaultMaxTarSize, "largest repository tarball accepted, in bytes")
	f.Int64Var(&o.maxExtracted, "max-extracted-bytes", cmp.DefaultMaxExtracted, "largest total size of extracted repository files, in bytes")
	f.IntVar(&o.maxFiles, "max-files", cmp.DefaultMaxFiles, "most entries accepted in a repository tarball")
	f.DurationVar(&o.gracePeriod, "grace-period", cmp.DefaultGracePeriod, "how long shutdown waits for in-flight renders")
	f.DurationVar(&o.cacheTTL, "cache-ttl", resolve.DefaultCacheTTL, "how long tag lists, tag digests and results stay fresh")
	f.DurationVar(&o.staleTTL, "stale-ttl", resolve.DefaultStaleTTL, "how long an expired entry is kept to answer when its registry fails")
	f.StringVar(&o.registriesConf, "registries-conf", "", "registries config file (argocd-image-updater's registries.conf keys)")
	addLogFlags(f, &o.logFormat, &o.logLevel)
	for _, e := range serveExtensions {
		if e.Flags != nil {
			e.Flags(f)
		}
	}
	return cmd
}

// addLogFlags declares --log-format and --log-level.
func addLogFlags(f *pflag.FlagSet, format, level *string) {
	f.StringVar(format, "log-format", "", "log format: json or text (default text on a terminal, json otherwise)")
	f.StringVar(level, "log-level", "info", "log level: debug, info, warn or error")
}

// newLogger builds the slog logger of a command writing to w.
func newLogger(w io.Writer, format, level string) (*slog.Logger, error) {
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level %q: want debug, info, warn or error", level)
	}
	opts := &slog.HandlerOptions{Level: lvl}
	if format == "" {
		format = "json"
		if isTerminal(w) {
			format = "text"
		}
	}
	switch strings.ToLower(format) {
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("--log-format %q: want json or text", format)
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// resolverOptions are the resolver settings shared by serve and generate.
func resolverOptions(logger *slog.Logger, registriesConf string, cacheTTL, staleTTL time.Duration) ([]resolve.Option, error) {
	opts := []resolve.Option{resolve.WithLogger(logger), resolve.WithCacheTTL(cacheTTL), resolve.WithStaleTTL(staleTTL)}
	if registriesConf != "" {
		conf, err := resolve.LoadRegistriesConfig(registriesConf)
		if err != nil {
			return nil, err
		}
		opts = append(opts, resolve.WithRegistriesConfig(conf))
	}
	return opts, nil
}

func runServe(ctx context.Context, logOut io.Writer, o *serveOptions) error {
	logger, err := newLogger(logOut, o.logFormat, o.logLevel)
	if err != nil {
		return err
	}
	plugin, err := cmp.LoadPluginConfig(o.pluginConfig)
	if err != nil {
		return err
	}
	w := &serveWiring{
		Logger:  logger,
		Metrics: prometheus.NewRegistry(),
		Plugin:  plugin,
		Ready:   make(chan struct{}),
	}
	ropts, err := resolverOptions(logger, o.registriesConf, o.cacheTTL, o.staleTTL)
	if err != nil {
		return err
	}
	w.Resolver, err = resolve.New(append(ropts, resolve.WithMetrics(w.Metrics))...)
	if err != nil {
		return err
	}
	for _, e := range serveExtensions {
		if e.Wire != nil {
			if err := e.Wire(ctx, w); err != nil {
				return err
			}
		}
	}
	srv, err := cmp.New(w.Resolver, append([]cmp.Option{
		cmp.WithSocketDir(o.socketDir),
		cmp.WithWorkDir(o.workDir),
		cmp.WithParallelism(o.parallelism),
		cmp.WithMaxTarSize(o.maxTarSize),
		cmp.WithMaxExtractedBytes(o.maxExtracted),
		cmp.WithMaxFiles(o.maxFiles),
		cmp.WithGracePeriod(o.gracePeriod),
		cmp.WithLogger(logger),
		cmp.WithPluginConfig(plugin),
	}, w.CMPOptions...)...)
	if err != nil {
		return err
	}
	if err := srv.Listen(); err != nil {
		return err
	}
	close(w.Ready)

	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return srv.Serve(gctx) })
	for _, run := range w.Runners {
		g.Go(func() error { return run(gctx) })
	}
	return g.Wait()
}
