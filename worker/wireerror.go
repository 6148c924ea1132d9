package worker

import (
	"errors"

	"github.com/argocd-image-resolver/argocd-image-resolver/cmp"
	"github.com/argocd-image-resolver/argocd-image-resolver/egress"
	"github.com/argocd-image-resolver/argocd-image-resolver/render"
)

// wireError is a render error as it crosses from a worker to the pool:
// its message, and the parts of its chain the server decides on (the
// stage that failed, a failed Kustomize build, a refused connection, a
// passed cap), so that the caller sees the error it would have seen in
// process.
type wireError struct {
	Message string `json:"message"`
	// Stage and Inner split a *render.StageError: Message is
	// Stage + ": " + Inner.
	Stage string `json:"stage,omitempty"`
	Inner string `json:"inner,omitempty"`
	// Kustomize and Path split a *cmp.KustomizeError, Inner holding
	// its cause's text.
	Kustomize bool                 `json:"kustomize,omitempty"`
	Path      string               `json:"path,omitempty"`
	Refused   *egress.RefusedError `json:"refused,omitempty"`
	Budget    bool                 `json:"budget,omitempty"`
	Limit     bool                 `json:"limit,omitempty"`
	// NotCached: the request counted on a chart the worker no longer
	// holds; the pool sends the files again.
	NotCached bool `json:"notCached,omitempty"`
}

// toWire describes err for the pool.
func toWire(err error) *wireError {
	if err == nil {
		return nil
	}
	w := &wireError{Message: err.Error()}
	var se *render.StageError
	var ke *cmp.KustomizeError
	switch {
	case errors.As(err, &se) && se.Err != nil:
		w.Stage, w.Inner = se.Stage, se.Err.Error()
	case errors.As(err, &ke) && ke.Err != nil:
		w.Kustomize, w.Path, w.Inner = true, ke.Path, ke.Err.Error()
	}
	var refused *egress.RefusedError
	if errors.As(err, &refused) {
		w.Refused = refused
	}
	w.Budget = errors.Is(err, egress.ErrBudget)
	w.Limit = errors.Is(err, cmp.ErrRenderLimit)
	w.NotCached = errors.Is(err, render.ErrChartNotCached)
	return w
}

// remoteError is an error a worker reported: its text as the worker wrote
// it, and the typed cause the server decides on.
type remoteError struct {
	msg   string
	cause error
}

func (e *remoteError) Error() string { return e.msg }
func (e *remoteError) Unwrap() error { return e.cause }

// err rebuilds the worker's error in the pool's process.
func (w *wireError) err() error {
	if w == nil {
		return nil
	}
	var causes []error
	if w.Refused != nil {
		causes = append(causes, w.Refused)
	}
	if w.Budget {
		causes = append(causes, egress.ErrBudget)
	}
	if w.Limit {
		causes = append(causes, cmp.ErrRenderLimit)
	}
	cause := errors.Join(causes...)
	switch {
	case w.Stage != "":
		return &render.StageError{Stage: w.Stage, Err: &remoteError{msg: w.Inner, cause: cause}}
	case w.Kustomize:
		return &cmp.KustomizeError{Path: w.Path, Err: &remoteError{msg: w.Inner, cause: cause}}
	}
	return &remoteError{msg: w.Message, cause: cause}
}
