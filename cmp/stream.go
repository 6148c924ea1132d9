package cmp

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/argoproj/argo-cd/v3/cmpserver/apiclient"

	"github.com/argocd-image-resolver/argocd-image-resolver/untar"
)

// recvStream is the receiving half shared by the three streaming RPCs.
type recvStream interface {
	Recv() (*apiclient.AppStreamRequest, error)
	Context() context.Context
}

// received is a repository off the stream: in memory, or extracted into a
// private temporary directory.
type received struct {
	meta    *apiclient.ManifestRequestMetadata
	repo    Repo
	app     string // meta.AppRelPath, cleaned, slash-separated
	tempDir string // on disk only; removed by cleanup
}

func (r *received) cleanup() error {
	if r.tempDir == "" {
		return nil
	}
	return os.RemoveAll(r.tempDir)
}

// errTooLarge marks a stream over the tarball size cap.
var errTooLarge = errors.New("repository tarball too large")

// receiveMeta reads the metadata message of one stream and checks what it
// announces, before anything touches the disk.
func (s *Server) receiveMeta(stream recvStream) (*apiclient.ManifestRequestMetadata, error) {
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
	return meta, nil
}

// receiveRepo reads the tarball chunks that follow the metadata, verifies
// the checksum and unpacks the repository: into memory while the tarball
// and its contents stay within the in-memory budget and it holds no
// symbolic link, else into a work directory. On success the caller must
// call cleanup; on error nothing is left behind.
func (s *Server) receiveRepo(ctx context.Context, stream recvStream, meta *apiclient.ManifestRequestMetadata) (_ *received, err error) {
	app := path.Clean(filepath.ToSlash(meta.GetAppRelPath()))
	if app == "" {
		app = "."
	}
	r := &received{meta: meta, app: app}
	defer func() {
		if err != nil {
			_ = r.cleanup()
		}
	}()
	var buf bytes.Buffer
	var spill *os.File // the tarball on disk once it passed the memory budget
	defer func() {
		if spill != nil {
			spill.Close()
		}
	}()
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
		chunk := f.GetChunk()
		size += int64(len(chunk))
		if size > s.maxTarSize {
			return nil, fmt.Errorf("%w: the repository tarball exceeds the %d-byte limit (--max-tar-size); exclude large files with Argo CD's reposerver.plugin.tar.exclusions",
				errTooLarge, s.maxTarSize)
		}
		hash.Write(chunk)
		if spill == nil && size > s.maxMemoryRepo {
			if spill, err = s.spillFile(r); err != nil {
				return nil, err
			}
			if _, err := spill.Write(buf.Bytes()); err != nil {
				return nil, fmt.Errorf("writing the repository tarball under %s: %w", s.workDir, err)
			}
			buf = bytes.Buffer{}
		}
		if spill != nil {
			if _, err := spill.Write(chunk); err != nil {
				return nil, fmt.Errorf("writing the repository tarball under %s: %w", s.workDir, err)
			}
			continue
		}
		buf.Write(chunk)
	}
	if got := hex.EncodeToString(hash.Sum(nil)); !strings.EqualFold(got, meta.GetChecksum()) {
		return nil, inputError("repository tarball checksum mismatch: metadata says %q, received %d bytes hashing to %q", meta.GetChecksum(), size, got)
	}
	lim := Limits{MaxFiles: s.maxFiles, MaxBytes: s.maxExtracted}
	var tgz io.Reader
	if spill == nil {
		tree, err := untar.ExtractMemory(bytes.NewReader(buf.Bytes()), lim, s.maxMemoryRepo)
		switch {
		case err == nil:
			r.repo = MemoryRepo(tree)
		case errors.Is(err, untar.ErrNeedsDisk):
			tgz = bytes.NewReader(buf.Bytes())
		default:
			return nil, err
		}
	} else {
		if _, err := spill.Seek(0, io.SeekStart); err != nil {
			return nil, err
		}
		tgz = spill
	}
	if tgz != nil {
		if r.tempDir == "" {
			if err := s.makeTempDir(r); err != nil {
				return nil, err
			}
		}
		root := filepath.Join(r.tempDir, "repo")
		if err := os.Mkdir(root, 0o700); err != nil {
			return nil, err
		}
		if err := Extract(tgz, root, lim); err != nil {
			return nil, err
		}
		if spill != nil {
			spill.Close()
			if err := os.Remove(spill.Name()); err != nil {
				return nil, err
			}
			spill = nil
		}
		r.repo = DiskRepo(root)
	}
	if fi, err := r.repo.stat(app); err != nil || !fi.IsDir() {
		return nil, inputError("application path %q is not a directory in the repository", meta.GetAppRelPath())
	}
	return r, nil
}

// makeTempDir gives r a work directory of its own.
func (s *Server) makeTempDir(r *received) error {
	s.mu.Lock()
	renderDir := s.renderDir
	s.mu.Unlock()
	if renderDir == "" {
		return errors.New("receiving a repository before the server listens")
	}
	dir, err := os.MkdirTemp(renderDir, "render-")
	if err != nil {
		return fmt.Errorf("creating a work directory under %s (--work-dir): %w", s.workDir, err)
	}
	r.tempDir = dir
	return nil
}

// spillFile is where a tarball over the in-memory budget goes.
func (s *Server) spillFile(r *received) (*os.File, error) {
	if err := s.makeTempDir(r); err != nil {
		return nil, err
	}
	return os.CreateTemp(r.tempDir, "repo-*.tgz")
}
