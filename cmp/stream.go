package cmp

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/argoproj/argo-cd/v3/cmpserver/apiclient"
)

// recvStream is the receiving half shared by the three streaming RPCs.
type recvStream interface {
	Recv() (*apiclient.AppStreamRequest, error)
	Context() context.Context
}

// received is an extracted repository in a private temporary directory.
type received struct {
	meta    *apiclient.ManifestRequestMetadata
	root    string // the extracted repository
	appDir  string // root joined with meta.AppRelPath
	tempDir string // removed by cleanup
}

func (r *received) cleanup() error { return os.RemoveAll(r.tempDir) }

// errTooLarge marks a stream over the tarball size cap.
var errTooLarge = errors.New("repository tarball too large")

// receive reads the metadata message and the tarball chunks of one stream,
// verifies the checksum and extracts the repository. On success the caller
// must call cleanup; on error nothing is left behind.
func (s *Server) receive(ctx context.Context, stream recvStream) (_ *received, err error) {
	first, err := stream.Recv()
	if err != nil {
		return nil, fmt.Errorf("receiving stream metadata: %w", err)
	}
	meta := first.GetMetadata()
	if meta == nil {
		return nil, inputError("the first message of the stream must be the metadata (appName, appRelPath, checksum, size, env)")
	}
	if meta.GetSize_() > s.maxTarSize {
		return nil, fmt.Errorf("%w: the repository tarball is %d bytes, over the %d-byte limit (--max-tar-size); exclude large files with Argo CD's reposerver.plugin.tar.exclusions",
			errTooLarge, meta.GetSize_(), s.maxTarSize)
	}
	rel := filepath.Clean(filepath.FromSlash(meta.GetAppRelPath()))
	if rel != "." && !filepath.IsLocal(rel) {
		return nil, inputError("appRelPath %q leaves the repository", meta.GetAppRelPath())
	}

	tempDir, err := os.MkdirTemp(s.workDir, "render-")
	if err != nil {
		return nil, fmt.Errorf("creating a work directory under %s (--work-dir): %w", s.workDir, err)
	}
	defer func() {
		if err != nil {
			_ = os.RemoveAll(tempDir)
		}
	}()

	tgz, err := os.CreateTemp(tempDir, "repo-*.tgz")
	if err != nil {
		return nil, err
	}
	defer tgz.Close()
	hash := sha256.New()
	var size int64
	for {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		msg, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("receiving the repository tarball: %w", err)
		}
		f := msg.GetFile()
		if f == nil {
			return nil, inputError("unexpected second metadata message in the stream; only file chunks may follow the metadata")
		}
		size += int64(len(f.GetChunk()))
		if size > s.maxTarSize {
			return nil, fmt.Errorf("%w: the repository tarball exceeds the %d-byte limit (--max-tar-size); exclude large files with Argo CD's reposerver.plugin.tar.exclusions",
				errTooLarge, s.maxTarSize)
		}
		if _, err := tgz.Write(f.GetChunk()); err != nil {
			return nil, fmt.Errorf("writing the repository tarball under %s: %w", s.workDir, err)
		}
		hash.Write(f.GetChunk())
	}
	if got := hex.EncodeToString(hash.Sum(nil)); !strings.EqualFold(got, meta.GetChecksum()) {
		return nil, inputError("repository tarball checksum mismatch: metadata says %q, received %d bytes hashing to %q", meta.GetChecksum(), size, got)
	}
	if _, err := tgz.Seek(0, io.SeekStart); err != nil {
		return nil, err
	}
	root := filepath.Join(tempDir, "repo")
	if err := os.Mkdir(root, 0o700); err != nil {
		return nil, err
	}
	if err := Extract(tgz, root, Limits{MaxFiles: s.maxFiles, MaxBytes: s.maxExtracted}); err != nil {
		return nil, err
	}
	if err := tgz.Close(); err != nil {
		return nil, err
	}
	if err := os.Remove(tgz.Name()); err != nil {
		return nil, err
	}
	appDir := filepath.Join(root, rel)
	fi, err := os.Stat(appDir)
	if err != nil || !fi.IsDir() {
		return nil, inputError("application path %q is not a directory in the repository", meta.GetAppRelPath())
	}
	return &received{meta: meta, root: root, appDir: appDir, tempDir: tempDir}, nil
}
