// Package gateway is sluss's forward proxy: it lets users reach only the
// cloud services the region has approved, encrypts file payloads on their
// way up, decrypts them on their way down for users allowed to, and writes
// one audit event for every decision.
//
// For most uses, build a [Config] (from YAML or by hand), give [New] a
// [KeySource] (keys.Store satisfies it through [FromStore]) and a zerolog
// logger for the audit trail, then call [Gateway.Serve] with a listener for
// the proxy and [Gateway.AdminHandler] on another for /healthz and /readyz.
//
// What happens to a request is decided in three steps:
//
//   - a [Policy] maps the host (exact name or "*.suffix") to a [Service] and
//     its action: inspect (TLS terminated with a leaf certificate from the
//     region CA), tunnel (bytes relayed and counted, never read) or block;
//   - inside an inspected service, the first [Rule] matching the method,
//     path and content type names the request and response [Transformer]s;
//     the built-in profiles "inspect", "storage" and "webdav" are such rule
//     lists;
//   - the transformers rewrite bodies as streams: [EncryptBody] for whole
//     bodies, [EncryptMultipart] for file parts of forms, [DecryptBody] for
//     age files coming back (with HTTP Range and HEAD answered in plaintext
//     terms). Pseudonymization plugs in as one more Transformer.
//
// Everything fails closed: a transformer that cannot do its job refuses the
// request before anything is sent upstream, and a download whose ciphertext
// fails authentication is cut, never completed.
package gateway
