package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"

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
	srv := &http.Server{
		Handler:           g,
		ReadHeaderTimeout: g.limits.HeaderTimeout,
		IdleTimeout:       g.limits.IdleTimeout,
		MaxHeaderBytes:    g.limits.MaxHeaderBytes,
		ErrorLog:          newStdLogger(g.log),
	}
	g.mu.Lock()
	if g.closed.Load() {
		g.mu.Unlock()
		return http.ErrServerClosed
	}
	g.servers = append(g.servers, srv)
	g.mu.Unlock()
	return srv.Serve(netutil.LimitListener(l, g.limits.MaxConnections))
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

// AdminHandler returns the admin listener's mux: /healthz (the process
// runs) and /readyz (the key material is usable). Further admin routes
// (the API, /metrics) are added to the same mux with Handle.
func (g *Gateway) AdminHandler() *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		if err := g.keys.Ready(); err != nil {
			writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "not ready", "reason": err.Error()})
			return
		}
		if _, _, err := g.keys.EncryptionKeys(); err != nil {
			writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "not ready", "reason": fmt.Sprintf("encryption key: %v", err)})
			return
		}
		writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
	})
	return mux
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}
