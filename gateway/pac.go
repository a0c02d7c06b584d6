package gateway

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"sort"
	"strings"
)

// servePAC serves the proxy auto-configuration file browsers fetch from
// /proxy.pac.
//
// What goes through the proxy: every host on the internet, approved or
// not. Approved services must (that is where encryption and
// pseudonymization happen). Unlisted hosts go through the proxy too,
// whatever the default action: with "block" the proxy shows the user a
// page saying the service is not approved (DIRECT would either work,
// bypassing policy, or fail with a confusing network error); with
// "tunnel" the proxy relays the bytes unread but logs host and volume,
// which DIRECT would not. There is no "; DIRECT" fallback: if the gateway
// is down, cloud traffic stops rather than leaves unprotected.
//
// What goes DIRECT: plain host names (no dot), localhost and loopback,
// and literal private addresses (RFC 1918, link-local, IPv6 ULA) — the
// region's own network, which the cloud gateway has no business with.
// The file does no DNS lookups (no isInNet on names), so it is fast and
// never blocks on a resolver.
func (g *Gateway) servePAC(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/x-ns-proxy-autoconfig")
	w.Header().Set("Cache-Control", "max-age=300")
	w.Write([]byte(g.pacFile(g.pacProxyAddr(r))))
}

// pacProxyAddr is the host:port the PAC file names: the configured one,
// else the proxy listener's, with the host the PAC file was fetched from
// when the listener is on all addresses.
func (g *Gateway) pacProxyAddr(r *http.Request) string {
	if g.pacProxy != "" {
		return g.pacProxy
	}
	addr := "127.0.0.1:8080"
	if p := g.proxyAddr.Load(); p != nil {
		addr = *p
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsUnspecified() {
		if h, _, err := net.SplitHostPort(r.Host); err == nil {
			host = h
		} else if r.Host != "" {
			host = r.Host
		}
	}
	return net.JoinHostPort(host, port)
}

// pacFile renders the PAC JavaScript for a proxy at addr.
func (g *Gateway) pacFile(addr string) string {
	var exact, suffixes []string
	for h, svc := range g.policy.exact {
		if svc.Action != Block {
			exact = append(exact, h)
		}
	}
	for _, s := range g.policy.suffixes {
		if s.svc.Action != Block {
			suffixes = append(suffixes, s.suffix)
		}
	}
	sort.Strings(exact)
	js := func(v any) string { b, _ := json.Marshal(v); return string(b) }
	def := "block: through the proxy, which answers with a page saying the service is not approved"
	if g.policy.def.Action == Tunnel {
		def = "tunnel: through the proxy, which relays unread and logs host and bytes"
	}
	var b strings.Builder
	fmt.Fprintf(&b, `// sluss proxy auto-configuration. Approved cloud services go through the
// region's gateway; so does everything else on the internet (default
// action %s). The region's own network goes direct.
function FindProxyForURL(url, host) {
  var proxy = %s;
  host = host.toLowerCase();
  if (host.charAt(0) == "[") host = host.substring(1, host.length - 1);
  if (isPlainHostName(host) || host == "localhost" || dnsDomainIs(host, ".localhost") ||
      shExpMatch(host, "127.*") || host == "::1" ||
      shExpMatch(host, "10.*") || shExpMatch(host, "192.168.*") || shExpMatch(host, "169.254.*") ||
      /^172\.(1[6-9]|2[0-9]|3[01])\./.test(host) || /^f[cd][0-9a-f]{2}:/.test(host) || /^fe80:/.test(host)) {
    return "DIRECT";
  }
  // Approved services (inspected or tunnelled by policy).
  var exact = %s;
  for (var i = 0; i < exact.length; i++) {
    if (host == exact[i]) return proxy;
  }
  var suffixes = %s;
  for (var j = 0; j < suffixes.length; j++) {
    if (dnsDomainIs(host, suffixes[j])) return proxy;
  }
  // Everything else: default %s.
  return proxy;
}
`, def, js("PROXY "+addr), js(nonNil(exact)), js(nonNil(suffixes)), string(g.policy.def.Action))
	return b.String()
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
