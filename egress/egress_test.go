package egress

import (
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/net/http/httpproxy"
)

func mustPatterns(t *testing.T, raw ...string) []Pattern {
	t.Helper()
	out := make([]Pattern, 0, len(raw))
	for _, r := range raw {
		p, err := ParsePattern(r, nil)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, p)
	}
	return out
}

func TestPatternMatchRepository(t *testing.T) {
	cases := []struct {
		pattern, host, path string
		want                bool
	}{
		{"ghcr.io/acme/*", "ghcr.io", "acme/web", true},
		{"ghcr.io/acme/*", "ghcr.io", "acme/team/web", true},
		{"ghcr.io/acme/*", "ghcr.io", "acme", false},
		{"ghcr.io/acme/*", "ghcr.io", "acmeevil/web", false},
		{"ghcr.io/acme/*", "ghcr.io.evil.com", "acme/web", false},
		{"ghcr.io/acme/*", "GHCR.IO", "acme/web", true},
		{"ghcr.io/acme/web", "ghcr.io", "acme/web", true},
		{"ghcr.io/acme/web", "ghcr.io", "acme/web2", false},
		{"ghcr.io", "ghcr.io", "anyone/anything", true},
		{"*.example.com/team/*", "registry.example.com", "team/app", true},
		{"*.example.com/team/*", "example.com", "team/app", false},
		{"127.0.0.1:5000/*", "127.0.0.1:5000", "acme/web", true},
		{"127.0.0.1:5000/*", "127.0.0.1:5001", "acme/web", false},
		{"[::1]:5000/*", "[::1]:5000", "acme/web", true},
		{"ghcr.io/*/web", "ghcr.io", "acme/web", true},
		{"ghcr.io/*/web", "ghcr.io", "acme/web/extra", false},
	}
	for _, tc := range cases {
		p := mustPatterns(t, tc.pattern)[0]
		if got := p.MatchRepository(tc.host, tc.path); got != tc.want {
			t.Errorf("%s matches %s/%s = %v, want %v", tc.pattern, tc.host, tc.path, got, tc.want)
		}
	}
}

func TestParsePatternErrors(t *testing.T) {
	for _, raw := range []string{"", "/acme/*", "ghcr.io/", "ghcr.io/Acme", "ghcr io/acme", "ghcr.io/acme?"} {
		if _, err := ParsePattern(raw, nil); err == nil {
			t.Errorf("ParsePattern(%q) accepted", raw)
		}
	}
}

