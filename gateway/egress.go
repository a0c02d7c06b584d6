package gateway

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"
)

// Egress: the gateway is a boundary, so where it connects is decided on
// the address it actually dials, after name resolution, and that checked
// address is the one dialled. A name that resolves (or re-resolves) to
// loopback, cloud metadata (link-local) or a private network cannot slip
// through, and neither can an IP literal or an IPv4 address wrapped in an
// IPv6 one. What a service may reach:
//
//   - public unicast addresses, on the service's ports;
//   - private ranges (10/8, 172.16/12, 192.168/16, 100.64/10, fc00::/7)
//     only with allow_private;
//   - loopback only when the service lists a loopback host itself
//     (127.0.0.1, ::1, localhost) or sets allow_loopback;
//   - never link-local (169.254/16, fe80::/10), unspecified, multicast,
//     broadcast or reserved addresses, and never the gateway's own
//     listeners, whatever the service says.

// Reason codes of refusals, as audited (reason_code) and counted.
const (
	codeAuthRequired   = "proxy_auth_required"
	codeBadTarget      = "bad_target"
	codeBlocked        = "service_not_approved"
	codePort           = "port_not_allowed"
	codeOwnListener    = "own_listener"
	codeLoopback       = "loopback"
	codeLinkLocal      = "link_local"
	codePrivate        = "private_address"
	codeUnspecified    = "unspecified_address"
	codeMulticast      = "multicast"
	codeReserved       = "reserved_address"
	codeResolve        = "resolve_failed"
	codeHostMismatch   = "host_mismatch"
	codeRule           = "rule_denied"
	codeUpgrade        = "upgrade_not_allowed"
	codeUnreachable    = "upstream_unreachable"
	codeTransformation = "transformation_refused"
)

// EgressError is a destination the gateway refused to connect to.
type EgressError struct {
	Code   string // one of the reason codes (loopback, port_not_allowed, …)
	Reason string // for the client and the audit log; names no address
}

func (e *EgressError) Error() string { return e.Reason }

// egressRule is what one service may reach.
type egressRule struct {
	ports         map[int]bool // nil: 443 for TLS and CONNECT, 80 for plain HTTP
	allowPrivate  bool
	allowLoopback bool
}

func newEgressRule(sc ServiceConfig) (egressRule, error) {
	r := egressRule{allowPrivate: sc.AllowPrivate, allowLoopback: sc.AllowLoopback}
	for _, h := range sc.Hosts {
		if isLoopbackName(h) {
			r.allowLoopback = true
		}
	}
	for _, p := range sc.Ports {
		if p < 1 || p > 65535 {
			return r, fmt.Errorf("port %d out of range", p)
		}
		if r.ports == nil {
			r.ports = map[int]bool{}
		}
		r.ports[p] = true
	}
	return r, nil
}

// isLoopbackName reports whether a configured host names loopback itself.
func isLoopbackName(h string) bool {
	h = strings.ToLower(strings.Trim(strings.TrimSpace(h), "[]."))
	if h == "localhost" || strings.HasSuffix(h, ".localhost") {
		return true
	}
	a, err := netip.ParseAddr(h)
	return err == nil && a.Unmap().IsLoopback()
}

// portAllowed reports whether the rule allows port for a connection that
// is TLS (CONNECT, https) or not (plain http).
func (r egressRule) portAllowed(port int, tls bool) bool {
	if r.ports != nil {
		return r.ports[port]
	}
	if tls {
		return port == 443
	}
	return port == 80
}

// classify says which kind of address a is, as a reason code; "" is a
// public unicast address. IPv4 addresses inside IPv6 (mapped, compatible,
// NAT64) are judged as the IPv4 address they carry.
func classify(a netip.Addr) string {
	a = embeddedIPv4(a)
	switch {
	case a.IsUnspecified() || (a.Is4() && a.As4()[0] == 0):
		return codeUnspecified
	case a.IsLoopback():
		return codeLoopback
	case a.IsLinkLocalUnicast():
		return codeLinkLocal
	case a.IsMulticast() || a.IsLinkLocalMulticast() || a.IsInterfaceLocalMulticast():
		return codeMulticast
	case a.IsPrivate() || cgnat.Contains(a):
		return codePrivate
	}
	for _, p := range reserved {
		if p.Contains(a) {
			return codeReserved
		}
	}
	return ""
}

