package cmp

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"syscall"
	"time"
)

// SocketPath is where the server listens.
func (s *Server) SocketPath() string {
	return filepath.Join(s.socketDir, s.plugin.SocketName())
}

// Listen creates the socket. A socket file left by a process that is gone
// is replaced; a socket another process still answers on is refused, so
// that two plugins never share one path. Serve calls Listen when it was not
// called before.
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
		if err := checkStale(path); err != nil {
			return err
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
	// Closing must not unlink the path blindly: by then it may belong to
	// another process. Serve removes the file only if it is still ours.
	l.(*net.UnixListener).SetUnlinkOnClose(false)
	fi, err := os.Lstat(path)
	if err != nil {
		_ = l.Close()
		return fmt.Errorf("cmp: socket %s vanished after listening: %w", path, err)
	}
	s.listener, s.socket = l, fi
	if err := s.sweepRenderDir(); err != nil {
		s.listener, s.socket = nil, nil
		_ = l.Close()
		_ = os.Remove(path)
		return err
	}
	return nil
}

// sweepRenderDir empties this server's folder of work directories: the
// socket is ours, so no other live server uses it, and what is there was
// left by a process that was killed mid-render.
func (s *Server) sweepRenderDir() error {
	sum := sha256.Sum256([]byte(s.SocketPath()))
	dir := filepath.Join(s.workDir, "image-resolver-"+hex.EncodeToString(sum[:6]))
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("cmp: removing the leftovers in %s: %w", dir, err)
	}
	if err := os.Mkdir(dir, 0o700); err != nil {
		return fmt.Errorf("cmp: work dir: %w", err)
	}
	s.renderDir = dir
	return nil
}

// checkStale dials an existing socket file: a refused connection means its
// process is gone and the file may be replaced.
func checkStale(path string) error {
	d := net.Dialer{Timeout: time.Second}
	c, err := d.Dial("unix", path)
	switch {
	case err == nil:
		_ = c.Close()
		return fmt.Errorf("cmp: another process answers on %s: stop it, or give this plugin its own socket directory (--socket-dir); two plugins must not share a socket", path)
	case errors.Is(err, syscall.ECONNREFUSED):
		return nil
	default:
		return fmt.Errorf("cmp: cannot tell whether the socket %s is still in use (%w); remove it if no plugin runs", path, err)
	}
}

// Ready reports whether the server is listening and its socket file is
// still the one it created (another process may have replaced or deleted
// it, and the repo-server would then reach that one, or nothing).
func (s *Server) Ready() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	path := s.SocketPath()
	if s.listener == nil {
		return fmt.Errorf("not listening on %s yet", path)
	}
	fi, err := os.Lstat(path)
	if err != nil {
		return fmt.Errorf("socket %s is gone: %w", path, err)
	}
	if !os.SameFile(fi, s.socket) {
		return fmt.Errorf("socket %s was replaced by another process", path)
	}
	return nil
}

// removeSocket deletes the socket file if it is still the one Listen made.
func (s *Server) removeSocket() {
	path := s.SocketPath()
	fi, err := os.Lstat(path)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return
	case err != nil:
		s.logger.Warn("checking socket before removing it", "socket", path, "error", err)
		return
	case s.socket == nil || !os.SameFile(fi, s.socket):
		s.logger.Warn("socket was replaced by another process; leaving it in place", "socket", path)
		return
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		s.logger.Warn("removing socket", "socket", path, "error", err)
	}
}