// TestReachability drives real requests through NewTransport against
// servers on loopback, with names resolved by a DNS server on loopback.
func TestReachability(t *testing.T) {
	var hits atomic.Int64
	var srv *httptest.Server
	srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		if to := r.URL.Query().Get("to"); to != "" {
			http.Redirect(w, r, to, http.StatusFound)
			return
		}
		io.WriteString(w, "ok")
	}))
	defer srv.Close()
	port := srv.Listener.Addr().(*net.TCPAddr).Port
	p := func(host string) string { return net.JoinHostPort(host, strconv.Itoa(port)) }

	var srv6 *httptest.Server
	if l, err := net.Listen("tcp", "[::1]:0"); err == nil {
		srv6 = &httptest.Server{Listener: l, Config: &http.Server{Handler: srv.Config.Handler}}
		srv6.Start()
		defer srv6.Close()
	}

	dns := startFakeDNS(t, map[string][]string{
		"loop.test":  {"127.0.0.1"},
		"meta.test":  {"169.254.169.254"},
		"meta6.test": {"fe80::1"},
		"pod.test":   {"169.254.170.23"},
		"zero.test":  {"0.0.0.0"},
	})

	open := Unrestricted()
	rules := Restricted("test `allowed`", mustPatterns(t, p("127.0.0.1")+"/*", p("loop.test"), p("zero.test"), "[::1]:*", "meta.test"), nil)

	type tc struct {
		name   string
		policy *Policy
		url    string
		reason string // "" = the request succeeds
		ipv6   bool
	}
	cases := []tc{
		{"open: loopback literal", open, "http://" + p("127.0.0.1") + "/", "", false},
		{"open: localhost", open, "http://" + p("localhost") + "/", "", false},
		{"open: name resolving to loopback", open, "http://" + p("loop.test") + "/", "", false},
		{"open: IPv4 link-local literal", open, "http://169.254.169.254/latest/meta-data/", ReasonLinkLocal, false},
		{"open: EKS Pod Identity literal", open, "http://169.254.170.23/v1/credentials", ReasonLinkLocal, false},
		{"open: IPv6 link-local literal", open, "http://[fe80::1]/", ReasonLinkLocal, false},
		{"open: IPv4-mapped link-local", open, "http://[::ffff:169.254.169.254]/", ReasonLinkLocal, false},
		{"open: IPv6 instance metadata", open, "http://[fd00:ec2::254]/", ReasonLinkLocal, false},
		{"open: NAT64 link-local", open, "http://[64:ff9b::a9fe:a9fe]/", ReasonLinkLocal, false},
		{"open: IPv4-translated link-local", open, "http://[::ffff:0:a9fe:a9fe]/", ReasonLinkLocal, false},
		{"open: Alibaba Cloud metadata", open, "http://100.100.100.200/latest/meta-data/", ReasonLinkLocal, false},
		{"open: Azure wire server", open, "http://168.63.129.16/", ReasonLinkLocal, false},
		{"open: link-local literal with a trailing dot", open, "http://169.254.169.254./", ReasonLinkLocal, false},
		{"open: decimal address", open, "http://2852039166/", ReasonNumeric, false},
		{"open: hexadecimal address", open, "http://0xa9fea9fe/", ReasonNumeric, false},
		{"open: octal address", open, "http://0251.0376.0251.0376/", ReasonNumeric, false},
		{"open: name resolving to link-local", open, "http://meta.test/", ReasonLinkLocal, false},
		{"open: name resolving to Pod Identity", open, "http://pod.test/", ReasonLinkLocal, false},
		{"open: name resolving to IPv6 link-local", open, "http://meta6.test/", ReasonLinkLocal, false},
		{"open: redirect to link-local literal", open, "http://" + p("127.0.0.1") + "/?to=" + url.QueryEscape("http://169.254.169.254/"), ReasonLinkLocal, false},
		{"open: redirect to name resolving to link-local", open, "http://" + p("127.0.0.1") + "/?to=" + url.QueryEscape("http://meta.test/"), ReasonLinkLocal, false},
		{"rules: loopback named by a rule", rules, "http://" + p("127.0.0.1") + "/", "", false},
		{"rules: localhost not named", rules, "http://" + p("localhost") + "/", ReasonNotAllowed, false},
		{"rules: other port", rules, "http://127.0.0.1:1/", ReasonNotAllowed, false},
		{"rules: allowed name resolving to loopback", rules, "http://" + p("loop.test") + "/", ReasonLoopback, false},
		{"rules: allowed name resolving to 0.0.0.0", rules, "http://" + p("zero.test") + "/", ReasonLoopback, false},
		{"rules: allowed name resolving to link-local", rules, "http://meta.test/", ReasonLinkLocal, false},
		{"rules: redirect outside the rules", rules, "http://" + p("127.0.0.1") + "/?to=" + url.QueryEscape("http://"+p("localhost")+"/"), ReasonNotAllowed, false},
		{"rules: redirect inside the rules", rules, "http://" + p("127.0.0.1") + "/?to=" + url.QueryEscape("http://"+p("127.0.0.1")+"/"), "", false},
		{"open: IPv6 loopback literal", open, "", "", true},
		{"rules: IPv6 loopback named by a rule", rules, "", "", true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			target := c.url
			if c.ipv6 {
				if srv6 == nil {
					t.Skip("no IPv6 loopback on this machine")
				}
				target = srv6.URL + "/"
			}
			client := &http.Client{Transport: NewTransport(c.policy, WithResolver(dns.resolver()), WithProxy(&httpproxy.Config{}))}
			before := hits.Load()
			resp, err := client.Get(target)
			if c.reason == "" {
				if err != nil {
					t.Fatalf("GET %s: %v", target, err)
				}
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					t.Fatalf("GET %s: %s", target, resp.Status)
				}
				return
			}
			if err == nil {
				resp.Body.Close()
				t.Fatalf("GET %s succeeded, want refused (%s)", target, c.reason)
			}
			var re *RefusedError
			if !errors.As(err, &re) || re.Reason != c.reason {
				t.Fatalf("GET %s: %v, want a %s refusal", target, err, c.reason)
			}
			redirected := strings.Contains(target, "?to=")
			if n := hits.Load() - before; (redirected && n != 1) || (!redirected && n != 0) {
				t.Errorf("the servers saw %d requests; the refused hop must send none", n)
			}
		})
	}
}

