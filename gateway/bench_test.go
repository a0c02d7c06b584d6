package gateway

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"testing"
	"time"

	"github.com/rs/zerolog"
)

// sink is an HTTPS upstream that reads and discards request bodies.
func newSink(b *testing.B) (*httptest.Server, string) {
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.WriteHeader(http.StatusNoContent)
	}))
	srv.StartTLS()
	b.Cleanup(srv.Close)
	ca := filepath.Join(b.TempDir(), "sink.pem")
	os.WriteFile(ca, pemCert(srv.Certificate().Raw), 0o644)
	return srv, ca
}

func directClient(srv *httptest.Server) *http.Client {
	pool := x509.NewCertPool()
	pool.AddCert(srv.Certificate())
	return &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
}

func benchPut(b *testing.B, cl *http.Client, u string, body []byte) []time.Duration {
	lat := make([]time.Duration, 0, b.N)
	b.SetBytes(int64(len(body)))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		start := time.Now()
		req, _ := http.NewRequest(http.MethodPut, u, bytes.NewReader(body))
		resp, err := cl.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusNoContent {
			b.Fatalf("PUT: %s", resp.Status)
		}
		lat = append(lat, time.Since(start))
	}
	b.StopTimer()
	return lat
}

func reportLatency(b *testing.B, lat []time.Duration) {
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	if len(lat) == 0 {
		return
	}
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
}

// BenchmarkGateway compares PUTs direct to an HTTPS sink with the same PUTs
// through the gateway, inspecting only and encrypting, in one run:
//
//	go test -run '^$' -bench Gateway -benchtime 3s ./gateway
func BenchmarkGateway(b *testing.B) {
	for _, size := range []int{8 << 20, 1 << 10} {
		body := content(size, 1)
		name := "8MiB"
		if size == 1<<10 {
			name = "1KiB"
		}
		b.Run(name+"/direct", func(b *testing.B) {
			srv, _ := newSink(b)
			reportLatency(b, benchPut(b, directClient(srv), srv.URL+"/x", body))
		})
		for _, profile := range []string{"inspect", "storage"} {
			b.Run(name+"/proxy-"+profile, func(b *testing.B) {
				srv, ca := newSink(b)
				h := newHarness(b, Config{UpstreamCA: ca, Services: []ServiceConfig{{Hosts: []string{"127.0.0.1"}, Profile: profile, Ports: []int{urlPort(srv.URL)}}}})
				// Real, chained events, not kept in memory.
				alog, _ := NewAuditLog(io.Discard, AuditOptions{Key: h.auditKey, Interval: -1})
				h.gw.audit, h.gw.auditLog = zerolog.New(alog), alog
				reportLatency(b, benchPut(b, h.client("", ""), srv.URL+"/x", body))
			})
		}
	}
}

func pemCert(der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}
