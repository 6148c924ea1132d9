// Package cmp is Argo CD's side of the plugin: the Config Management Plugin
// gRPC service the repo-server calls over a unix socket, safe extraction of
// the repository stream, decoding of the Application's parameters and
// environment, discovery and parameter announcement.
package cmp

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"runtime/debug"
	"sort"
	"sync"
	"time"

	"github.com/argoproj/argo-cd/v3/cmpserver/apiclient"
	repoapiclient "github.com/argoproj/argo-cd/v3/reposerver/apiclient"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/emptypb"

	"github.com/argocd-image-resolver/argocd-image-resolver/resolve"
)

// Defaults of the server options.
const (
	DefaultSocketDir    = "/home/argocd/cmp-server/plugins"
	DefaultMaxTarSize   = 256 << 20
	DefaultMaxExtracted = 1 << 30
	DefaultMaxFiles     = 100_000
	DefaultGracePeriod  = 25 * time.Second
	// deadlineBuffer is taken off the caller's deadline so that the error
	// reaches the repo-server before its own timeout fires.
	deadlineBuffer = 200 * time.Millisecond
)

// Server serves ConfigManagementPluginService on a unix socket.
type Server struct {
	pipeline     Pipeline
	recorder     Recorder
	observe      func(time.Duration, error)
	plugin       *PluginConfig
	logger       *slog.Logger
	socketDir    string
	workDir      string
	maxTarSize   int64
	maxExtracted int64
	maxFiles     int
	grace        time.Duration
	slots        chan struct{}

	mu       sync.Mutex
	listener net.Listener
	inflight sync.WaitGroup
}

// Option configures a Server.
type Option func(*Server) error

// WithSocketDir sets the socket directory (default $ARGOCD_PLUGINSOCKFILEPATH
// or DefaultSocketDir).
func WithSocketDir(dir string) Option {
	return func(s *Server) error { s.socketDir = dir; return nil }
}

// WithWorkDir sets where repository tarballs are received and extracted
// (default os.TempDir()); each render uses its own subdirectory.
func WithWorkDir(dir string) Option {
	return func(s *Server) error { s.workDir = dir; return nil }
}

// WithMaxTarSize caps the compressed repository stream, in bytes.
func WithMaxTarSize(n int64) Option {
	return func(s *Server) error {
		if n <= 0 {
			return fmt.Errorf("max tar size must be positive, got %d", n)
		}
		s.maxTarSize = n
		return nil
	}
}

// WithMaxExtractedBytes caps the total size of extracted files.
func WithMaxExtractedBytes(n int64) Option {
	return func(s *Server) error {
		if n <= 0 {
			return fmt.Errorf("max extracted bytes must be positive, got %d", n)
		}
		s.maxExtracted = n
		return nil
	}
}

// WithMaxFiles caps the number of entries in a repository tarball.
func WithMaxFiles(n int) Option {
	return func(s *Server) error {
		if n <= 0 {
			return fmt.Errorf("max files must be positive, got %d", n)
		}
		s.maxFiles = n
		return nil
	}
}

// WithParallelism bounds concurrent renders (default: 4).
func WithParallelism(n int) Option {
	return func(s *Server) error {
		if n <= 0 {
			return fmt.Errorf("parallelism must be positive, got %d", n)
		}
		s.slots = make(chan struct{}, n)
		return nil
	}
}

// WithGracePeriod bounds how long shutdown waits for in-flight renders.
func WithGracePeriod(d time.Duration) Option {
	return func(s *Server) error { s.grace = d; return nil }
}

// WithLogger sets the logger (default slog.Default()).
func WithLogger(l *slog.Logger) Option {
	return func(s *Server) error { s.logger = l; return nil }
}

// WithRecorder is told about every successful render.
func WithRecorder(r Recorder) Option {
	return func(s *Server) error { s.recorder = r; return nil }
}

// WithRenderObserver is told how long every GenerateManifest took and
// whether it failed (for the render duration histogram).
func WithRenderObserver(f func(time.Duration, error)) Option {
	return func(s *Server) error { s.observe = f; return nil }
}

// WithRenderer replaces the Helm renderer.
func WithRenderer(r Renderer) Option {
	return func(s *Server) error { s.pipeline.Renderer = r; return nil }
}

// WithPluginConfig sets the plugin spec (default: the embedded plugin.yaml).
func WithPluginConfig(c *PluginConfig) Option {
	return func(s *Server) error { s.plugin = c; return nil }
}

