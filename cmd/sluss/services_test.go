package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sluss/sluss/gateway"
)

// TestServicesFromServeAuditLog runs `sluss serve` (--default tunnel, an
// inspected service, a tunnel service on a loopback host and port, a
// blocked one), sends requests through it, then runs `sluss services`
// over the audit log it wrote and checks every host and count; the
// running gateway's GET /v1/services said the same.
func TestServicesFromServeAuditLog(t *testing.T) {
	dir := t.TempDir()
	upstream := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		io.WriteString(w, "stored, thanks\n")
	}))
	defer upstream.Close()
	upstreamCA := filepath.Join(dir, "upstream-ca.pem")
	os.WriteFile(upstreamCA, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: upstream.Certificate().Raw}), 0o644)
	uport := upstream.Listener.Addr().(*net.TCPAddr).Port

	// The tunnelled service reads 300 bytes and answers 400.
	const tunnelUp, tunnelDown = 300, 400
	tl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer tl.Close()
	go func() {
		for {
			c, err := tl.Accept()
			if err != nil {
				return
			}
			if _, err := io.ReadFull(c, make([]byte, tunnelUp)); err == nil {
				c.Write(make([]byte, tunnelDown))
			}
			c.Close()
		}
	}()
	tport := tl.Addr().(*net.TCPAddr).Port

	auditLog := filepath.Join(dir, "audit.json")
	config := filepath.Join(dir, "sluss.yaml")
	os.WriteFile(config, []byte(fmt.Sprintf(`keys:
  data_dir: %s
gateway:
  default: tunnel
  audit_log: %s
  upstream_ca: %s
  services:
    - {name: cloud, hosts: ["127.0.0.1"], profile: inspect, ports: [%d]}
    - {name: loopback-tunnel, hosts: [localhost], action: tunnel, ports: [%d]}
    - {name: banned, hosts: [banned.test], action: block}
`, filepath.Join(dir, "data"), auditLog, upstreamCA, uport, tport)), 0o600)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stderr := &lockedBuffer{}
	e := &env{stdin: strings.NewReader(""), stdout: io.Discard, stderr: stderr, getenv: func(string) string { return "" }}
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, e, []string{"serve", "--config", config, "--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0"})
	}()
	proxyRE := regexp.MustCompile(`proxy:\s+(http://\S+)`)
	adminRE := regexp.MustCompile(`admin:\s+(http://\S+)/healthz`)
	var proxy, admin string
	for i := 0; i < 200 && admin == ""; i++ {
		if m := adminRE.FindStringSubmatch(stderr.String()); m != nil {
			admin, proxy = m[1], proxyRE.FindStringSubmatch(stderr.String())[1]
		}
		time.Sleep(50 * time.Millisecond)
	}
	if admin == "" {
		t.Fatalf("no start-up message:\n%s", stderr.String())
	}

	caPEM, err := os.ReadFile(filepath.Join(dir, "data", "ca.pem"))
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(caPEM)
	pu, _ := url.Parse(proxy)
	client := &http.Client{Transport: &http.Transport{Proxy: http.ProxyURL(pu), TLSClientConfig: &tls.Config{RootCAs: roots}}}
	base := "https://127.0.0.1:" + strconv.Itoa(uport)
	var down int64
	do := func(method, u string, body io.Reader) {
		t.Helper()
		req, _ := http.NewRequest(method, u, body)
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		n, _ := io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("%s %s: %s", method, u, resp.Status)
		}
		down += n
	}
	for range 3 {
		do("GET", base+"/records/19121212-1212", nil)
	}
	do("POST", base+"/upload?pnr=19121212-1212", bytes.NewReader(make([]byte, 1000)))
	for _, host := range []string{"banned.test:443", "127.0.0.2:443"} { // blocked; unlisted on loopback: refused
		req, _ := http.NewRequest("GET", "https://"+host+"/", nil)
		if resp, err := client.Do(req); err == nil {
			resp.Body.Close()
			t.Errorf("%s: %s", host, resp.Status)
		}
	}
	c, err := net.Dial("tcp", pu.Host)
	if err != nil {
		t.Fatal(err)
	}
	target := net.JoinHostPort("localhost", strconv.Itoa(tport))
	fmt.Fprintf(c, "CONNECT %s HTTP/1.1\r\nHost: %s\r\n\r\n", target, target)
	br := bufio.NewReader(c)
	if resp, err := http.ReadResponse(br, &http.Request{Method: "CONNECT"}); err != nil || resp.StatusCode != 200 {
		t.Fatalf("CONNECT %s: %v %v", target, err, resp)
	}
	c.Write(make([]byte, tunnelUp))
	if n, _ := io.Copy(io.Discard, br); n != tunnelDown {
		t.Fatalf("tunnel answered %d bytes", n)
	}
	c.Close()

	var live []gateway.ServiceUsage
	for i := 0; i < 200; i++ {
		resp, err := http.Get(admin + "/v1/services")
		if err != nil {
			t.Fatal(err)
		}
		live = nil
		json.NewDecoder(resp.Body).Decode(&live)
		resp.Body.Close()
		if len(live) == 4 {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	cancel()
	if code := <-done; code != 0 {
		t.Fatalf("serve exited %d:\n%s", code, stderr.String())
	}

	var out, errOut bytes.Buffer
	if code := run(context.Background(), &env{stdout: &out, stderr: &errOut, getenv: func(string) string { return "" }}, []string{"services", "--format", "json", auditLog}); code != 0 {
		t.Fatalf("services exited %d: %s", code, errOut.String())
	}
	var rows []gateway.ServiceUsage
	if err := json.Unmarshal(out.Bytes(), &rows); err != nil {
		t.Fatal(err)
	}
	want := []gateway.ServiceUsage{
		{Host: "127.0.0.1", Service: "cloud", Decision: "approved", Requests: 4, Users: 1, BytesUp: 1000, BytesDown: down, Actions: map[string]int64{"inspect": 4}},
		{Host: "127.0.0.2", Service: "unlisted", Decision: "denied", Requests: 1, Users: 1, Refused: 1, Actions: map[string]int64{"deny": 1},
			Approve: "--approve 127.0.0.2=inspect", Block: `- {hosts: ["127.0.0.2"], action: block}`},
		{Host: "banned.test", Service: "banned", Decision: "blocked", Requests: 1, Users: 1, Refused: 1, Actions: map[string]int64{"block": 1},
			Approve: "--approve banned.test=inspect"},
		{Host: "localhost", Service: "loopback-tunnel", Decision: "tunnelled", Requests: 1, Users: 1, BytesUp: tunnelUp, BytesDown: tunnelDown, Actions: map[string]int64{"tunnel": 1},
			Approve: "--approve localhost=inspect", Block: `- {hosts: ["localhost"], action: block}`},
	}
	strip := func(rows []gateway.ServiceUsage) []gateway.ServiceUsage {
		var s []gateway.ServiceUsage
		for _, r := range rows {
			if _, err := time.Parse(time.RFC3339, r.FirstSeen); err != nil || r.LastSeen < r.FirstSeen {
				t.Errorf("%s: first seen %q, last seen %q", r.Host, r.FirstSeen, r.LastSeen)
			}
			r.FirstSeen, r.LastSeen, r.Profile = "", "", ""
			s = append(s, r)
		}
		return s
	}
	if got := strip(rows); !reflect.DeepEqual(got, want) {
		t.Errorf("sluss services:\n got %+v\nwant %+v", got, want)
	}
	if len(live) != 4 || live[0].Profile != "inspect" {
		t.Errorf("GET /v1/services: %+v", live)
	}
	if got := strip(live); !reflect.DeepEqual(got, want) {
		t.Errorf("GET /v1/services:\n got %+v\nwant %+v", got, want)
	}
	log, _ := os.ReadFile(auditLog)
	if !bytes.Contains(log, []byte(`"path":"/records/`)) {
		t.Fatalf("the audit log lacks the requests:\n%s", log)
	}
	for _, f := range []string{"json", "csv", "table"} {
		out.Reset()
		run(context.Background(), &env{stdout: &out, stderr: &errOut, getenv: func(string) string { return "" }}, []string{"services", "--format", f, auditLog})
		for _, never := range []string{"19121212", "1212", "/records", "/upload", "pnr"} {
			if strings.Contains(out.String(), never) {
				t.Errorf("--format %s shows %q", f, never)
			}
		}
		for _, host := range []string{"127.0.0.1", "127.0.0.2", "banned.test", "localhost"} {
			if !strings.Contains(out.String(), host) {
				t.Errorf("--format %s lacks %s", f, host)
			}
		}
	}
}
