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
	"github.com/redis/go-redis/v9"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"golang.org/x/sync/errgroup"

	"github.com/argocd-image-resolver/argocd-image-resolver/cmp"
	"github.com/argocd-image-resolver/argocd-image-resolver/ops"
	"github.com/argocd-image-resolver/argocd-image-resolver/refresh"
	"github.com/argocd-image-resolver/argocd-image-resolver/resolve"
	"github.com/argocd-image-resolver/argocd-image-resolver/store"
	"github.com/argocd-image-resolver/argocd-image-resolver/worker"
)

// serveOptions are the flags of `serve`.
type serveOptions struct {
	socketDir       string
	workDir         string
	pluginConfig    string
	parallelism     int
	renderWorkers   int
	renderMemory    int64
	renderOutput    int64
	maxTarSize      int64
	maxExtracted    int64
	maxMemoryRepo   int64
	maxFiles        int
	gracePeriod     time.Duration
	cacheTTL        time.Duration
	staleTTL        time.Duration
	memoryTTL       time.Duration
	registryTimeout time.Duration
	maxTags         int
	maxTagListBytes int64
	redis           RedisOptions
	registriesConf  string
	maxDepBytes     int64
	strictSemver    bool
	annotate        bool
	imageFields     string
	logFormat       string
	logLevel        string
	// ops are the flags of the HTTP side and the refresher.
	ops opsOptions
	// observe, when set, is shown the wiring before serve serves (tests).
	observe func(*serveWiring)
}

// serveCommandOption configures the serve command (for tests).
type serveCommandOption func(*serveOptions)

// observeWiring shows f what serve wired, before it serves.
func observeWiring(f func(*serveWiring)) serveCommandOption {
	return func(o *serveOptions) { o.observe = f }
}

// serveWiring is what `serve` builds before it starts serving. The HTTP
// side and the refresher (opsOptions.wire) read the shared parts and add
// CMP options and background runners.
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
	// SocketReady is set before Ready is closed: it reports whether the
	// socket file is still this process's own (for /readyz).
	SocketReady func() error
	// Redis is the client of Argo CD's Redis when the shared store is on
	// (nil otherwise; see RedisOptions). With it the replicas share the
	// cache and the tracker, and the refresher runs on one elected
	// replica only.
	Redis redis.UniversalClient
	// OnInvalidation is told each repository another replica invalidated
	// ("" for all), when the store is shared.
	OnInvalidation func(repository string)
	// TrackerStore is where the tracker keeps its data: Redis with a
	// local copy when Redis is configured, nil for the tracker's own
	// memory.
	TrackerStore store.Store
	// Follow answers the resolver's follow specs; opsOptions.wire binds
	// it to the tracker, which is built after the resolver.
	Follow *refresh.FollowLater
}

