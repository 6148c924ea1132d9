package sigverify

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"syscall"

	"github.com/google/go-containerregistry/pkg/v1/remote/transport"

	"github.com/argocd-image-resolver/argocd-image-resolver/registryerror"
)

// PolicyError is a signature policy that New could not load: a missing
// or unreadable file, a key or trust root that does not parse. Its
// message names the policy and the file, never the file's content.
type PolicyError struct {
	Policy string
	// File is the path concerned ("" for a problem of the definition).
	File string
	Err  error
}

func (e *PolicyError) Error() string {
	if e.File == "" {
		return fmt.Sprintf("signature policy %q: %v", e.Policy, e.Err)
	}
	return fmt.Sprintf("signature policy %q: %s: %v", e.Policy, e.File, e.Err)
}

func (e *PolicyError) Unwrap() error { return e.Err }

// ErrUnknownPolicy is matched (errors.Is) by an UnknownPolicyError.
var ErrUnknownPolicy = errors.New("unknown signature policy")

// UnknownPolicyError is a policy name that registries.conf does not define.
type UnknownPolicyError struct {
	Name string
	// Known are the names that are defined.
	Known []string
}

func (e *UnknownPolicyError) Error() string {
	if len(e.Known) == 0 {
		return fmt.Sprintf("unknown signature policy %q: registries.conf defines no signature-policies", e.Name)
	}
	return fmt.Sprintf("unknown signature policy %q; registries.conf defines %s", e.Name, strings.Join(e.Known, ", "))
}

// Is makes errors.Is(err, ErrUnknownPolicy) hold.
func (e *UnknownPolicyError) Is(target error) bool { return target == ErrUnknownPolicy }

// CheckError is a verification that could not be done: the registry did
// not answer, or answered with an error. It is not a verdict and is never
// cached. Its message carries the HTTP status and registry error codes,
// never an answer's body; Unwrap gives the underlying error.
type CheckError struct {
	Policy string
	Image  string
	// Op is what was being done ("list referrers", "read the cosign
	// signature tag", ...).
	Op  string
	Err error
}

func (e *CheckError) Error() string {
	return fmt.Sprintf("could not check the signatures of %s for policy %q: %s: %s", e.Image, e.Policy, e.Op, describe(e.Err))
}

func (e *CheckError) Unwrap() error { return e.Err }

// describe says why a registry request failed in our own words: status
// and error codes, or the kind of network failure.
func describe(err error) string {
	var (
		te     *transport.Error
		dns    *net.DNSError
		netErr net.Error
	)
	switch {
	case errors.As(err, &te):
		return registryerror.FromTransport(te)
	case errors.Is(err, context.DeadlineExceeded):
		return "no answer before the deadline"
	case errors.Is(err, context.Canceled):
		return "the request was cancelled"
	case errors.As(err, &dns):
		return "the host name could not be resolved"
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused"
	case errors.As(err, &netErr) && netErr.Timeout():
		return "the connection timed out"
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return "the connection was closed during the request"
	}
	return "the request failed"
}

// isNetError reports whether err is a failure of the connection (not of
// the content read through it).
func isNetError(err error) bool {
	var (
		te     *transport.Error
		netErr net.Error
	)
	return errors.As(err, &te) || errors.As(err, &netErr) ||
		errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) ||
		errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.ECONNRESET)
}
