package gateway

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/rs/zerolog"
)

// json2KiB is a 2 KiB JSON record with five identifiers: two personnummer,
// a samordningsnummer and two names.
func json2KiB() []byte {
	var b strings.Builder
	b.WriteString(`{"namn":"Tolvan Tolvansson","personnummer":"19121212-1212","samordningsnummer":"701063-2391","anhorig":"Anna Andersson","kontakt":"811218-9876","anteckningar":[`)
	for i := 0; b.Len() < 2048-40; i++ {
		fmt.Fprintf(&b, `"uppföljning nummer %d, inga avvikelser noterade",`, i)
	}
	b.WriteString(`"slut"],"antal":5}`)
	return []byte(b.String())
}

func benchPost(b *testing.B, cl *http.Client, u, contentType string, body []byte) []time.Duration {
	lat := make([]time.Duration, 0, b.N)
	b.SetBytes(int64(len(body)))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		start := time.Now()
		resp, err := cl.Post(u, contentType, bytes.NewReader(body))
		if err != nil {
			b.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode >= 300 {
			b.Fatalf("POST: %s", resp.Status)
		}
		lat = append(lat, time.Since(start))
	}
	b.StopTimer()
	return lat
}

// BenchmarkPseudonymizeJSON is the added latency of pseudonymization: a
// 2 KiB JSON POST with five identifiers through the gateway with the form
// profile, and the same request with the rule disabled (inspect), in one
// run:
//
//	go test -run '^$' -bench PseudonymizeJSON -benchtime 2000x ./gateway
func BenchmarkPseudonymizeJSON(b *testing.B) {
	body := json2KiB()
	for _, profile := range []string{"inspect", "form"} {
		b.Run("proxy-"+profile, func(b *testing.B) {
			srv, ca := newSink(b)
			h := newHarness(b, Config{UpstreamCA: ca, Services: []ServiceConfig{{Hosts: []string{"127.0.0.1"}, Profile: profile, Ports: []int{urlPort(srv.URL)}}}})
			h.gw.audit = zerolog.New(io.Discard)
			reportLatency(b, benchPost(b, h.client("", ""), srv.URL+"/records", "application/json", body))
			var m dto.Metric
			h.gw.metrics.identifiers.WithLabelValues("pseudonymized", "personnummer").Write(&m)
			if n := m.Counter.GetValue(); profile == "form" && n < float64(3*b.N) {
				b.Errorf("form profile replaced %v personnummer in %d requests", n, b.N)
			}
		})
	}
}

// BenchmarkAPIEncrypt is the throughput of POST /v1/encrypt for 8 MiB
// bodies over loopback:
//
//	go test -run '^$' -bench APIEncrypt -benchtime 40x ./gateway
func BenchmarkAPIEncrypt(b *testing.B) {
	h := newHarness(b, Config{})
	h.gw.audit = zerolog.New(io.Discard)
	body := content(8<<20, 9)
	b.SetBytes(int64(len(body)))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		resp, err := http.Post(h.admin+"/v1/encrypt", "application/octet-stream", bytes.NewReader(body))
		if err != nil {
			b.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			b.Fatal(resp.Status)
		}
	}
}