func newServeCommand(opts ...serveCommandOption) *cobra.Command {
	o := &serveOptions{}
	for _, opt := range opts {
		opt(o)
	}
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Serve the Argo CD config management plugin on a unix socket (the repo-server sidecar)",
		Long: `serve runs the plugin as a sidecar of argocd-repo-server. It listens on
<socket-dir>/<name>-<version>.sock (name and version from plugin.yaml) and
answers the repo-server's ConfigManagementPluginService calls: it receives
the repository, resolves the Application's images through a cache and
renders the Helm chart, builds the kustomization or rewrites the manifests.
Helm renders and Kustomize builds run in render worker processes
(--render-workers), stopped when a render passes its deadline or
--render-memory-limit.

The cache and the record of rendered Applications live in memory, or, when
--redis or $REDIS_SERVER names a Redis (Argo CD's own), in Redis shared with
the sidecars of the other repo-server replicas, with an in-process layer in
front. A failing Redis never fails a render: it is bypassed until it
answers again.

It stops on SIGTERM or SIGINT: it stops accepting, lets in-flight renders
finish within --grace-period and removes its socket.`,
		Example: `  # In the repo-server pod (the socket dir is the shared plugins volume):
  argocd-image-resolver serve

  # Locally, with a registries config and readable logs:
  argocd-image-resolver serve --socket-dir /tmp/plugins --registries-conf registries.conf --log-format text

  # Sharing state with other replicas through Argo CD's Redis:
  REDIS_SERVER=argocd-redis:6379 argocd-image-resolver serve`,
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
	f.IntVar(&o.renderWorkers, "render-workers", 0, "render worker processes kept running (default: --parallelism); a render that passes its deadline is stopped by killing its worker")
	f.Int64Var(&o.renderMemory, "render-memory-limit", DefaultRenderMemoryLimit, "most resident memory a render worker may use, in bytes: a render over it is stopped and fails (0: no limit)")
	f.Int64Var(&o.renderOutput, "render-max-output", worker.DefaultMaxOutput, "largest manifests one render may return, in bytes")
	f.Int64Var(&o.maxTarSize, "max-tar-size", cmp.DefaultMaxTarSize, "largest repository tarball accepted, in bytes")
	f.Int64Var(&o.maxExtracted, "max-extracted-bytes", cmp.DefaultMaxExtracted, "largest total size of extracted repository files, in bytes")
	f.Int64Var(&o.maxMemoryRepo, "max-memory-repo", cmp.DefaultMaxMemoryRepo, "in-memory budget of one repository (its tarball and contents), in bytes: a larger one, or one with symbolic links, is extracted to --work-dir (0: always)")
	f.IntVar(&o.maxFiles, "max-files", cmp.DefaultMaxFiles, "most entries accepted in a repository tarball")
	f.DurationVar(&o.gracePeriod, "grace-period", cmp.DefaultGracePeriod, "how long shutdown waits for in-flight renders")
	f.DurationVar(&o.cacheTTL, "cache-ttl", resolve.DefaultCacheTTL, "how long tag lists, tag digests and results stay fresh")
	f.DurationVar(&o.staleTTL, "stale-ttl", resolve.DefaultStaleTTL, "how long an expired entry is kept to answer when its registry fails")
	f.DurationVar(&o.memoryTTL, "memory-ttl", resolve.DefaultMemoryTTL, "with Redis: how long the in-process layer answers before it checks Redis again (an invalidation from another replica drops it at once)")
	f.DurationVar(&o.registryTimeout, "registry-timeout", resolve.DefaultRegistryTimeout, "bound of one registry lookup; it runs under this deadline, not the render's, so a render that gives up does not abort it")
	f.IntVar(&o.maxTags, "max-tags", resolve.DefaultMaxTags, "most tags one repository's tag list may hold; a longer list fails the image with an error naming the repository")
	f.Int64Var(&o.maxTagListBytes, "max-tag-list-bytes", resolve.DefaultMaxTagListBytes, "most bytes of one repository's tag list answers, all pages together")
	o.redis.AddFlags(f)
	f.StringVar(&o.registriesConf, "registries-conf", "", "registries config file (argocd-image-updater's registries.conf keys, plus the allowed and projects rules)")
	f.Int64Var(&o.maxDepBytes, "max-dependency-bytes", cmp.DefaultMaxDependencyBytes, "most bytes the chart dependency downloads of one render may read")
	addStrictSemverFlag(f, &o.strictSemver)
	f.StringVar(&o.imageFields, "image-fields", "", `file of extra image fields of custom resources that <alias>.rewrite: "true" writes into, in Kustomize's image field spec format (images: [{path: spec/template/spec/containers[]/image, kind: Foo, group: example.com}])`)
	f.BoolVar(&o.annotate, "annotate", false, `annotate every rendered workload with the provenance of each image it runs ("argocd-image-resolver/image.<alias>": image, constraint, tag, digest, rule, gates); without it only aliases with <alias>.annotate: "true"`)
	addLogFlags(f, &o.logFormat, &o.logLevel)
	o.ops.addFlags(f)
	return cmd
}

