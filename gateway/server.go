package gateway

import (
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	"golang.org/x/net/netutil"
)

// ErrNeedsUsers is returned by Serve for a listener that is not on
// loopback when no users file is configured: without authentication, only
// the local user may use the gateway.
var ErrNeedsUsers = errors.New("refusing to listen on a non-loopback address without user authentication (configure users_file / --users)")

// Serve accepts proxy connections on l until Close. At most
// Limits.MaxConnections are open at once; each has the header, idle and
// size limits of the configuration.
func (g *Gateway) Serve(l net.Listener) error {
	if g.users == nil && !IsLoopback(l.Addr()) {
		return ErrNeedsUsers
	}
	addr := l.Addr().String()
	g.proxyAddr.CompareAndSwap(nil, &addr)
	g.own.add(l.Addr())
	srv := &http.Server{
		Handler:           g,
		ReadHeaderTimeout: g.limits.HeaderTimeout,
		IdleTimeout:       g.limits.IdleTimeout,
		MaxHeaderBytes:    g.limits.MaxHeaderBytes,
		ErrorLog:          newStdLogger(g.log),
	}
	if !g.addServer(srv) {
		return http.ErrServerClosed
	}
	return srv.Serve(netutil.LimitListener(l, g.limits.MaxConnections))
}

// addServer adds srv to the servers Close and Shutdown stop; false when
// the gateway is closed already.
func (g *Gateway) addServer(srv *http.Server) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed.Load() {
		return false
	}
	g.servers = append(g.servers, srv)
	return true
}

// RegisterListener tells the gateway an address it listens on, so that it
// never connects there. Serve and ServeAdmin register their listeners
// themselves; call it first when a request may arrive on one listener
// before the other is served.
func (g *Gateway) RegisterListener(a net.Addr) { g.own.add(a) }

// ServeAdmin serves [Gateway.AdminHandler] on l until Close. Like the
// proxy listener's, its address is one the gateway never connects to.
func (g *Gateway) ServeAdmin(l net.Listener) error {
	g.own.add(l.Addr())
	srv := &http.Server{Handler: g.AdminHandler(), ReadHeaderTimeout: g.limits.HeaderTimeout, ErrorLog: newStdLogger(g.log)}
	if !g.addServer(srv) {
		return http.ErrServerClosed
	}
	return srv.Serve(l)
}

// IsLoopback reports whether a listener address is on loopback only.
func IsLoopback(a net.Addr) bool {
	ta, ok := a.(*net.TCPAddr)
	return ok && ta.IP.IsLoopback()
}

// Close stops the gateway: listeners, inspected connections, tunnels and
// idle upstream connections.
func (g *Gateway) Close() error {
	g.mu.Lock()
	g.closed.Store(true)
	servers := g.servers
	tunnels := make([]net.Conn, 0, len(g.tunnels))
	for c := range g.tunnels {
		tunnels = append(tunnels, c)
	}
	g.mu.Unlock()
	for _, s := range servers {
		s.Close()
	}
	g.mitm.Close()
	g.mitm.srv.Close()
	for _, c := range tunnels {
		c.Close()
	}
	g.transport.CloseIdleConnections()
	return nil
}

// Shutdown stops accepting connections and waits for requests in flight
// to finish (or ctx to end), then closes everything.
func (g *Gateway) Shutdown(ctx context.Context) error {
	g.mu.Lock()
	servers := g.servers
	g.mu.Unlock()
	for _, s := range servers {
		s.Shutdown(ctx)
	}
	g.mitm.Close()
	g.mitm.srv.Shutdown(ctx)
	return g.Close()
}

// AdminHandler returns the admin listener's mux:
//
//   - /healthz (the process runs) and /readyz (the key material is usable
//     and fresh: a Vault store past its maximum staleness is not ready);
//   - /metrics, Prometheus text format;
//   - /proxy.pac, the proxy auto-configuration file for browsers;
//   - the API for systems, under /v1/ (see openapi.yaml, also served at
//     /v1/openapi.yaml): encrypt, decrypt, pseudonymize, reidentify and
//     recipient, with bearer tokens from [APIConfig]; the cloud-service
//     inventory at /v1/services (JSON) and /v1/services.html.
//
// Further admin routes can be added to the same mux with Handle.
func (g *Gateway) AdminHandler() *http.ServeMux {
	mux := http.NewServeMux()
	for _, rt := range g.adminRoutes() {
		mux.Handle(rt.pattern, rt.h)
	}
	return mux
}

type adminRoute struct {
	pattern string // "METHOD /path"
	h       http.Handler
}

// adminRoutes lists the admin listener's routes; the OpenAPI test checks
// the description against it.
func (g *Gateway) adminRoutes() []adminRoute {
	return []adminRoute{
		{"GET /healthz", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
		})},
		{"GET /readyz", http.HandlerFunc(g.readyz)},
		{"GET /metrics", g.metrics.handler()},
		{"GET /proxy.pac", http.HandlerFunc(g.servePAC)},
		{"GET /v1/openapi.yaml", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/yaml")
			w.Write(openAPI)
		})},
		{"POST /v1/encrypt", g.apiHandler("encrypt", RoleEncrypt, g.apiEncrypt)},
		{"POST /v1/decrypt", g.apiHandler("decrypt", RoleDecrypt, g.apiDecrypt)},
		{"POST /v1/pseudonymize", g.apiHandler("pseudonymize", RolePseudonymize, g.apiPseudonymize)},
		{"POST /v1/reidentify", g.apiHandler("reidentify", RoleReidentify, g.apiReidentify)},
		{"GET /v1/recipient", g.apiHandler("recipient", "", g.apiRecipient)},
		{"GET /v1/services", g.apiHandler("services", RoleAudit, g.apiServices)},
		{"GET /v1/services.html", basicAsBearer(g.apiHandler("services", RoleAudit, g.apiServicesPage))},
	}
}

// readyz reports whether the gateway can do its job now: the audit log can
// be written (a probe retries it), the key store is usable and fresh, and
// the encryption key can be had.
func (g *Gateway) readyz(w http.ResponseWriter, r *http.Request) {
	if !g.auditLog.Writable() {
		reason := ErrAuditUnwritable.Error()
		if err := g.auditLog.Err(); err != nil {
			reason += ": " + err.Error()
		}
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "not ready", "reason": reason})
		return
	}
	if err := g.keys.Ready(); err != nil {
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "not ready", "reason": err.Error()})
		return
	}
	version, _, err := g.keys.EncryptionKeys()
	if err != nil {
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "not ready", "reason": fmt.Sprintf("encryption key: %v", err)})
		return
	}
	for _, c := range g.readyChecks {
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		err := c.check(ctx)
		cancel()
		if err != nil {
			writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "not ready", "reason": c.name + ": " + err.Error()})
			return
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"status": "ready", "key_version": version, "pseudonymization": g.pseudo != nil})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

func writeJSONBody(w io.Writer, v any) {
	json.NewEncoder(w).Encode(v)
}

//go:embed openapi.yaml
var openAPI []byte
