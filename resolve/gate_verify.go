package resolve

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/argocd-image-resolver/argocd-image-resolver/sigverify"
)

// verifyGate holds back a candidate whose digest carries no valid
// signature for the spec's signature policy (package sigverify reads and
// verifies the signatures; verdicts are cached by digest in the store).
// Signatures are read through the spec's own puller: its credential, its
// project's egress rules and the registry's request budget.
type verifyGate struct {
	ctx      context.Context
	policy   string
	verifier *sigverify.Verifier
	repo     name.Repository
	opts     []remote.Option
}

func (g *verifyGate) name() string  { return GateVerify }
func (g *verifyGate) label() string { return "verify " + g.policy }

func (g *verifyGate) check(tag, digest string) (*Held, error) {
	res, err := g.verifier.Verify(g.ctx, g.policy, g.repo.Digest(digest), g.opts...)
	if err != nil {
		return nil, err
	}
	if !res.Verified {
		return &Held{Tag: tag, Digest: digest, Gate: GateVerify, Reason: res.Reason}, nil
	}
	return nil, nil
}

// verifyGateFor builds the verify gate of a spec, or nil without verify.
// A policy registries.conf does not define fails the resolution.
func (r *Resolver) verifyGateFor(meta *repoMetadata) (*verifyGate, error) {
	policy := meta.spec.Options.Verify
	if policy == "" {
		return nil, nil
	}
	if r.verifier == nil || !r.verifier.Has(policy) {
		e := &PolicyNameError{Policy: policy}
		if r.verifier != nil {
			e.Defined = r.verifier.Names()
		}
		return nil, e
	}
	p, err := r.client.puller(meta.access.policy, meta.access.cred, meta.repo)
	if err != nil {
		return nil, err
	}
	return &verifyGate{
		ctx: meta.ctx, policy: policy, verifier: r.verifier, repo: meta.repo,
		opts: []remote.Option{remote.Reuse(p)},
	}, nil
}

// ErrNoSignaturePolicy: a spec's verify names no policy of registries.conf
// (an author's mistake, not a registry's).
var ErrNoSignaturePolicy = errors.New("no such signature policy")

// PolicyNameError is a verify option naming no defined signature policy.
type PolicyNameError struct {
	Policy  string
	Defined []string
}

func (e *PolicyNameError) Error() string {
	defined := "none are defined"
	if len(e.Defined) > 0 {
		defined = "defined: " + strings.Join(e.Defined, ", ")
	}
	return fmt.Sprintf("verify: no signature policy %q in registries.conf signature-policies (%s); ask the Argo CD admins for the policy's name", e.Policy, defined)
}

// Is makes errors.Is(err, ErrNoSignaturePolicy) true.
func (e *PolicyNameError) Is(target error) bool { return target == ErrNoSignaturePolicy }
