package gateway

import (
	"fmt"
	"net"
	"net/netip"
	"strings"
)

// Action is what the gateway does with a connection to a host.
type Action string

const (
	// Inspect terminates TLS with a region-CA leaf and applies the rules.
	Inspect Action = "inspect"
	// Tunnel relays bytes unread, logging host and byte counts.
	Tunnel Action = "tunnel"
	// Block refuses the connection with a reason.
	Block Action = "block"
)

// Service is an approved (or explicitly tunnelled or blocked) cloud
// service.
type Service struct {
	Name    string
	Action  Action
	Profile string // the rules' profile, for inspected services
	Rules   []Rule

	egress egressRule // where the gateway may connect for it
}

// Policy maps hosts to services. Exact names win over "*.suffix" patterns,
// and longer suffixes over shorter ones.
type Policy struct {
	exact    map[string]*Service
	suffixes []suffixService // longest first
	def      *Service
}

type suffixService struct {
	suffix string // ".example.org"
	svc    *Service
}

// NewPolicy builds the policy from configuration.
func NewPolicy(c *Config) (*Policy, error) {
	p := &Policy{exact: map[string]*Service{}}
	switch c.Default {
	case "", "block":
		p.def = &Service{Name: "unlisted", Action: Block}
	case "tunnel":
		p.def = &Service{Name: "unlisted", Action: Tunnel}
	default:
		return nil, fmt.Errorf("default action must be block or tunnel, not %q", c.Default)
	}
	eg, err := newEgressRule(ServiceConfig{Ports: c.UnlistedPorts})
	if err != nil {
		return nil, fmt.Errorf("unlisted_ports: %w", err)
	}
	p.def.egress = eg
	for i, sc := range c.Services {
		svc, err := newService(sc, c.Profiles)
		if err != nil {
			return nil, fmt.Errorf("service %d (%s): %w", i+1, sc.Name, err)
		}
		svc.setLimits(c.Limits.withDefaults())
		for _, h := range sc.Hosts {
			pat, err := parseHostPattern(h)
			if err != nil {
				return nil, fmt.Errorf("service %q: %w", svc.Name, err)
			}
			if strings.HasPrefix(pat, ".") {
				p.suffixes = append(p.suffixes, suffixService{pat, svc})
			} else {
				p.exact[pat] = svc
			}
		}
	}
	// Stable longest-first, so the first match is the most specific.
	for i := 1; i < len(p.suffixes); i++ {
		for j := i; j > 0 && len(p.suffixes[j].suffix) > len(p.suffixes[j-1].suffix); j-- {
			p.suffixes[j], p.suffixes[j-1] = p.suffixes[j-1], p.suffixes[j]
		}
	}
	return p, nil
}

func newService(sc ServiceConfig, profiles map[string]ProfileFunc) (*Service, error) {
	if len(sc.Hosts) == 0 {
		return nil, fmt.Errorf("no hosts")
	}
	svc := &Service{Name: sc.Name, Action: Action(sc.Action), Profile: orDefault(sc.Profile, "inspect")}
	if svc.Name == "" {
		svc.Name = sc.Hosts[0]
	}
	switch svc.Action {
	case "":
		svc.Action = Inspect
	case Inspect, Tunnel, Block:
	default:
		return nil, fmt.Errorf("action must be inspect, tunnel or block, not %q", sc.Action)
	}
	rules, err := buildRules(sc, profiles)
	if err != nil {
		return nil, err
	}
	svc.Rules = rules
	if svc.egress, err = newEgressRule(sc); err != nil {
		return nil, err
	}
	return svc, nil
}

// parseHostPattern lower-cases a host pattern and turns "*.example.org"
// into ".example.org".
func parseHostPattern(h string) (string, error) {
	h = strings.ToLower(strings.TrimSuffix(strings.TrimSpace(h), "."))
	if a, err := netip.ParseAddr(strings.Trim(h, "[]")); err == nil && a.Zone() == "" {
		return a.String(), nil // an IP literal, IPv6 ones included
	}
	if rest, ok := strings.CutPrefix(h, "*."); ok {
		if rest == "" || strings.ContainsAny(rest, "*:/ ") {
			return "", fmt.Errorf("bad host pattern %q", h)
		}
		return "." + rest, nil
	}
	if h == "" || strings.ContainsAny(h, "*:/ ") {
		return "", fmt.Errorf("bad host pattern %q: want a host name or *.suffix, without port", h)
	}
	return h, nil
}

// Lookup returns the service for a host (with or without port).
func (p *Policy) Lookup(hostport string) *Service {
	h := hostOnly(hostport)
	if s, ok := p.exact[h]; ok {
		return s
	}
	for _, s := range p.suffixes {
		if strings.HasSuffix(h, s.suffix) {
			return s.svc
		}
	}
	return p.def
}

// hostOnly strips the port and lower-cases.
func hostOnly(hostport string) string {
	h := hostport
	if host, _, err := net.SplitHostPort(hostport); err == nil {
		h = host
	}
	return strings.ToLower(strings.TrimSuffix(h, "."))
}