// TestProxyIsAdminConfiguration: with rules that do not name loopback, a
// proxy on loopback is still dialled; the proxy resolves the target.
func TestProxyIsAdminConfiguration(t *testing.T) {
	var connects atomic.Int64
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodConnect || r.URL.Host == "registry.example.com" {
			connects.Add(1)
		}
		w.WriteHeader(http.StatusBadGateway)
	}))
	defer proxy.Close()
	rules := Restricted("test", mustPatterns(t, "registry.example.com/*"), nil)
	tr := NewTransport(rules, WithProxy(&httpproxy.Config{HTTPProxy: proxy.URL}))
	resp, err := (&http.Client{Transport: tr}).Get("http://registry.example.com/v2/")
	if err != nil {
		t.Fatalf("request through the proxy: %v", err)
	}
	resp.Body.Close()
	if connects.Load() != 1 {
		t.Errorf("the proxy saw %d requests for registry.example.com, want 1", connects.Load())
	}
	if _, err := (&http.Client{Transport: tr}).Get("http://elsewhere.example.com/v2/"); err == nil {
		t.Error("a host outside the rules went through the proxy")
	}
}

// TestProxiedNamesAreResolvedFirst: through a proxy the sidecar does not
// dial the target, so a name resolving to link-local is refused before the
// proxy sees it; a name only the proxy can resolve is left to the proxy.
func TestProxiedNamesAreResolvedFirst(t *testing.T) {
	var seen atomic.Int64
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen.Add(1)
		w.WriteHeader(http.StatusBadGateway)
	}))
	defer proxy.Close()
	dns := startFakeDNS(t, map[string][]string{"meta.test": {"169.254.169.254"}, "meta6.test": {"64:ff9b::a9fe:a9fe"}})
	tr := NewTransport(Unrestricted(), WithResolver(dns.resolver()), WithProxy(&httpproxy.Config{HTTPProxy: proxy.URL}))
	for _, host := range []string{"meta.test", "meta6.test"} {
		_, err := (&http.Client{Transport: tr}).Get("http://" + host + "/latest/meta-data/")
		var re *RefusedError
		if !errors.As(err, &re) || re.Reason != ReasonLinkLocal {
			t.Errorf("GET %s through the proxy: %v, want a link-local refusal", host, err)
		}
	}
	if n := seen.Load(); n != 0 {
		t.Fatalf("the proxy saw %d requests for names resolving to link-local, want 0", n)
	}
	resp, err := (&http.Client{Transport: tr}).Get("http://only-the-proxy-knows.test/")
	if err != nil {
		t.Fatalf("a name the sidecar cannot resolve must go to the proxy: %v", err)
	}
	resp.Body.Close()
	if seen.Load() != 1 {
		t.Fatalf("the proxy saw %d requests, want 1", seen.Load())
	}
}