var (
	cgnat    = netip.MustParsePrefix("100.64.0.0/10")
	nat64    = netip.MustParsePrefix("64:ff9b::/96")
	compat   = netip.MustParsePrefix("::/96")
	reserved = []netip.Prefix{
		netip.MustParsePrefix("192.0.0.0/24"),    // IETF protocol assignments
		netip.MustParsePrefix("192.0.2.0/24"),    // documentation
		netip.MustParsePrefix("198.18.0.0/15"),   // benchmarking
		netip.MustParsePrefix("198.51.100.0/24"), // documentation
		netip.MustParsePrefix("203.0.113.0/24"),  // documentation
		netip.MustParsePrefix("240.0.0.0/4"),     // reserved, and broadcast
		netip.MustParsePrefix("2001:db8::/32"),   // documentation
		netip.MustParsePrefix("100::/64"),        // discard
	}
)

func embeddedIPv4(a netip.Addr) netip.Addr {
	a = a.Unmap()
	if a.Is6() && (nat64.Contains(a) || (compat.Contains(a) && !a.IsUnspecified() && !a.IsLoopback())) {
		b := a.As16()
		return netip.AddrFrom4([4]byte{b[12], b[13], b[14], b[15]})
	}
	return a
}

// allowed says whether the rule lets the gateway dial a; the reason code
// when not.
func (r egressRule) allowed(a netip.Addr) string {
	switch c := classify(a); c {
	case "":
		return ""
	case codePrivate:
		if r.allowPrivate {
			return ""
		}
		return c
	case codeLoopback:
		if r.allowLoopback {
			return ""
		}
		return c
	default:
		return c
	}
}

var egressReasons = map[string]string{
	codeOwnListener: "the destination is the gateway itself",
	codeLoopback:    "the destination is a loopback address, which no service of this gateway may reach",
	codeLinkLocal:   "the destination is a link-local address (where cloud metadata services live)",
	codePrivate:     "the destination is in a private network range this service may not reach",
	codeUnspecified: "the destination is an unspecified address",
	codeMulticast:   "the destination is a multicast address",
	codeReserved:    "the destination is a reserved address",
	codeResolve:     "the destination's name could not be resolved",
	codePort:        "the port is not allowed for this service",
}

func egressError(code string) *EgressError {
	return &EgressError{Code: code, Reason: egressReasons[code]}
}

// ownListeners are the addresses the gateway listens on, which it never
// dials, and the local addresses of its own upstream connections, which
// are never a local caller of the admin API.
type ownListeners struct {
	mu       sync.RWMutex
	ports    map[uint16][]netip.Addr // listener port → its addresses (unspecified: all)
	outbound map[string]int          // open upstream connections, by connKey
	local    func() []netip.Addr     // the machine's interface addresses
}

func newOwnListeners() *ownListeners {
	return &ownListeners{ports: map[uint16][]netip.Addr{}, outbound: map[string]int{}, local: interfaceAddrs}
}

func interfaceAddrs() []netip.Addr {
	as, _ := net.InterfaceAddrs()
	var out []netip.Addr
	for _, a := range as {
		if p, err := netip.ParsePrefix(a.String()); err == nil {
			out = append(out, p.Addr().Unmap())
		}
	}
	return out
}

func (o *ownListeners) add(addr net.Addr) {
	ap, err := netip.ParseAddrPort(addr.String())
	if err != nil {
		return
	}
	o.mu.Lock()
	o.ports[ap.Port()] = append(o.ports[ap.Port()], ap.Addr().Unmap())
	o.mu.Unlock()
}

// is reports whether dialling ap would reach one of the gateway's own
// listeners: the same port on the listener's address, or on any local
// address when it listens on all of them (or when a loopback listener is
// dialled through another loopback address).
func (o *ownListeners) is(ap netip.AddrPort) bool {
	o.mu.RLock()
	addrs := o.ports[ap.Port()]
	o.mu.RUnlock()
	if len(addrs) == 0 {
		return false
	}
	a := embeddedIPv4(ap.Addr())
	if a.IsLoopback() || a.IsUnspecified() || (a.Is4() && a.As4()[0] == 0) {
		return true
	}
	for _, l := range addrs {
		if l == a || l.IsUnspecified() {
			return true
		}
	}
	for _, l := range o.local() {
		if l == a {
			return true
		}
	}
	return false
}