// New builds a Server around a resolver.
func New(resolver Resolver, opts ...Option) (*Server, error) {
	if resolver == nil {
		return nil, errors.New("cmp: a resolver is required")
	}
	s := &Server{
		pipeline:     Pipeline{Resolver: resolver, Renderer: HelmRenderer{}},
		logger:       slog.Default(),
		socketDir:    os.Getenv("ARGOCD_PLUGINSOCKFILEPATH"),
		workDir:      os.TempDir(),
		maxTarSize:   DefaultMaxTarSize,
		maxExtracted: DefaultMaxExtracted,
		maxFiles:     DefaultMaxFiles,
		grace:        DefaultGracePeriod,
		slots:        make(chan struct{}, 4),
	}
	if s.socketDir == "" {
		s.socketDir = DefaultSocketDir
	}
	for _, o := range opts {
		if err := o(s); err != nil {
			return nil, fmt.Errorf("cmp: %w", err)
		}
	}
	if s.plugin == nil {
		c, err := LoadPluginConfig("")
		if err != nil {
			return nil, err
		}
		s.plugin = c
	}
	if err := os.MkdirAll(s.workDir, 0o700); err != nil {
		return nil, fmt.Errorf("cmp: work dir: %w", err)
	}
	return s, nil
}

// SocketPath is where the server listens.
func (s *Server) SocketPath() string {
	return filepath.Join(s.socketDir, s.plugin.SocketName())
}

// Listen creates the socket, replacing a stale one left by a previous
// process. Serve calls it when it was not called before.
func (s *Server) Listen() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.listener != nil {
		return nil
	}
	path := s.SocketPath()
	if err := os.MkdirAll(s.socketDir, 0o755); err != nil {
		return fmt.Errorf("cmp: socket dir: %w", err)
	}
	if fi, err := os.Lstat(path); err == nil {
		if fi.Mode()&os.ModeSocket == 0 {
			return fmt.Errorf("cmp: %s exists and is not a socket; refusing to remove it", path)
		}
		if err := os.Remove(path); err != nil {
			return fmt.Errorf("cmp: removing stale socket: %w", err)
		}
	}
	var lc net.ListenConfig
	l, err := lc.Listen(context.Background(), "unix", path)
	if err != nil {
		return fmt.Errorf("cmp: listen on %s: %w", path, err)
	}
	s.listener = l
	return nil
}

// Serve serves until ctx is cancelled, then stops accepting, lets in-flight
// renders finish within the grace period and removes the socket.
func (s *Server) Serve(ctx context.Context) error {
	if err := s.Listen(); err != nil {
		return err
	}
	gs := grpc.NewServer(
		grpc.MaxRecvMsgSize(apiclient.MaxGRPCMessageSize),
		grpc.MaxSendMsgSize(apiclient.MaxGRPCMessageSize),
		grpc.ChainUnaryInterceptor(s.recoverUnary),
		grpc.ChainStreamInterceptor(s.recoverStream),
	)
	apiclient.RegisterConfigManagementPluginServiceServer(gs, s)
	hs := health.NewServer()
	healthpb.RegisterHealthServer(gs, hs)

	path := s.SocketPath()
	s.logger.Info("serving Argo CD config management plugin", "socket", path, "plugin", s.plugin.Metadata.Name, "version", s.plugin.Spec.Version)
	errc := make(chan error, 1)
	go func() { errc <- gs.Serve(s.listener) }()

	var err error
	select {
	case err = <-errc:
	case <-ctx.Done():
		hs.Shutdown()
		s.logger.Info("shutting down: finishing in-flight renders", "grace", s.grace)
		stopped := make(chan struct{})
		go func() { gs.GracefulStop(); close(stopped) }()
		timer := time.NewTimer(s.grace)
		select {
		case <-stopped:
			timer.Stop()
		case <-timer.C:
			s.logger.Warn("grace period over: cancelling remaining renders", "grace", s.grace)
			gs.Stop()
			<-stopped
		}
		err = <-errc
	}
	s.inflight.Wait()
	if rmErr := os.Remove(path); rmErr != nil && !errors.Is(rmErr, os.ErrNotExist) {
		s.logger.Warn("removing socket", "socket", path, "error", rmErr)
	}
	if errors.Is(err, grpc.ErrServerStopped) {
		err = nil
	}
	return err
}

// recoverStream turns a panic in a handler into an Internal error instead
// of a crashed sidecar.
func (s *Server) recoverStream(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) (err error) {
	defer func() {
		if r := recover(); r != nil {
			s.logger.Error("panic in handler", "method", info.FullMethod, "panic", r, "stack", string(debug.Stack()))
			err = status.Errorf(codes.Internal, "internal error in %s: %v", info.FullMethod, r)
		}
	}()
	return handler(srv, ss)
}

