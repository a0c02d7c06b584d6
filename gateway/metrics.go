package gateway

import (
	"crypto"
	"crypto/x509"
	"net/http"
	"strconv"
	"time"

	"filippo.io/age"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// metrics are the gateway's Prometheus metrics, on a registry of its own
// (no globals). Labels are our own words and status codes, never a host,
// path or value from a request.
type metrics struct {
	reg         *prometheus.Registry
	requests    *prometheus.CounterVec
	bytes       *prometheus.CounterVec
	duration    *prometheus.HistogramVec
	keyErrors   *prometheus.CounterVec
	identifiers *prometheus.CounterVec
	// handshakeFailures counts clients' failed TLS handshakes with the
	// gateway, by reason: a bad roll-out of the region CA shows at once.
	handshakeFailures *prometheus.CounterVec
	// refusals counts refused requests and CONNECTs by reason code.
	refusals *prometheus.CounterVec
	// inventory counts requests per host (GET /v1/services).
	inventory *Inventory
}

func newMetrics(ready func() error) *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sluss_requests_total",
			Help: "Requests handled (proxy and API), by action (inspect, encrypt, decrypt, pseudonymize, block, tunnel, deny, …) and HTTP status.",
		}, []string{"action", "status"}),
		bytes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sluss_bytes_total",
			Help: "Body bytes received from clients (up) and sent to them (down).",
		}, []string{"direction"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "sluss_request_duration_seconds",
			Help:    "Time from request to the end of the response, by action.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2.5, 14), // 0.5 ms … ~75 s
		}, []string{"action"}),
		keyErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sluss_key_store_errors_total",
			Help: "Failed key store lookups, by operation (encryption, decryption, ca; pseudonym: HMAC keys or the re-identification store).",
		}, []string{"operation"}),
		identifiers: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sluss_identifiers_total",
			Help: "Identifiers replaced by tokens (pseudonymized) and tokens replaced by originals (reidentified) or left (unknown), by type.",
		}, []string{"operation", "type"}),
		handshakeFailures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sluss_tls_handshake_failures_total",
			Help: "Client TLS handshakes with the gateway that failed, by reason (client_untrusted_ca, protocol_version, not_tls, timeout, client_closed, …).",
		}, []string{"reason"}),
		refusals: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sluss_refusals_total",
			Help: "Requests and CONNECTs refused or failed, by reason code (own_listener, loopback, link_local, port_not_allowed, service_not_approved, …).",
		}, []string{"reason"}),
		inventory: NewInventory(DefaultInventoryHosts),
	}
	m.reg.MustRegister(m.requests, m.bytes, m.duration, m.keyErrors, m.identifiers, m.handshakeFailures, m.refusals,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "sluss_keys_ready",
			Help: "1 while the key material is usable (fresh), 0 otherwise; as /readyz.",
		}, func() float64 {
			if ready() != nil {
				return 0
			}
			return 1
		}),
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	// Series that exist from the start, so rates work before the first
	// event.
	for _, d := range []string{"up", "down"} {
		m.bytes.WithLabelValues(d)
	}
	for _, op := range []string{"encryption", "decryption", "ca", "pseudonym"} {
		m.keyErrors.WithLabelValues(op)
	}
	m.identifiers.WithLabelValues("pseudonymized", "personnummer")
	m.identifiers.WithLabelValues("pseudonymized", "name")
	m.identifiers.WithLabelValues("reidentified", "personnummer")
	m.identifiers.WithLabelValues("reidentified", "name")
	m.identifiers.WithLabelValues("unknown", "token")
	for code := range handshakeReasons {
		m.handshakeFailures.WithLabelValues(code)
	}
	return m
}

// observe records one finished request from its audit event.
func (m *metrics) observe(ev *auditEvent) {
	action := ev.action
	if action == "" {
		action = "none"
	}
	m.requests.WithLabelValues(action, strconv.Itoa(ev.status)).Inc()
	m.bytes.WithLabelValues("up").Add(float64(ev.bytesUp))
	m.bytes.WithLabelValues("down").Add(float64(ev.bytesDown))
	m.duration.WithLabelValues(action).Observe(time.Since(ev.start).Seconds())
	c := ev.counts
	if ev.reasonCode != "" {
		m.refusals.WithLabelValues(ev.reasonCode).Inc()
	}
	if ev.keyFailure != "" {
		m.keyErrors.WithLabelValues(ev.keyFailure).Inc()
	}
	m.identifiers.WithLabelValues("pseudonymized", "personnummer").Add(float64(c.Personnummer))
	m.identifiers.WithLabelValues("pseudonymized", "name").Add(float64(c.Names))
	m.identifiers.WithLabelValues("reidentified", "personnummer").Add(float64(c.ReidentifiedPersonnummer))
	m.identifiers.WithLabelValues("reidentified", "name").Add(float64(c.ReidentifiedNames))
	m.identifiers.WithLabelValues("unknown", "token").Add(float64(c.Unknown))
}

func (m *metrics) handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
}

// record writes an audit event and counts it in the metrics and the
// service inventory.
func (g *Gateway) record(ev *auditEvent) {
	if ev.reasonCode == codeAuditUnwritable && g.auditLog.Err() != nil {
		// Refused because admission's retry just failed: counted as
		// lost, not written again (nor reported by zerolog each time).
		g.auditLog.lose()
	} else {
		ev.write(g.audit)
	}
	g.metrics.observe(ev)
	g.inventoryAdd(ev)
}

// countingKeys counts the key store's failures for the metrics.
type countingKeys struct {
	KeySource
	m *metrics
}

func (k countingKeys) EncryptionKeys() (int, []age.Recipient, error) {
	v, r, err := k.KeySource.EncryptionKeys()
	if err != nil {
		k.m.keyErrors.WithLabelValues("encryption").Inc()
	}
	return v, r, err
}

func (k countingKeys) DecryptionKeys() ([]age.Identity, error) {
	ids, err := k.KeySource.DecryptionKeys()
	if err != nil {
		k.m.keyErrors.WithLabelValues("decryption").Inc()
	}
	return ids, err
}

func (k countingKeys) CA() (*x509.Certificate, crypto.Signer, error) {
	c, s, err := k.KeySource.CA()
	if err != nil {
		k.m.keyErrors.WithLabelValues("ca").Inc()
	}
	return c, s, err
}
