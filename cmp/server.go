// Package cmp is Argo CD's side of the plugin: the Config Management Plugin
// gRPC service the repo-server calls over a unix socket, safe extraction of
// the repository stream, decoding of the Application's parameters and
// environment, discovery and parameter announcement.
//
// Trust boundary: the server's options (flags, registries.conf,
// plugin.yaml, mounted files) are admin input. Everything in a stream is
// author input, from the Application's team: the repository tarball (and
// the Chart.yaml in it), the parameters (ARGOCD_APP_PARAMETERS), the plugin
// env (ARGOCD_ENV_*, IMAGE_LIST) and .argocd-image-resolver.yaml. Only the
// variables Argo CD itself sets (ARGOCD_APP_NAME, ARGOCD_APP_PROJECT_NAME,
// ...) identify the Application; authors cannot set them, since their env
// arrives prefixed ARGOCD_ENV_. Author input is extracted within the work
// directory, may name registries.conf entries but no file, variable or
// program of the sidecar, and connects only where the project's rules
// allow.
package cmp

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"runtime/debug"
	"sync"
	"time"

	"github.com/argoproj/argo-cd/v3/cmpserver/apiclient"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/emptypb"

	"github.com/argocd-image-resolver/argocd-image-resolver/render"
)

// Defaults of the server options.
const (
	DefaultSocketDir     = "/home/argocd/cmp-server/plugins"
	DefaultMaxTarSize    = 256 << 20
	DefaultMaxExtracted  = 1 << 30
	DefaultMaxMemoryRepo = 64 << 20
	DefaultMaxFiles      = 100_000
	DefaultGracePeriod   = 25 * time.Second
	// deadlineBuffer is taken off the caller's deadline so that the error
	// reaches the repo-server before its own timeout fires.
	deadlineBuffer = 200 * time.Millisecond
)

// Server serves ConfigManagementPluginService on a unix socket.
type Server struct {
	pipeline  Pipeline
	recorder  Recorder
	observe   func(time.Duration, error)
	plugin    *PluginConfig
	logger    *slog.Logger
	socketDir string
	workDir   string
	// renderDir holds the renders' work directories: a folder of
	// workDir named after the socket, owned by this server once Listen
	// made the socket its own, and emptied then of what a killed
	// process left.
	renderDir    string
	maxTarSize   int64
	maxExtracted int64
	// maxMemoryRepo is the in-memory budget of one repository: its
	// tarball and its contents (0: always on disk).
	maxMemoryRepo int64
	maxFiles      int
	grace         time.Duration
	slots         *slots

	mu       sync.Mutex
	listener net.Listener
	// socket is the file Listen created; only that file is removed on
	// shutdown, and readiness checks the path still holds it.
	socket   os.FileInfo
	inflight sync.WaitGroup
}

// New builds a Server around a resolver.
func New(resolver Resolver, opts ...Option) (*Server, error) {
	if resolver == nil {
		return nil, errors.New("cmp: a resolver is required")
	}
	s := &Server{
		pipeline:      Pipeline{Resolver: resolver, Renderer: HelmRenderer{Charts: render.NewChartCache(0)}},
		logger:        slog.Default(),
		socketDir:     os.Getenv("ARGOCD_PLUGINSOCKFILEPATH"),
		workDir:       os.TempDir(),
		maxTarSize:    DefaultMaxTarSize,
		maxExtracted:  DefaultMaxExtracted,
		maxMemoryRepo: DefaultMaxMemoryRepo,
		maxFiles:      DefaultMaxFiles,
		grace:         DefaultGracePeriod,
		slots:         newSlots(4),
	}
	if s.socketDir == "" {
		s.socketDir = DefaultSocketDir
	}
	for _, o := range opts {
		if err := o(s); err != nil {
			return nil, fmt.Errorf("cmp: %w", err)
		}
	}
	s.pipeline.Logger = s.logger
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
	s.removeSocket()
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

// requestContext is the stream's context with the deadline moved a little
// earlier, so the error reaches the caller before it gives up.
func requestContext(ctx context.Context) (context.Context, context.CancelFunc) {
	if d, ok := ctx.Deadline(); ok {
		return context.WithDeadline(ctx, d.Add(-deadlineBuffer))
	}
	return context.WithCancel(ctx)
}

// withRepo reads the stream's metadata, takes a render slot (fairly
// between AppProjects), receives and extracts the repository, runs fn in a
// goroutine that holds the repository, and waits for fn or the deadline.
// The repository is removed when fn returns, even after the caller gave
// up, and only then is the slot given back: a render's disk and work stay
// inside its slot. A result that fn produced always wins over the deadline
// or cancellation that follows it: only this handler cancels the context,
// once it has its answer.
func (s *Server) withRepo(stream recvStream, fn func(ctx context.Context, repo *received, cfg *Config) error) (string, error) {
	ctx, cancel := requestContext(stream.Context())
	defer cancel()
	s.inflight.Add(1)
	meta, err := s.receiveMeta(stream)
	if err != nil {
		s.inflight.Done()
		return "", err
	}
	env := EnvFromEntries(meta.GetEnv())
	appRef := AppFromEnv(env)
	app := appRef.String()
	if app == "" {
		app = meta.GetAppName()
	}
	release, err := s.slots.acquire(ctx, appRef.Project)
	if err != nil {
		s.inflight.Done()
		return app, err
	}
	repo, err := s.receiveRepo(ctx, stream, meta)
	if err != nil {
		release()
		s.inflight.Done()
		return app, err
	}
	// Cancelled when this call returns, not when the render goroutine
	// does: cancelled there, right after it sent its result, ctx.Done and
	// the result would be ready together, and the select below could pick
	// a cancellation the render caused itself.
	defer cancel()
	done := make(chan error, 1)
	go func() {
		defer s.inflight.Done()
		defer release()
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
		cfg, err := LoadConfig(env, repo.repo, repo.app)
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
	// error naming the alias or stage; prefer it over a bare deadline. A
	// render that finished in the meantime is answered as it is.
	timer := time.NewTimer(deadlineBuffer / 2)
	defer timer.Stop()
	select {
	case err := <-done:
		if err != nil && !errors.Is(err, ctx.Err()) {
			err = fmt.Errorf("%w: %w", ctx.Err(), err)
		}
		return app, err
	case <-timer.C:
		return app, fmt.Errorf("%w: the render did not finish in time", ctx.Err())
	}
}

var _ apiclient.ConfigManagementPluginServiceServer = (*Server)(nil)

// GenerateManifest implements ConfigManagementPluginService.
func (s *Server) GenerateManifest(stream apiclient.ConfigManagementPluginService_GenerateManifestServer) error {
	start := time.Now()
	var manifests []string
	app, err := s.withRepo(stream, func(ctx context.Context, repo *received, cfg *Config) error {
		gen, err := s.pipeline.Generate(ctx, cfg, repo.repo, repo.app)
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
		supported, err = s.plugin.Match(repo.repo, repo.app)
		return err
	})
	if err != nil {
		return toStatus(app, err)
	}
	return stream.SendAndClose(&apiclient.RepositoryResponse{IsSupported: supported, IsDiscoveryEnabled: true})
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