func TestByteBudget(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write(make([]byte, 1<<20))
	}))
	defer srv.Close()
	tr := NewTransport(nil, WithByteBudget(64<<10), WithProxy(&httpproxy.Config{}))
	resp, err := (&http.Client{Transport: tr}).Get(srv.URL)
	if err == nil {
		_, err = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	if !errors.Is(err, ErrBudget) {
		t.Fatalf("reading 1 MiB with a 64 KiB budget: %v, want a budget error", err)
	}
}

// TestTimeouts: a remote that accepts the connection and then stays
// silent fails the request at the TLS-handshake or response-header
// timeout instead of holding it until the caller's deadline.
func TestTimeouts(t *testing.T) {
	silent, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	done := make(chan struct{})
	defer close(done)
	go func() {
		for {
			c, err := silent.Accept()
			if err != nil {
				return
			}
			go func() { <-done; c.Close() }()
		}
	}()
	tr := NewTransport(nil, WithTimeouts(Timeouts{TLSHandshake: 50 * time.Millisecond, ResponseHeader: 50 * time.Millisecond}), WithProxy(&httpproxy.Config{}))
	client := &http.Client{Transport: tr}
	for _, scheme := range []string{"https", "http"} {
		_, err := client.Get(scheme + "://" + silent.Addr().String() + "/v2/")
		var ne net.Error
		if !errors.As(err, &ne) || !ne.Timeout() {
			t.Errorf("%s to a silent server: %v, want a timeout", scheme, err)
		}
	}
	def := NewTransport(nil)
	if def.TLSHandshakeTimeout != DefaultTLSHandshakeTimeout || def.ResponseHeaderTimeout != DefaultResponseHeaderTimeout {
		t.Errorf("default timeouts %s/%s", def.TLSHandshakeTimeout, def.ResponseHeaderTimeout)
	}
}

func FuzzParsePattern(f *testing.F) {
	for _, s := range []string{"ghcr.io/acme/*", "*.example.com", "127.0.0.1:5000/*", "[::1]:*", "a/**/b", "ghcr.io"} {
		f.Add(s, "ghcr.io/acme/web")
	}
	f.Fuzz(func(t *testing.T, raw, repo string) {
		p, err := ParsePattern(raw, nil)
		if err != nil {
			return
		}
		host, path, _ := strings.Cut(repo, "/")
		got := p.MatchRepository(host, path)
		if !strings.Contains(raw, "*") && strings.Contains(raw, "/") && got != (strings.ToLower(raw) == strings.ToLower(host)+"/"+path) {
			t.Errorf("pattern %q without '*' matched %q = %v", raw, repo, got)
		}
	})
}

// TestPolicyJSONRoundTrip: a policy sent to a render worker decides as
// the one it was made from.
func TestPolicyJSONRoundTrip(t *testing.T) {
	rules := Restricted("registries.conf `projects.team-a`", mustPatterns(t, "ghcr.io/acme/*", "127.0.0.1:5000"), []string{"api.example.com"})
	for _, p := range []*Policy{rules, Unrestricted()} {
		raw, err := json.Marshal(p)
		if err != nil {
			t.Fatal(err)
		}
		var got Policy
		if err := json.Unmarshal(raw, &got); err != nil {
			t.Fatal(err)
		}
		for _, c := range []struct{ host, path string }{{"ghcr.io", "acme/web"}, {"ghcr.io", "other/web"}, {"127.0.0.1:5000", "x/y"}, {"quay.io", "a/b"}} {
			if got.AllowsRepository(c.host, c.path) != p.AllowsRepository(c.host, c.path) {
				t.Errorf("%s: %s/%s decided differently after the round trip", raw, c.host, c.path)
			}
		}
		for _, h := range []string{"api.example.com", "elsewhere.example.com", "169.254.169.254"} {
			if (got.CheckHost(h) == nil) != (p.CheckHost(h) == nil) {
				t.Errorf("%s: host %s decided differently after the round trip", raw, h)
			}
		}
		if got.Name() != p.Name() || got.Restricted() != p.Restricted() {
			t.Errorf("round trip changed the name or restriction: %+v", got)
		}
	}
}
