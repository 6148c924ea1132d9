package egress

import (
	"fmt"
	"net/netip"
	"strings"
)

// Policy is where the connections of one render may go. The zero value and
// Unrestricted allow every host except link-local addresses; Restricted
// allows only the hosts its patterns name.
type Policy struct {
	restricted bool
	// name says where the rules come from, for messages
	// ("registries.conf `allowed` and `projects.team-a`").
	name     string
	patterns []Pattern
	// apiHosts are extra hosts connections may reach: where admin-defined
	// registries answer (registries.conf api_url) for prefixes the
	// patterns cover.
	apiHosts []string
}

var unrestricted = &Policy{}

// Unrestricted is the policy without rules: any host but link-local.
func Unrestricted() *Policy { return unrestricted }

// Restricted is a policy allowing the repositories and hosts of patterns,
// plus connections to apiHosts; name says where the rules come from.
// With no patterns it refuses everything.
func Restricted(name string, patterns []Pattern, apiHosts []string) *Policy {
	return &Policy{restricted: true, name: name, patterns: patterns, apiHosts: apiHosts}
}

// Restricted reports whether the policy has rules.
func (p *Policy) Restricted() bool { return p != nil && p.restricted }

// Name says where the rules come from ("" without rules).
func (p *Policy) Name() string {
	if p == nil {
		return ""
	}
	return p.name
}

// Patterns are the rules, as written.
func (p *Policy) Patterns() []string {
	if p == nil {
		return nil
	}
	out := make([]string, len(p.patterns))
	for i, pat := range p.patterns {
		out[i] = pat.String()
	}
	return out
}

// AllowsRepository reports whether an image repository (host[:port] and
// path, as go-containerregistry names them) may be asked for. Without
// rules every repository may.
func (p *Policy) AllowsRepository(host, path string) bool {
	if !p.Restricted() {
		return true
	}
	for _, pat := range p.patterns {
		if pat.MatchRepository(host, path) {
			return true
		}
	}
	return false
}

// CheckHost refuses a request to hostport ("host[:port]" of a URL) that
// the policy does not allow: a link-local literal always, a host outside
// the rules when there are rules. Names are checked again after DNS
// resolution, when the connection is made.
func (p *Policy) CheckHost(hostport string) error {
	host := strings.TrimSuffix(hostOnly(strings.ToLower(hostport)), ".")
	ip, err := netip.ParseAddr(host)
	if err == nil && isLinkLocal(ip) {
		return &RefusedError{Host: hostport, Addr: ip.String(), Reason: ReasonLinkLocal}
	}
	if err != nil && numericHost(host) {
		// 2852039166, 0xa9fea9fe, 0251.0376.0251.0376: no DNS name, but
		// an address to some resolvers and proxies.
		return &RefusedError{Host: hostport, Reason: ReasonNumeric}
	}
	if !p.Restricted() {
		return nil
	}
	for _, pat := range p.patterns {
		if pat.MatchHost(hostport) {
			return nil
		}
	}
	for _, h := range p.apiHosts {
		if strings.EqualFold(h, hostport) {
			return nil
		}
	}
	return &RefusedError{Host: hostport, Reason: ReasonNotAllowed, Rules: p.name}
}

// checkAddr refuses a connection to ip made for host (the name before DNS
// resolution): link-local always, loopback and unspecified addresses under
// rules unless host names loopback itself.
func (p *Policy) checkAddr(host string, ip netip.Addr) error {
	ip = ip.Unmap()
	if isLinkLocal(ip) {
		return &RefusedError{Host: host, Addr: ip.String(), Reason: ReasonLinkLocal}
	}
	if p.Restricted() && (ip.IsLoopback() || ip.IsUnspecified()) && !isLoopbackName(hostOnly(host)) {
		return &RefusedError{Host: host, Addr: ip.String(), Reason: ReasonLoopback, Rules: p.name}
	}
	return nil
}

