package egress

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/net/http/httpproxy"
)

// Defaults of the transport's timeouts.
const (
	DefaultDialTimeout           = 10 * time.Second
	DefaultTLSHandshakeTimeout   = 10 * time.Second
	DefaultResponseHeaderTimeout = 30 * time.Second
)

// Timeouts bound the stages of a request that a slow or silent remote can
// stall: the TCP connect, the TLS handshake, and the wait for the response
// headers once the request is sent. Zero fields take the defaults.
type Timeouts struct {
	Dial           time.Duration
	TLSHandshake   time.Duration
	ResponseHeader time.Duration
}

// Option configures NewTransport.
type Option func(*config)

type config struct {
	timeouts Timeouts
	budget   int64
	resolver *net.Resolver
	proxy    *httpproxy.Config
}

// WithTimeouts sets the dial, TLS-handshake and response-header timeouts.
func WithTimeouts(t Timeouts) Option { return func(c *config) { c.timeouts = t } }

// WithByteBudget caps the bytes read over all connections of the transport
// (chart downloads of one render); reads past it fail with *BudgetError.
func WithByteBudget(n int64) Option { return func(c *config) { c.budget = n } }

// WithResolver sets the DNS resolver (default net.DefaultResolver).
func WithResolver(r *net.Resolver) Option { return func(c *config) { c.resolver = r } }

// WithProxy sets the HTTP proxy configuration (default: read from the
// environment, HTTPS_PROXY, HTTP_PROXY and NO_PROXY, when the transport is
// built).
func WithProxy(p *httpproxy.Config) Option { return func(c *config) { c.proxy = p } }

// NewTransport is an HTTP transport whose every request and connection p
// checks: the URL's host before the request is sent (each redirect and
// token realm is a request of its own), the resolved address before each
// connection is made. Connections to the configured proxy are admin
// configuration and are not checked; the proxy resolves the names then.
// Connections are pooled per Transport, so one Transport serves one
// Policy.
func NewTransport(p *Policy, opts ...Option) *http.Transport {
	c := config{}
	for _, o := range opts {
		o(&c)
	}
	if c.proxy == nil {
		c.proxy = httpproxy.FromEnvironment()
	}
	if p == nil {
		p = Unrestricted()
	}
	proxyFor := c.proxy.ProxyFunc()
	proxies := proxyAddrs(c.proxy)
	var b *budget
	if c.budget > 0 {
		b = &budget{limit: c.budget}
		b.left.Store(c.budget)
	}
	dial := c.timeouts.Dial
	if dial <= 0 {
		dial = DefaultDialTimeout
	}
	tlsTimeout := c.timeouts.TLSHandshake
	if tlsTimeout <= 0 {
		tlsTimeout = DefaultTLSHandshakeTimeout
	}
	header := c.timeouts.ResponseHeader
	if header <= 0 {
		header = DefaultResponseHeaderTimeout
	}
	dialContext := func(ctx context.Context, network, addr string) (net.Conn, error) {
		d := net.Dialer{Timeout: dial, KeepAlive: 30 * time.Second, Resolver: c.resolver}
		if !proxies[addr] {
			d.Control = func(_, address string, _ syscall.RawConn) error {
				ap, err := netip.ParseAddrPort(address)
				if err != nil {
					return fmt.Errorf("egress: unexpected dial address %q: %w", address, err)
				}
				return p.checkAddr(addr, ap.Addr())
			}
		}
		conn, err := d.DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		if b != nil {
			return &budgetConn{Conn: conn, b: b}, nil
		}
		return conn, nil
	}
	return &http.Transport{
		Proxy: func(req *http.Request) (*url.URL, error) {
			if err := p.CheckHost(req.URL.Host); err != nil {
				return nil, err
			}
			proxy, err := proxyFor(req.URL)
			if err != nil || proxy == nil {
				return proxy, err
			}
			// The proxy resolves the name and connects; what the name
			// resolves to here is checked first (a name only the proxy
			// can resolve is left to it).
			return proxy, checkProxied(req.Context(), p, c.resolver, req.URL.Host)
		},
		DialContext:           dialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          100,
		MaxIdleConnsPerHost:   16,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   tlsTimeout,
		ResponseHeaderTimeout: header,
		ExpectContinueTimeout: time.Second,
	}
}

// proxyAddrs are the host:port addresses of the configured proxies, as
// the transport dials them.
func proxyAddrs(c *httpproxy.Config) map[string]bool {
	out := map[string]bool{}
	for _, raw := range []string{c.HTTPProxy, c.HTTPSProxy} {
		if raw == "" {
			continue
		}
		u, err := url.Parse(raw)
		if err != nil || u.Host == "" {
			// httpproxy also accepts a bare host:port.
			u, err = url.Parse("http://" + raw)
			if err != nil {
				continue
			}
		}
		port := u.Port()
		if port == "" {
			switch u.Scheme {
			case "https":
				port = "443"
			case "socks5", "socks5h":
				port = "1080"
			default:
				port = "80"
			}
		}
		out[net.JoinHostPort(u.Hostname(), port)] = true
	}
	return out
}

// BudgetError is a read past the transport's byte budget.
type BudgetError struct{ Limit int64 }

func (e *BudgetError) Error() string {
	return fmt.Sprintf("downloads passed the cap of %d bytes", e.Limit)
}

// ErrBudget matches every *BudgetError with errors.Is.
var ErrBudget = errors.New("download cap passed")

func (e *BudgetError) Is(target error) bool { return target == ErrBudget }

type budget struct {
	limit int64
	left  atomic.Int64
}

type budgetConn struct {
	net.Conn
	b *budget
}

func (c *budgetConn) Read(p []byte) (int, error) {
	if c.b.left.Load() <= 0 {
		return 0, &BudgetError{Limit: c.b.limit}
	}
	n, err := c.Conn.Read(p)
	if c.b.left.Add(-int64(n)) < 0 {
		return n, &BudgetError{Limit: c.b.limit}
	}
	return n, err
}

// checkProxied resolves the host of a request sent through a proxy and
// refuses it when an address it names would be refused on a direct
// connection.
func checkProxied(ctx context.Context, p *Policy, r *net.Resolver, hostport string) error {
	host := hostOnly(hostport)
	if _, err := netip.ParseAddr(host); err == nil {
		return nil // a literal: CheckHost has seen it
	}
	if r == nil {
		r = net.DefaultResolver
	}
	addrs, err := r.LookupNetIP(ctx, "ip", host)
	if err != nil {
		return nil
	}
	for _, a := range addrs {
		if isLinkLocal(a) {
			return &RefusedError{Host: hostport, Addr: a.Unmap().String(), Reason: ReasonLinkLocal}
		}
	}
	return nil
}
