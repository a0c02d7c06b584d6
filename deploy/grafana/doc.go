// Package grafana holds the Grafana dashboard for the gateway's Prometheus
// metrics (sluss.json) and, in its tests, the check that every metric and
// label a panel queries is one a real `sluss serve` exports.
package grafana