// isLinkLocal reports whether ip is link-local or another address where
// a cloud's instance metadata answers: 169.254.0.0/16 and fe80::/10, EC2's
// IPv6 metadata fd00:ec2::254, Alibaba Cloud's 100.100.100.200, Azure's
// 168.63.129.16, and link-local addresses embedded in IPv4-mapped,
// IPv4-translated (::ffff:0:a.b.c.d) and NAT64 (64:ff9b::/96) forms.
func isLinkLocal(ip netip.Addr) bool {
	ip = embeddedIPv4(ip.Unmap())
	if ip.IsLinkLocalUnicast() || ip.IsLinkLocalMulticast() {
		return true
	}
	switch ip {
	case netip.AddrFrom16([16]byte{0xfd, 0x00, 0x0e, 0xc2, 14: 0x02, 15: 0x54}),
		netip.AddrFrom4([4]byte{100, 100, 100, 200}),
		netip.AddrFrom4([4]byte{168, 63, 129, 16}):
		return true
	}
	return false
}

// embeddedIPv4 returns the IPv4 address an IPv6 address carries in its
// last 32 bits for the translation prefixes (NAT64 64:ff9b::/96, SIIT
// ::ffff:0:0:0/96), else ip.
func embeddedIPv4(ip netip.Addr) netip.Addr {
	if !ip.Is6() {
		return ip
	}
	b := ip.As16()
	nat64 := [12]byte{0x00, 0x64, 0xff, 0x9b}
	siit := [12]byte{8: 0xff, 9: 0xff}
	if [12]byte(b[:12]) == nat64 || [12]byte(b[:12]) == siit {
		return netip.AddrFrom4([4]byte(b[12:]))
	}
	return ip
}

// numericHost reports whether host looks like a number rather than a DNS
// name: only digits, dots and hexadecimal 0x parts (no top-level domain is
// numeric).
func numericHost(host string) bool {
	if host == "" {
		return false
	}
	for _, label := range strings.Split(host, ".") {
		if label == "" {
			return false
		}
		digits := label
		if rest, ok := strings.CutPrefix(label, "0x"); ok {
			digits = strings.Trim(rest, "0123456789abcdef")
		} else {
			digits = strings.Trim(label, "0123456789")
		}
		if digits != "" {
			return false
		}
	}
	return true
}

// Reasons a connection is refused.
const (
	ReasonLinkLocal  = "link-local"
	ReasonNotAllowed = "not-allowed"
	ReasonLoopback   = "loopback"
	ReasonNumeric    = "numeric-host"
)

// RefusedError is a request or connection the policy refused, before any
// byte was sent.
type RefusedError struct {
	// Host is the host[:port] asked for, Addr the address it resolved to
	// (empty when refused by name).
	Host   string
	Addr   string
	Reason string
	// Rules names the rules that refused it (Policy.Name).
	Rules string
}

func (e *RefusedError) Error() string { return e.Describe(true) }

// Describe is the message, with the host named or not: a host that came
// from a redirect or a token realm is a value of the remote answer, which
// messages shown to Application authors must not repeat.
func (e *RefusedError) Describe(withHost bool) string {
	target := "connection to a host named by the answer (a redirect or a token realm)"
	if withHost {
		target = "connection to " + e.Host
	}
	switch e.Reason {
	case ReasonLinkLocal:
		return target + " refused: link-local addresses (169.254.0.0/16, fe80::/10, instance metadata) are never reached for Applications"
	case ReasonNumeric:
		return target + " refused: the host is a number in a form other than a plain IP address (decimal, octal or hexadecimal), which some resolvers and proxies read as an address; write the address as a dotted IPv4 or an IPv6 literal"
	case ReasonLoopback:
		return fmt.Sprintf("%s refused: the name resolves to loopback, and with the %s rules loopback is reached only where a rule names it (127.0.0.1, [::1] or localhost)", target, e.Rules)
	default:
		return fmt.Sprintf("%s refused: the host is outside the %s rules", target, e.Rules)
	}
}