func (s *Server) recoverUnary(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (resp any, err error) {
	defer func() {
		if r := recover(); r != nil {
			s.logger.Error("panic in handler", "method", info.FullMethod, "panic", r, "stack", string(debug.Stack()))
			err = status.Errorf(codes.Internal, "internal error in %s: %v", info.FullMethod, r)
		}
	}()
	return handler(ctx, req)
}

// acquire takes a render slot, waiting at most until ctx is done.
func (s *Server) acquire(ctx context.Context) (func(), error) {
	select {
	case s.slots <- struct{}{}:
		return func() { <-s.slots }, nil
	case <-ctx.Done():
		return nil, fmt.Errorf("%w (parallelism %d) until the deadline: %w", errBusy, cap(s.slots), ctx.Err())
	}
}

// requestContext is the stream's context with the deadline moved a little
// earlier, so the error reaches the caller before it gives up.
func requestContext(ctx context.Context) (context.Context, context.CancelFunc) {
	if d, ok := ctx.Deadline(); ok {
		return context.WithDeadline(ctx, d.Add(-deadlineBuffer))
	}
	return context.WithCancel(ctx)
}

// withRepo receives and extracts the stream, runs fn in a goroutine that
// holds the repository, and waits for fn or the deadline. The repository
// is removed when fn returns, even after the caller gave up.
func (s *Server) withRepo(stream recvStream, fn func(ctx context.Context, repo *received, cfg *Config) error) (string, error) {
	ctx, cancel := requestContext(stream.Context())
	s.inflight.Add(1)
	repo, err := s.receive(ctx, stream)
	if err != nil {
		cancel()
		s.inflight.Done()
		return "", err
	}
	env := EnvFromEntries(repo.meta.GetEnv())
	app := AppFromEnv(env).String()
	if app == "" {
		app = repo.meta.GetAppName()
	}
	done := make(chan error, 1)
	go func() {
		defer s.inflight.Done()
		defer cancel()
		defer func() {
			if err := repo.cleanup(); err != nil {
				s.logger.Error("removing work directory", "dir", repo.tempDir, "error", err)
			}
		}()
		defer func() {
			if r := recover(); r != nil {
				s.logger.Error("panic while rendering", "app", app, "panic", r, "stack", string(debug.Stack()))
				done <- fmt.Errorf("internal error: %v", r)
			}
		}()
		cfg, err := LoadConfig(env, repo.root, repo.appDir)
		if err != nil {
			done <- err
			return
		}
		done <- fn(ctx, repo, cfg)
	}()
	select {
	case err := <-done:
		return app, err
	case <-ctx.Done():
	}
	// The lower layers honour ctx and usually return at once with an
	// error naming the alias or stage; prefer it over a bare deadline.
	timer := time.NewTimer(deadlineBuffer / 2)
	defer timer.Stop()
	select {
	case err := <-done:
		if err == nil || !errors.Is(err, ctx.Err()) {
			err = fmt.Errorf("%w: %w", ctx.Err(), errOrDone(err))
		}
		return app, err
	case <-timer.C:
		return app, fmt.Errorf("%w: the render did not finish in time", ctx.Err())
	}
}

func errOrDone(err error) error {
	if err == nil {
		return errors.New("finished after the deadline")
	}
	return err
}

var _ apiclient.ConfigManagementPluginServiceServer = (*Server)(nil)

// GenerateManifest implements ConfigManagementPluginService.
func (s *Server) GenerateManifest(stream apiclient.ConfigManagementPluginService_GenerateManifestServer) error {
	start := time.Now()
	var manifests []string
	app, err := s.withRepo(stream, func(ctx context.Context, repo *received, cfg *Config) error {
		release, err := s.acquire(ctx)
		if err != nil {
			return err
		}
		defer release()
		gen, err := s.pipeline.Generate(ctx, cfg, repo.root, repo.appDir)
		if err != nil {
			return err
		}
		registry, cached, stale, pinned := gen.Counts()
		s.logger.Info("rendered",
			"app", cfg.App.String(),
			"path", repo.meta.GetAppRelPath(),
			"duration", time.Since(start).Round(time.Millisecond),
			"images", len(gen.Results),
			"registry", registry,
			"cacheHits", cached,
			"stale", stale,
			"pinned", pinned,
			"manifests", len(gen.Output.Manifests),
		)
		if s.recorder != nil {
			s.recorder.Record(cfg.App, gen.Specs, gen.Results)
		}
		manifests = gen.Output.Manifests
		return nil
	})
	if s.observe != nil {
		s.observe(time.Since(start), err)
	}
	if err != nil {
		s.logger.Warn("render failed", "app", app, "duration", time.Since(start).Round(time.Millisecond), "error", err)
		return toStatus(app, err)
	}
	return stream.SendAndClose(&apiclient.ManifestResponse{Manifests: manifests})
}

// MatchRepository implements ConfigManagementPluginService.
func (s *Server) MatchRepository(stream apiclient.ConfigManagementPluginService_MatchRepositoryServer) error {
	if !s.plugin.DiscoveryConfigured() {
		// Without discovery the answer does not depend on the files: read
		// them off the stream unextracted so the sender completes.
		if err := s.drain(stream); err != nil {
			return toStatus("", err)
		}
		return stream.SendAndClose(&apiclient.RepositoryResponse{IsSupported: false, IsDiscoveryEnabled: false})
	}
	var supported bool
	app, err := s.withRepo(stream, func(_ context.Context, repo *received, _ *Config) error {
		var err error
		supported, err = s.plugin.Match(repo.appDir)
		return err
	})
	if err != nil {
		return toStatus(app, err)
	}
	return stream.SendAndClose(&apiclient.RepositoryResponse{IsSupported: supported, IsDiscoveryEnabled: true})
}

// GetParametersAnnouncement implements ConfigManagementPluginService: the
// static parameters of plugin.yaml, then `image.<alias>` for every
// configured image with the tag it resolves to now.
func (s *Server) GetParametersAnnouncement(stream apiclient.ConfigManagementPluginService_GetParametersAnnouncementServer) error {
	var announced []*repoapiclient.ParameterAnnouncement
	app, err := s.withRepo(stream, func(ctx context.Context, repo *received, cfg *Config) error {
		announced = s.announce(ctx, cfg, repo)
		return nil
	})
	if err != nil {
		return toStatus(app, err)
	}
	return stream.SendAndClose(&apiclient.ParametersAnnouncementResponse{ParameterAnnouncements: announced})
}

func (s *Server) announce(ctx context.Context, cfg *Config, repo *received) []*repoapiclient.ParameterAnnouncement {
	out := make([]*repoapiclient.ParameterAnnouncement, 0, len(s.plugin.Spec.Parameters.Static))
	for _, p := range s.plugin.Spec.Parameters.Static {
		c := *p
		out = append(out, &c)
	}
	if len(cfg.Images) == 0 {
		return out
	}
	res, err := s.pipeline.Resolve(ctx, cfg, repo.root, repo.appDir)
	if err != nil {
		s.logger.Warn("announcing parameters: resolution failed", "app", cfg.App.String(), "error", err)
		return append(out, &repoapiclient.ParameterAnnouncement{
			Name:           AnnouncedImagePrefix + "error",
			Title:          "Image resolution failed",
			Tooltip:        err.Error(),
			CollectionType: "string",
			String_:        err.Error(),
		})
	}
	images := make([]*repoapiclient.ParameterAnnouncement, 0, len(res.Results))
	for i, r := range res.Results {
		images = append(images, announcement(res.Specs[i], r))
	}
	sort.Slice(images, func(i, j int) bool { return images[i].Name < images[j].Name })
	return append(out, images...)
}

func announcement(spec resolve.Spec, r resolve.Result) *repoapiclient.ParameterAnnouncement {
	how := fmt.Sprintf("%s %s", r.Strategy, r.Constraint)
	if r.Pinned {
		how = "pinned"
	}
	tooltip := fmt.Sprintf("Resolved by image-resolver for %s (%s); informational. To pin a version, set image-options %s.override-tag.", spec.Image, how, spec.Alias)
	if r.Digest != "" {
		tooltip += " Digest " + r.Digest + "."
	}
	return &repoapiclient.ParameterAnnouncement{
		Name:           AnnouncedImagePrefix + spec.Alias,
		Title:          spec.Alias + " image (resolved)",
		Tooltip:        tooltip,
		ItemType:       "string",
		CollectionType: "string",
		String_:        r.Tag,
	}
}

// CheckPluginConfiguration implements ConfigManagementPluginService.
func (s *Server) CheckPluginConfiguration(context.Context, *emptypb.Empty) (*apiclient.CheckPluginConfigurationResponse, error) {
	return &apiclient.CheckPluginConfigurationResponse{
		IsDiscoveryConfigured: s.plugin.DiscoveryConfigured(),
		ProvideGitCreds:       false,
	}, nil
}

// drain reads the rest of a stream the server does not need, within the
// tarball size cap.
func (s *Server) drain(stream recvStream) error {
	var size int64
	for {
		msg, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("receiving the repository stream: %w", err)
		}
		size += int64(len(msg.GetFile().GetChunk()))
		if size > s.maxTarSize {
			return fmt.Errorf("%w: the repository tarball exceeds the %d-byte limit (--max-tar-size)", errTooLarge, s.maxTarSize)
		}
	}
}
