package resolve

import (
	"context"
	"crypto/tls"
	"net/http"
	"sync"

	"github.com/argocd-image-resolver/argocd-image-resolver/egress"
)

// Registry requests pass through three layers: policyTag names the policy
// of the spec that makes them (every request of a Puller, token realms
// and redirects included), limitTransport applies the per-host limits
// shared by all policies, and router sends each request through the
// egress transport of its policy, where its host and its dialled address
// are checked.

type policyContextKey struct{}

// policyTag marks each request with the policy it is made under.
type policyTag struct {
	policy *egress.Policy
	next   http.RoundTripper
}

func (t policyTag) RoundTrip(req *http.Request) (*http.Response, error) {
	return t.next.RoundTrip(req.WithContext(context.WithValue(req.Context(), policyContextKey{}, t.policy)))
}

// router sends a request through the pooled egress transport of its
// policy. Pools exist per policy (so a connection made under one policy
// never serves another) and per TLS mode.
type router struct {
	pool     *transportPool
	insecure bool
}

func (r router) RoundTrip(req *http.Request) (*http.Response, error) {
	p, _ := req.Context().Value(policyContextKey{}).(*egress.Policy)
	return r.pool.get(p, r.insecure).RoundTrip(req)
}

// insecureTLS is the router for registries marked insecure in
// registries.conf: TLS certificates are not verified.
func (r router) insecureTLS() http.RoundTripper { return router{pool: r.pool, insecure: true} }

type poolKey struct {
	policy   *egress.Policy
	insecure bool
}

// transportPool builds egress transports on first use. Policies come from
// registries.conf, so the pool is bounded by its projects.
type transportPool struct {
	opts []egress.Option

	mu sync.Mutex
	m  map[poolKey]*http.Transport
}

func (p *transportPool) get(policy *egress.Policy, insecure bool) *http.Transport {
	if policy == nil {
		policy = egress.Unrestricted()
	}
	key := poolKey{policy, insecure}
	p.mu.Lock()
	defer p.mu.Unlock()
	if t, ok := p.m[key]; ok {
		return t
	}
	t := egress.NewTransport(policy, p.opts...)
	if insecure {
		t.TLSClientConfig = &tls.Config{InsecureSkipVerify: true} //nolint:gosec // registries.conf insecure: true asks for this
	}
	if p.m == nil {
		p.m = map[poolKey]*http.Transport{}
	}
	p.m[key] = t
	return t
}

// transports hands each Puller the chain for its policy.
type transports struct {
	limits http.RoundTripper // the shared limitTransport over a router
}

func (t *transports) forPolicy(p *egress.Policy) http.RoundTripper {
	return policyTag{policy: p, next: t.limits}
}
