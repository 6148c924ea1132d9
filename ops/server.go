package ops

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// DefaultHTTPAddr and DefaultDebugAddr are the listen addresses of the
// service and debug ports. The debug port is not 8081: that is the
// repo-server's own gRPC port, in the same pod and network namespace.
const (
	DefaultHTTPAddr  = ":8080"
	DefaultDebugAddr = "127.0.0.1:8082"
)

// ReadyFunc reports whether the plugin can serve renders (the CMP socket
// is listening); a non-nil error is the reason it cannot.
type ReadyFunc func() error

// NewServiceHandler serves /metrics from gatherer (when not nil), /healthz,
// /readyz (ready while ready returns nil) and /webhook (when webhook is not
// nil).
func NewServiceHandler(gatherer prometheus.Gatherer, ready ReadyFunc, webhook http.Handler) http.Handler {
	mux := http.NewServeMux()
	if gatherer != nil {
		mux.Handle("GET /metrics", promhttp.HandlerFor(gatherer, promhttp.HandlerOpts{}))
	}
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		if ready != nil {
			if err := ready(); err != nil {
				w.WriteHeader(http.StatusServiceUnavailable)
				_, _ = fmt.Fprintf(w, "not ready: %v\n", err)
				return
			}
		}
		_, _ = w.Write([]byte("ready\n"))
	})
	if webhook != nil {
		mux.Handle("/webhook", webhook)
	}
	return mux
}

// IsLoopback reports whether a listen address binds only the loopback
// interface: a loopback IP literal or "localhost". An empty host (":8081")
// binds every interface and is not loopback.
func IsLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// ListenDebug opens the debug listener. The debug port can list and purge
// the cache without authentication, so it binds loopback only (reach it
// with kubectl port-forward). A non-loopback address is accepted only when
// explicit is true, i.e. the operator typed it in --debug-addr; any other
// origin (a default, an environment variable) is refused.
func ListenDebug(addr string, explicit bool, log *slog.Logger) (net.Listener, error) {
	if !IsLoopback(addr) {
		if !explicit {
			return nil, fmt.Errorf("debug address %q is not a loopback address: the debug endpoint is unauthenticated; use 127.0.0.1:<port>, or pass --debug-addr=%s explicitly to expose it", addr, addr)
		}
		if log != nil {
			log.Warn("debug endpoint bound to a non-loopback address: anyone reaching it can list and purge the cache", "addr", addr)
		}
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("debug listener on %s: %w", addr, err)
	}
	return ln, nil
}

// Serve serves h on ln until ctx ends, then shuts down gracefully (5 s).
func Serve(ctx context.Context, ln net.Listener, h http.Handler) error {
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       2 * time.Minute,
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := srv.Shutdown(sctx); errors.Is(err, context.DeadlineExceeded) {
			// Connections still open after the grace (a client's spare
			// connection that never sent a request counts as active for
			// 5 s) are closed: stopping is not an error.
			_ = srv.Close()
		}
		if serr := <-errc; serr != nil && !errors.Is(serr, http.ErrServerClosed) {
			return serr
		}
		return nil
	}
}
