// Package gateway is sluss's forward proxy: it lets users reach only the
// cloud services the region has approved, encrypts file payloads on their
// way up, decrypts them on their way down for users allowed to, and writes
// one audit event for every decision.
//
// For most uses, build a [Config] (from YAML or by hand), give [New] a
// [KeySource] (a keys.Store through [FromStore]) and zerolog loggers for the
// audit trail and diagnostics, then call [Gateway.Serve] with a listener
// for the proxy and serve [Gateway.AdminHandler] on another for /healthz
// and /readyz; further admin routes go on the same mux.
//
// What happens to a request is decided in three steps:
//
//   - a [Policy] maps the host (exact name or "*.suffix") to a [Service] and
//     its action: inspect (TLS terminated with a leaf certificate from the
//     region CA), tunnel (bytes relayed and counted, never read) or block;
//   - inside an inspected service, the first [Rule] matching the method,
//     path and content type names the request and response [Transformer]s;
//     the built-in profiles "inspect", "storage", "webdav" and "form" are
//     such rule lists;
//   - the transformers rewrite bodies as streams: [Encrypt] for uploads
//     (whole bodies, or the file parts of multipart forms), [Decrypt] for age
//     files coming back (HTTP Range and HEAD answered in plaintext terms),
//     [WebDAVSizes] for listings, [Pseudonymize] for personnummer and names
//     in bodies, URLs, headers and file names (give [New] a pseudonym.Pseudonymizer
//     with [WithPseudonymizer]), [Reidentify] to put the originals back for
//     users with the reidentify right. A [RequestTransformer] runs before
//     anything is sent; a [ResponseTransformer] wraps the upstream round
//     trip.
//
// A request that asks to switch protocols is decided by its rule too: only
// WebSocket is switched to, and its messages are pseudonymized, relayed as
// sent or refused ([WebSocketMode]); h2c and other upgrades are refused.
//
// The admin listener ([Gateway.AdminHandler]) also serves the API for
// systems (/v1/encrypt, /v1/decrypt, /v1/pseudonymize, /v1/reidentify,
// /v1/recipient; described in openapi.yaml, bearer tokens per [APIConfig]),
// the cloud services in use (/v1/services, an [Inventory] fed by every
// audit event; [Inventory.ReadAuditLog] builds the same from audit logs),
// Prometheus /metrics and /proxy.pac for browsers.
//
// The audit trail is tamper-evident: write it through an [AuditLog] (a hash
// chain with signed checkpoints; New's audit logger is [AuditLog.Logger],
// and [WithAuditLog] lets the gateway refuse requests while the log cannot
// be written). [AuditVerifier] checks what it wrote.
//
// Everything fails closed: a transformer that cannot do its job refuses the
// request before anything is sent upstream, and a download whose ciphertext
// fails authentication is cut, never completed.
package gateway
