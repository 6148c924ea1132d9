package worker

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"runtime/debug"

	"github.com/argocd-image-resolver/argocd-image-resolver/cmp"
	"github.com/argocd-image-resolver/argocd-image-resolver/render"
	"github.com/argocd-image-resolver/argocd-image-resolver/untar"
)

// DefaultMaxOutput caps the manifests of one render, in bytes.
const DefaultMaxOutput = 64 << 20

// OutputLimitError is a render whose manifests passed the output cap.
type OutputLimitError struct{ Size, Limit int64 }

func (e *OutputLimitError) Error() string {
	return fmt.Sprintf("the rendered manifests are %d bytes, over the %d-byte cap of a render (serve --render-max-output)", e.Size, e.Limit)
}

func (e *OutputLimitError) Is(target error) bool { return target == cmp.ErrRenderLimit }

// Serve is a worker: it answers the pool's requests read from in, on out,
// one at a time, until in ends. A panic in a render is answered as an
// error and the worker goes on. logger gets what renders log (the
// dependency fetches' debug detail); maxOutput caps the manifests of one
// render (zero: DefaultMaxOutput).
func Serve(in io.Reader, out io.Writer, logger *slog.Logger, maxOutput int64) error {
	if maxOutput <= 0 {
		maxOutput = DefaultMaxOutput
	}
	s := &session{logger: logger, maxOutput: maxOutput, charts: render.NewChartCache(render.DefaultChartCacheSize)}
	for {
		var req request
		if err := readRequest(in, &req); err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return fmt.Errorf("reading a request: %w", err)
		}
		resp, answer := s.handle(req)
		if !answer {
			continue
		}
		if err := writeFrame(out, resp); err != nil {
			return fmt.Errorf("writing an answer: %w", err)
		}
	}
}

// session is a worker's state: the chart the last prepare loaded.
type session struct {
	logger    *slog.Logger
	maxOutput int64
	prepared  *render.Prepared
	// charts are the charts of repositories in memory this worker loaded.
	charts *render.ChartCache
}

func (s *session) handle(req request) (resp response, answer bool) {
	defer func() {
		if r := recover(); r != nil {
			s.prepared = nil
			s.logger.Error("panic in a render worker", "op", req.Op, "panic", r, "stack", string(debug.Stack()))
			resp, answer = response{Err: toWire(fmt.Errorf("internal error in the render worker: %v", r))}, true
		}
	}()
	switch req.Op {
	case opPrepare:
		return s.prepare(req), true
	case opRender:
		return s.render(req), true
	case opRelease:
		s.prepared = nil
		return response{}, false
	case opKustomize:
		return s.kustomize(req), true
	}
	return response{Err: toWire(fmt.Errorf("unknown render worker operation %q", req.Op))}, true
}

func (s *session) prepare(req request) response {
	s.prepared = nil
	if req.Request == nil {
		return response{Err: toWire(errors.New("prepare without a render request"))}
	}
	r := *req.Request
	r.Dependencies.Logger = s.logger
	if req.Memory {
		tree, err := untar.NewTree(req.Files)
		if err != nil {
			return response{Err: toWire(fmt.Errorf("the files of the render request: %w", err))}
		}
		r.Repo, r.Charts = tree, s.charts
	}
	// The pool stops a render by killing this process; nothing here
	// needs a deadline of its own.
	loads := s.charts.Loads()
	p, err := render.Prepare(context.Background(), r)
	if err != nil {
		return response{Err: toWire(err)}
	}
	loaded := s.charts.Loads() > loads
	pins, err := p.Pins()
	if err != nil {
		return response{PinsErr: toWire(err), ChartLoaded: loaded}
	}
	s.prepared = p
	return response{Pins: pins, ChartLoaded: loaded}
}

func (s *session) render(req request) response {
	p := s.prepared
	s.prepared = nil
	if p == nil {
		return response{Err: toWire(errors.New("render without a prepared chart"))}
	}
	out, err := p.Render(context.Background(), req.Images)
	if err != nil {
		return response{Err: toWire(err)}
	}
	var size int64
	for _, m := range out.Manifests {
		size += int64(len(m))
	}
	if size > s.maxOutput {
		return response{Err: toWire(&OutputLimitError{Size: size, Limit: s.maxOutput})}
	}
	return response{Output: out}
}

// kustomize runs one Kustomize build over the repository of the request,
// which is dropped afterwards.
func (s *session) kustomize(req request) response {
	if req.Kustomize == nil {
		return response{Err: toWire(errors.New("kustomize without a build"))}
	}
	var repo cmp.Repo
	switch {
	case req.Memory:
		tree, err := untar.NewTree(req.Files)
		if err != nil {
			return response{Err: toWire(fmt.Errorf("the files of the Kustomize build: %w", err))}
		}
		repo = cmp.MemoryRepo(tree)
	case req.Root != "":
		repo = cmp.DiskRepo(req.Root)
	default:
		return response{Err: toWire(errors.New("kustomize without a repository"))}
	}
	// As for Helm, the pool stops a build by killing this process.
	docs, err := req.Kustomize.Run(context.Background(), repo)
	if err != nil {
		return response{Err: toWire(err)}
	}
	var size int64
	for _, d := range docs {
		size += int64(len(d))
	}
	if size > s.maxOutput {
		return response{Err: toWire(&OutputLimitError{Size: size, Limit: s.maxOutput})}
	}
	return response{Documents: docs}
}
