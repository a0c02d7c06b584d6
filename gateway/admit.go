package gateway

import (
	"context"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
)

// admission is the one decision on whether a client may go where it asks:
// who the user is, which service the target belongs to, and whether the
// gateway may connect there. The CONNECT path and the plain-HTTP path both
// ask admit and render its answer, so a rule added here holds on both.
type admission struct {
	user    *User
	service *Service
	target  string   // host:port
	refusal *refusal // nil: admitted
}

// refusal is why a request or CONNECT was not admitted.
type refusal struct {
	status int
	action string // deny or block
	code   string // reason code, for the audit log and metrics
	title  string
	reason string // ours, never from the request
}

// admit decides a CONNECT (tls) or a plain-HTTP proxy request to target
// (host:port). For an inspected CONNECT the target's name is resolved and
// checked now, so the client hears the refusal instead of a handshake that
// leads nowhere; every dial checks again on the address it uses.
func (g *Gateway) admit(ctx context.Context, r *http.Request, target string, tls bool) admission {
	user, ok := g.authenticate(r)
	a := admission{user: user, target: target}
	if a.refusal = g.auditRefusal(); a.refusal != nil {
		return a
	}
	if !ok {
		a.refusal = &refusal{http.StatusProxyAuthRequired, "deny", codeAuthRequired,
			"Proxy authentication required", "Sign in to the gateway with your region account."}
		return a
	}
	host, ps, err := net.SplitHostPort(target)
	port, perr := strconv.Atoi(ps)
	if err != nil || perr != nil || port < 1 || port > 65535 || host == "" || strings.ContainsAny(host, "/ %@") {
		a.refusal = &refusal{http.StatusBadRequest, "deny", codeBadTarget,
			"Bad destination", "The destination is not a host name and port the gateway can connect to."}
		return a
	}
	a.service = g.policy.Lookup(host)
	svc := a.service
	if svc.Action == Block {
		a.refusal = &refusal{http.StatusForbidden, "block", codeBlocked, "This service is not approved",
			hostOnly(target) + " is not on the region's list of approved cloud services, so the gateway blocked the request."}
		return a
	}
	if !svc.egress.portAllowed(port, tls) {
		a.refusal = egressRefusal(egressError(codePort))
		return a
	}
	// An IP literal is checked now. A name is resolved now only for an
	// inspected CONNECT, whose client would otherwise hear of a refused
	// destination only after its TLS handshake; a tunnel dials at once,
	// and dialChecked refuses it the same way, so resolving here as well
	// would look the name up twice.
	_, literal := netip.ParseAddr(strings.Trim(host, "[]"))
	if literal == nil || (tls && svc.Action != Tunnel) {
		if _, err := g.destinations(ctx, svc, host, port); err != nil {
			if ee, ok := isEgress(err); ok {
				a.refusal = egressRefusal(ee)
			} else {
				a.refusal = &refusal{http.StatusBadGateway, "deny", codeResolve, "Upstream error", "the cloud service could not be reached"}
			}
			return a
		}
	}
	return a
}

func egressRefusal(ee *EgressError) *refusal {
	return &refusal{http.StatusForbidden, "deny", ee.Code, "Destination not allowed", ee.Reason + ", so the gateway did not connect."}
}

// deny records a refusal on the audit event.
func (ev *auditEvent) deny(rf *refusal) {
	ev.action, ev.status, ev.reasonCode, ev.reason = rf.action, rf.status, rf.code, rf.reason
}