// connKey names a TCP connection by both ends: a source port alone is
// reused by the kernel towards other destinations.
func connKey(local, remote string) string { return local + " " + remote }

func (o *ownListeners) dialled(c net.Conn) {
	k := connKey(c.LocalAddr().String(), c.RemoteAddr().String())
	o.mu.Lock()
	o.outbound[k]++
	o.mu.Unlock()
}

func (o *ownListeners) closed(c net.Conn) {
	k := connKey(c.LocalAddr().String(), c.RemoteAddr().String())
	o.mu.Lock()
	if o.outbound[k]--; o.outbound[k] <= 0 {
		delete(o.outbound, k)
	}
	o.mu.Unlock()
}

// fromGateway reports whether a connection that arrived from remote at
// local is one of the gateway's own upstream connections (whose local end
// is remote and whose remote end is local).
func (o *ownListeners) fromGateway(remote, local string) bool {
	o.mu.RLock()
	defer o.mu.RUnlock()
	return o.outbound[connKey(remote, local)] > 0
}

// trackedConn is an upstream connection known to ownListeners while open.
type trackedConn struct {
	net.Conn
	once sync.Once
	own  *ownListeners
}

func (c *trackedConn) Close() error {
	c.once.Do(func() { c.own.closed(c.Conn) })
	return c.Conn.Close()
}

// CloseWrite half-closes, for tunnels.
func (c *trackedConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}

// destinations resolves host and keeps the addresses the service may
// reach on port. It refuses with the reason of the first forbidden
// address when none is left.
func (g *Gateway) destinations(ctx context.Context, svc *Service, host string, port int) ([]netip.AddrPort, error) {
	var addrs []netip.Addr
	if a, err := netip.ParseAddr(strings.Trim(host, "[]")); err == nil {
		addrs = []netip.Addr{a}
	} else {
		as, err := g.resolve(ctx, host)
		if err != nil || len(as) == 0 {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			return nil, egressError(codeResolve)
		}
		addrs = as
	}
	var ok []netip.AddrPort
	var refused string
	for _, a := range addrs {
		ap := netip.AddrPortFrom(a.Unmap().WithZone(""), uint16(port))
		code := svc.egress.allowed(ap.Addr())
		if code == "" && g.own.is(ap) {
			code = codeOwnListener
		}
		if code != "" {
			if refused == "" {
				refused = code
			}
			continue
		}
		ok = append(ok, ap)
	}
	if len(ok) == 0 {
		return nil, egressError(refused)
	}
	return ok, nil
}

// dialChecked connects to addr (host:port) for the service that owns the
// host, trying the allowed addresses in turn. Every upstream connection
// of the gateway, tunnelled or inspected, is made here.
func (g *Gateway) dialChecked(ctx context.Context, network, addr string, tls bool) (net.Conn, error) {
	host, ps, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, &EgressError{Code: codeBadTarget, Reason: "the destination is not host:port"}
	}
	port, err := strconv.Atoi(ps)
	if err != nil || port < 1 || port > 65535 {
		return nil, &EgressError{Code: codeBadTarget, Reason: "the destination port is not a number"}
	}
	svc := g.policy.Lookup(host)
	if !svc.egress.portAllowed(port, tls) {
		return nil, egressError(codePort)
	}
	// The dial timeout covers name resolution and every address tried.
	ctx, cancel := context.WithTimeout(ctx, g.limits.DialTimeout)
	defer cancel()
	dests, err := g.destinations(ctx, svc, host, port)
	if err != nil {
		return nil, err
	}
	var last error
	for _, d := range dests {
		c, err := g.dialAddr(ctx, network, d.String())
		if err == nil {
			g.own.dialled(c)
			return &trackedConn{Conn: c, own: g.own}, nil
		}
		last = err
		if ctx.Err() != nil {
			break
		}
	}
	return nil, last
}

// isEgress reports whether err is an egress refusal, and which.
func isEgress(err error) (*EgressError, bool) {
	var ee *EgressError
	ok := errors.As(err, &ee)
	return ee, ok
}