// addStrictSemverFlag declares --strict-semver, the default of the
// per-alias strict-semver option.
func addStrictSemverFlag(f *pflag.FlagSet, strict *bool) {
	f.BoolVar(strict, "strict-semver", true, `default of the strict-semver image option: only MAJOR.MINOR.PATCH tags are semver candidates; false reads "1.2" and "20240601" as versions, as argocd-image-updater does`)
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

func runServe(ctx context.Context, logOut io.Writer, o *serveOptions) error {
	logger, err := newLogger(logOut, o.logFormat, o.logLevel)
	if err != nil {
		return err
	}
	plugin, err := cmp.LoadPluginConfig(o.pluginConfig)
	if err != nil {
		return err
	}
	imageFields, err := loadImageFields(o.imageFields)
	if err != nil {
		return err
	}
	w := &serveWiring{
		Logger:  logger,
		Metrics: ops.NewRegistry(),
		Plugin:  plugin,
		Ready:   make(chan struct{}),
		Follow:  &refresh.FollowLater{},
	}
	ropts := []resolve.Option{resolve.WithCacheTTL(o.cacheTTL), resolve.WithStaleTTL(o.staleTTL),
		resolve.WithMetrics(w.Metrics), resolve.WithMemoryTTL(o.memoryTTL), resolve.WithRegistryTimeout(o.registryTimeout),
		resolve.WithMaxTags(o.maxTags), resolve.WithMaxTagListBytes(o.maxTagListBytes), resolve.WithFollowSource(w.Follow)}
	if w.Redis, err = NewRedisClient(&o.redis); err != nil {
		return err
	}
	if w.Redis != nil {
		defer func() { _ = w.Redis.Close() }()
		redis.SetLogger(redisLogger{log: logger})
		shared := store.NewRedis(w.Redis, store.WithTimeout(o.redis.Timeout), store.WithLogger(logger),
			store.WithMetrics(store.NewMetrics(w.Metrics)))
		if err := shared.Ping(ctx); err != nil {
			logger.Warn("Redis not reachable at start: renders use memory and the registries until it answers", "redis", o.redis.Describe(), "error", err)
		} else {
			logger.Info("sharing the cache and the tracker in Redis", "redis", o.redis.Describe())
		}
		ropts = append(ropts, resolve.WithStore(shared))
		w.TrackerStore = store.NewFallback(shared, store.NewMemory())
	}
	var conf *resolve.RegistriesConfig
	w.Resolver, conf, err = newResolver(resolverConfig{logger: logger, registriesConf: o.registriesConf, options: ropts})
	if err != nil {
		return err
	}
	if err := o.ops.wire(ctx, w); err != nil {
		return err
	}
	if w.Redis != nil {
		// A push announced to another replica (webhook, notify, purge)
		// wakes this one's refresher, which acts if it leads.
		onInvalidate := w.OnInvalidation
		w.Runners = append(w.Runners, func(ctx context.Context) error {
			return w.Resolver.WatchInvalidations(ctx, onInvalidate)
		})
	}
	pool, err := o.renderPool(logger, w.Metrics)
	if err != nil {
		return err
	}
	defer pool.Close()
	srv, err := cmp.New(w.Resolver, append([]cmp.Option{
		cmp.WithRenderer(pool),
		cmp.WithKustomizer(pool),
		cmp.WithSocketDir(o.socketDir),
		cmp.WithWorkDir(o.workDir),
		cmp.WithParallelism(o.parallelism),
		cmp.WithMaxTarSize(o.maxTarSize),
		cmp.WithMaxExtractedBytes(o.maxExtracted),
		cmp.WithMaxMemoryRepo(o.maxMemoryRepo),
		cmp.WithMaxFiles(o.maxFiles),
		cmp.WithGracePeriod(o.gracePeriod),
		cmp.WithRules(conf),
		cmp.WithMaxDependencyBytes(o.maxDepBytes),
		cmp.WithLogger(logger),
		cmp.WithPluginConfig(plugin),
		cmp.WithStrictSemver(o.strictSemver),
		cmp.WithAnnotate(o.annotate),
		cmp.WithImageFields(imageFields),
	}, w.CMPOptions...)...)
	if err != nil {
		return err
	}
	if err := srv.Listen(); err != nil {
		return err
	}
	w.SocketReady = srv.Ready
	close(w.Ready)
	if o.observe != nil {
		o.observe(w)
	}

	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return srv.Serve(gctx) })
	for _, run := range w.Runners {
		g.Go(func() error { return run(gctx) })
	}
	return g.Wait()
}

// DefaultRenderMemoryLimit is the memory a render worker may use by
// default; the install's container memory limit is sized for --parallelism
// workers at this limit plus the server itself.
const DefaultRenderMemoryLimit = 256 << 20

// renderPool starts the render workers: this binary's render-worker
// command, one per render slot unless --render-workers says otherwise.
func (o *serveOptions) renderPool(logger *slog.Logger, reg prometheus.Registerer) (*worker.Pool, error) {
	n := o.renderWorkers
	if n == 0 {
		n = o.parallelism
	}
	newCmd, err := workerCommand(o.logFormat, o.logLevel, o.renderOutput)
	if err != nil {
		return nil, err
	}
	pool, err := worker.New(newCmd, worker.WithSize(n), worker.WithMemoryLimit(o.renderMemory),
		worker.WithMaxOutput(o.renderOutput), worker.WithLogger(logger), worker.WithMetrics(worker.NewMetrics(reg)))
	if err != nil {
		return nil, fmt.Errorf("--render-workers, --render-memory-limit, --render-max-output: %w", err)
	}
	return pool, nil
}
