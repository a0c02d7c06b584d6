package gateway

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// TestHandshakeFailuresAudited checks that a CONNECT whose TLS handshake
// fails is audited with its reason and moves the metric: a client that
// does not trust the region CA (real curl), one that offers only TLS 1.1,
// and one that does not speak TLS at all.
func TestHandshakeFailuresAudited(t *testing.T) {
	c := newCloud(t)
	h := newHarness(t, storageConfig(c, "storage"))
	metric := func(reason string) float64 {
		return sum(h.scrape(t), "sluss_tls_handshake_failures_total", map[string]string{"reason": reason})
	}
	waitFor := func(what string, cond func() bool) {
		t.Helper()
		for end := time.Now().Add(5 * time.Second); time.Now().Before(end); time.Sleep(10 * time.Millisecond) {
			if cond() {
				return
			}
		}
		t.Errorf("%s: not seen; audit:\n%s", what, h.debug.String())
	}

	// curl with the system roots only, which do not hold the region CA.
	bin := needTool(t, "curl", curlHint)
	if out, err := runCmd(bin, "-sS", "--proxy", h.proxy, "-o", "/dev/null", c.URL()+"/"); err == nil {
		t.Fatalf("curl without the region CA succeeded: %s", out)
	}
	waitFor("untrusted CA", func() bool {
		return h.auditHas(t, `"action":"tls_failed"`, `"reason_code":"client_untrusted_ca"`) && metric(tlsUntrustedCA) == 1
	})

	connect := func() net.Conn {
		conn, err := net.Dial("tcp", strings.TrimPrefix(h.proxy, "http://"))
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(conn, "CONNECT %s HTTP/1.1\r\nHost: %[1]s\r\n\r\n", c.host())
		br := bufio.NewReader(conn)
		resp, err := http.ReadResponse(br, nil)
		if err != nil || resp.StatusCode != 200 || br.Buffered() != 0 {
			t.Fatalf("CONNECT: %v %v", err, resp)
		}
		return conn
	}
	conn := connect()
	tc := tls.Client(conn, &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS10, MaxVersion: tls.VersionTLS11})
	if err := tc.Handshake(); err == nil {
		t.Error("a TLS 1.1 handshake succeeded")
	}
	tc.Close()
	waitFor("protocol version", func() bool {
		return h.auditHas(t, `"reason_code":"protocol_version"`) && metric(tlsVersion) == 1
	})

	conn = connect()
	fmt.Fprintf(conn, "GET / HTTP/1.1\r\nHost: %s\r\n\r\n", c.host())
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	bufio.NewReader(conn).ReadString('\n')
	conn.Close()
	waitFor("plain HTTP inside CONNECT", func() bool {
		return h.auditHas(t, `"reason_code":"not_tls"`) && metric(tlsNotTLS) == 1
	})
}

func TestHandshakeFailureNames(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want string
	}{
		{fmt.Errorf("remote error: tls: unknown certificate authority"), tlsUntrustedCA},
		{fmt.Errorf("remote error: tls: bad certificate"), tlsUntrustedCA},
		{fmt.Errorf("local error: tls: bad record MAC"), tlsUntrustedCA},
		{fmt.Errorf("tls: client offered only unsupported versions: [302]"), tlsVersion},
		{fmt.Errorf("tls: no cipher suite supported by both client and server; client offered: [5]"), tlsNoCipher},
		{fmt.Errorf("read: %w", net.ErrClosed), tlsClientClosed},
		{fmt.Errorf("remote error: tls: user canceled"), tlsClientAborted},
		{fmt.Errorf("something else"), tlsOther},
	} {
		if got := handshakeFailure(tc.err); got != tc.want {
			t.Errorf("handshakeFailure(%v) = %s, want %s", tc.err, got, tc.want)
		}
	}
}

func runCmd(bin string, args ...string) (string, error) {
	out, err := exec.Command(bin, args...).CombinedOutput()
	return string(out), err
}
