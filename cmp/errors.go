package cmp

import (
	"context"
	"errors"
	"fmt"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/argocd-image-resolver/argocd-image-resolver/egress"
	"github.com/argocd-image-resolver/argocd-image-resolver/resolve"
)

// InputError is a problem with what the Application or the stream asked
// for: fixing it is up to the user, retrying does not help.
type InputError struct{ msg string }

func (e *InputError) Error() string { return e.msg }

func inputError(format string, args ...any) error {
	return &InputError{msg: fmt.Sprintf(format, args...)}
}

// stage names the step an error happened in, for the message.
type stageError struct {
	stage string
	err   error
}

func (e *stageError) Error() string { return e.stage + ": " + e.err.Error() }
func (e *stageError) Unwrap() error { return e.err }

func atStage(stage string, err error) error {
	if err == nil {
		return nil
	}
	return &stageError{stage: stage, err: err}
}

// resolveError marks a failure of the image resolver (registry, cache).
type resolveError struct{ err error }

func (e *resolveError) Error() string { return e.err.Error() }
func (e *resolveError) Unwrap() error { return e.err }

// renderError marks a failure of the chart render (templates, values):
// the chart or its values need fixing.
type renderError struct{ err error }

func (e *renderError) Error() string { return e.err.Error() }
func (e *renderError) Unwrap() error { return e.err }

// toStatus maps an error to the gRPC status the repo-server shows in the
// Application's conditions.
func toStatus(app string, err error) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	if app != "" {
		msg = fmt.Sprintf("application %s: %s", app, msg)
	}
	var in *InputError
	var re *resolveError
	var rnd *renderError
	var refused *egress.RefusedError
	var limit *resolve.LimitError
	var creds *resolve.CredentialError
	switch {
	case errors.As(err, &limit):
		// The plugin's own limiter, not the caller's deadline.
		return status.Error(codes.ResourceExhausted, msg)
	case errors.As(err, &creds):
		return status.Error(codes.FailedPrecondition, msg)
	case errors.Is(err, context.DeadlineExceeded):
		return status.Error(codes.DeadlineExceeded, msg+" (the caller's deadline passed; raise the repo-server's --repo-server-timeout-seconds / ARGOCD_EXEC_TIMEOUT or check registry latency)")
	case errors.Is(err, context.Canceled):
		return status.Error(codes.Canceled, msg)
	case errors.Is(err, errTooLarge), errors.Is(err, errBusy), errors.Is(err, ErrRenderLimit):
		return status.Error(codes.ResourceExhausted, msg)
	case errors.Is(err, resolve.ErrNotAllowed), errors.As(err, &refused):
		// Refused by the registries.conf rules (or link-local), for
		// images and chart dependencies alike.
		return status.Error(codes.PermissionDenied, msg)
	case errors.Is(err, ErrUnsafeArchive), errors.As(err, &in), errors.As(err, &rnd), errors.Is(err, resolve.ErrPullSecret),
		errors.Is(err, resolve.ErrNoSignaturePolicy), errors.Is(err, resolve.ErrNotFollowed):
		// The Application's own input is wrong; no retry will help.
		return status.Error(codes.InvalidArgument, msg)
	case errors.Is(err, resolve.ErrNoMatch), errors.Is(err, resolve.ErrPinNotFound):
		return status.Error(codes.FailedPrecondition, msg)
	case errors.As(err, &re):
		return status.Error(codes.Unavailable, msg)
	}
	if s, ok := status.FromError(err); ok && s.Code() != codes.Unknown {
		return status.Error(s.Code(), msg)
	}
	return status.Error(codes.Internal, msg)
}

var errBusy = errors.New("all render slots are busy")

// ErrRenderLimit matches errors of renders stopped by a limit of the
// server (the memory or output cap of a render worker): the chart asks for
// more than the operator allows, whatever its values.
var ErrRenderLimit = errors.New("render limit reached")
