package gateway

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os/exec"
	"reflect"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// inventoryLog is an audit log as gateways write it, with what other
// writers add: hash-chain fields (seq, prev), chain markers, fields the
// inventory does not know, API calls, a stray line of text.
const inventoryLog = `{"level":"info","log":"audit","seq":1,"prev":"","action":"chain_start","time":"2025-03-01T09:00:00+01:00","message":"chain_start"}
{"level":"info","log":"audit","seq":2,"prev":"9f1c","request_id":"01","user":"alice","client":"10.1.1.1:5000","host":"files.example.org","service":"files","method":"GET","path":"/sl_pnr_abc","action":"inspect","bytes_up":0,"bytes_down":13,"status":502,"reason":"the cloud service could not be reached","duration":1.5,"time":"2025-03-01T09:59:00+01:00","message":"request"}
{"level":"info","log":"audit","seq":3,"prev":"77aa","request_id":"02","user":"alice","client":"10.1.1.1:5001","host":"files.example.org","service":"files","method":"PUT","path":"/a","action":"encrypt","key_version":2,"bytes_up":1000,"bytes_down":0,"status":201,"replaced":1,"time":"2025-03-01T10:00:00+01:00","message":"request"}
this line is not JSON
{"level":"info","log":"audit","seq":4,"request_id":"03","user":"bob","host":"files.example.org","service":"files","method":"GET","path":"/a","action":"decrypt","bytes_up":0,"bytes_down":900,"status":200,"time":"2025-03-01T10:01:00+01:00","message":"request"}
{"level":"info","log":"audit","seq":5,"request_id":"04","user":"","host":"files.example.org","service":"","method":"CONNECT","action":"deny","status":407,"reason_code":"proxy_auth_required","time":"2025-03-01T10:02:00+01:00","message":"request"}
{"level":"info","log":"audit","seq":6,"request_id":"05","user":"carol","host":"files.example.org","service":"files","method":"CONNECT","action":"tls_failed","status":0,"reason_code":"client_untrusted_ca","reason":"the client does not trust the region CA's certificate","time":"2025-03-01T10:03:00+01:00","message":"request"}
{"level":"info","log":"audit","seq":7,"request_id":"06","user":"ehr-export","service":"api","method":"POST","path":"/v1/encrypt","action":"encrypt","bytes_up":5,"bytes_down":1700,"status":200,"time":"2025-03-01T10:04:00+01:00","message":"request"}
{"level":"info","log":"audit","seq":8,"request_id":"07","user":"alice","host":"shadow.example.net","service":"unlisted","method":"CONNECT","action":"tunnel","bytes_up":10,"bytes_down":20,"status":200,"time":"2025-03-01T10:05:00+01:00","message":"request"}
{"level":"info","log":"audit","seq":9,"request_id":"08","user":"alice","host":"shadow.example.net","service":"unlisted","method":"CONNECT","action":"block","status":403,"reason_code":"service_not_approved","time":"2025-03-01T11:00:00+01:00","message":"request"}
{"level":"info","log":"audit","seq":10,"request_id":"09","user":"dave","host":"shadow.example.net","service":"unlisted","method":"CONNECT","action":"tunnel","bytes_up":1,"bytes_down":2,"status":200,"time":"2025-03-01T10:30:00+01:00","message":"request"}
{"level":"info","log":"audit","seq":11,"request_id":"10","user":"bob","host":"chat.example.com","service":"unlisted","method":"CONNECT","action":"tunnel","bytes_up":5,"bytes_down":6,"status":502,"reason_code":"upstream_unreachable","time":"2025-03-01T10:06:00+01:00","message":"request"}
{"level":"info","log":"audit","seq":12,"request_id":"11","user":"bob","host":"::1","service":"unlisted","method":"CONNECT","action":"deny","status":403,"reason_code":"loopback","time":"2025-03-01T10:07:00+01:00","message":"request"}
{"level":"info","log":"audit","seq":13,"request_id":"12","user":"bob","host":"new.example.com","service":"new","method":"GET","action":"a_future_action","status":200,"future_field":{"x":1},"time":"2025-03-01T10:08:00+01:00","message":"request"}
{"level":"info","log":"audit","seq":14,"request_id":"13","user":"bob","host":"bad host","service":"unlisted","method":"CONNECT","action":"deny","status":400,"reason_code":"bad_target","time":"2025-03-01T10:09:00+01:00","message":"request"}
{"level":"info","log":"audit","seq":14,"request_id":"14","user":"bob","host":"strict.example.org","service":"strict","method":"DELETE","path":"/x","action":"deny","status":403,"reason_code":"rule_denied","reason":"no rule of service strict allows DELETE requests","time":"2025-03-01T10:10:00+01:00","message":"request"}
{"level":"info","log":"audit","seq":15,"checkpoint":"ab12","action":"checkpoint","time":"2025-03-01T12:00:00+01:00","message":"request"}
{"level":"info","log":"audit","seq":16,"message":"key rotated","time":"2025-03-01T12:00:01+01:00"}
{}
`

func TestInventoryFromAuditLog(t *testing.T) {
	inv := NewInventory(0)
	st, err := inv.ReadAuditLog(strings.NewReader(inventoryLog))
	if err != nil {
		t.Fatal(err)
	}
	// 14 request events (the API call among them, not counted: no host);
	// chain_start, checkpoint, the key message, {} and the text line skipped.
	if st != (AuditLogStats{Events: 14, Skipped: 5, Malformed: 1}) {
		t.Errorf("stats %+v", st)
	}
	want := []ServiceUsage{
		{Host: "files.example.org", Service: "files", Decision: DecisionApproved, Requests: 4, Users: 3,
			BytesUp: 1000, BytesDown: 913, FirstSeen: "2025-03-01T08:59:00Z", LastSeen: "2025-03-01T09:03:00Z",
			Refused: 1, Errors: 1, TLSFailures: 1,
			Actions: map[string]int64{"inspect": 1, "encrypt": 1, "decrypt": 1, "deny": 1, "tls_failed": 1}},
		// The latest answer counts: blocked at 11:00 after tunnels, one of
		// which comes later in the file but earlier in time.
		{Host: "shadow.example.net", Service: "unlisted", Decision: DecisionBlocked, Requests: 3, Users: 2,
			BytesUp: 11, BytesDown: 22, FirstSeen: "2025-03-01T09:05:00Z", LastSeen: "2025-03-01T10:00:00Z",
			Refused: 1, Actions: map[string]int64{"tunnel": 2, "block": 1},
			Approve: "--approve shadow.example.net=inspect"},
		{Host: "::1", Service: "unlisted", Decision: DecisionDenied, Requests: 1, Users: 1,
			FirstSeen: "2025-03-01T09:07:00Z", LastSeen: "2025-03-01T09:07:00Z", Refused: 1,
			Actions: map[string]int64{"deny": 1},
			Approve: "--approve [::1]=inspect", Block: `- {hosts: ["::1"], action: block}`},
		{Host: "chat.example.com", Service: "unlisted", Decision: DecisionTunnelled, Requests: 1, Users: 1,
			BytesUp: 5, BytesDown: 6, FirstSeen: "2025-03-01T09:06:00Z", LastSeen: "2025-03-01T09:06:00Z",
			Errors: 1, Actions: map[string]int64{"tunnel": 1},
			Approve: "--approve chat.example.com=inspect", Block: `- {hosts: ["chat.example.com"], action: block}`},
		// An action the inventory does not know counts as a request and
		// decides nothing.
		{Host: "new.example.com", Service: "new", Requests: 1, Users: 1,
			FirstSeen: "2025-03-01T09:08:00Z", LastSeen: "2025-03-01T09:08:00Z",
			Actions: map[string]int64{"a_future_action": 1},
			Approve: "--approve new.example.com=inspect", Block: `- {hosts: ["new.example.com"], action: block}`},
		// Refused by a rule inside an inspected connection: approved.
		{Host: "strict.example.org", Service: "strict", Decision: DecisionApproved, Requests: 1, Users: 1,
			FirstSeen: "2025-03-01T09:10:00Z", LastSeen: "2025-03-01T09:10:00Z", Refused: 1,
			Actions: map[string]int64{"deny": 1}},
		// A name no policy could list is counted, not shown.
		{Host: OverflowHost, Requests: 1, FirstSeen: "2025-03-01T09:09:00Z", LastSeen: "2025-03-01T09:09:00Z",
			Refused: 1, Actions: map[string]int64{"deny": 1}},
	}
	got := inv.Services()
	if !reflect.DeepEqual(got, want) {
		g, _ := json.MarshalIndent(got, "", " ")
		t.Errorf("inventory:\n%s", g)
	}
	out, _ := json.Marshal(got)
	for _, never := range []string{"alice", "bob", "carol", "dave", "sl_pnr", "/a", "10.1.1.1", "ehr-export", "bad host"} {
		if strings.Contains(string(out), never) {
			t.Errorf("the inventory shows %q", never)
		}
	}
}

// TestInventoryBounded fills an inventory past its limits: further hosts
// go to the overflow row, further users make counts lower bounds, and
// hosts no policy could name never take a row.
func TestInventoryBounded(t *testing.T) {
	inv := NewInventory(10) // room for 10 hosts and 1 000 (host, user) pairs
	for i := range 15 {
		inv.Add(AuditRecord{Host: fmt.Sprintf("h%02d.example.org", i), Action: "inspect", User: "u", BytesUp: 1})
	}
	for i := range 1200 {
		inv.Add(AuditRecord{Host: "h00.example.org", Action: "inspect", User: fmt.Sprint("user", i)})
	}
	inv.Add(AuditRecord{Host: strings.Repeat("a", 300), Action: "deny"})
	inv.Add(AuditRecord{Host: "new\nline", Action: "deny"})
	rows := inv.Services()
	if len(rows) != 11 {
		t.Fatalf("%d rows, want 10 hosts and the overflow row", len(rows))
	}
	top := rows[0]
	if top.Host != "h00.example.org" || top.Requests != 1201 || !top.UsersAtLeast || top.Users != 1000-9 {
		t.Errorf("top row %+v", top)
	}
	if o := rows[10]; o.Host != OverflowHost || o.Requests != 7 || o.Users != 0 || o.BytesUp != 5 || o.Refused != 2 {
		t.Errorf("overflow row %+v", o)
	}
	for _, r := range rows[1:10] {
		if r.Users != 1 || r.UsersAtLeast {
			t.Errorf("row %+v", r)
		}
	}
}

// BenchmarkInventoryAdd is the cost the live inventory adds to every
// request (the hook in record), from parallel goroutines.
func BenchmarkInventoryAdd(b *testing.B) {
	inv := NewInventory(0)
	hosts := make([]string, 200)
	for i := range hosts {
		hosts[i] = fmt.Sprintf("host-%d.example.org", i)
	}
	users := make([]string, 1000)
	for i := range users {
		users[i] = fmt.Sprint("user", i)
	}
	now := time.Now()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			inv.Add(AuditRecord{Time: now, Host: hosts[i%len(hosts)], Service: "s", User: users[i%len(users)], Action: "encrypt", Status: 200, BytesUp: 100})
			i++
		}
	})
}

// tcpService is a service behind a tunnel: it reads up bytes from each
// connection, answers down bytes and closes.
func tcpService(t *testing.T, up, down int) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				if _, err := io.ReadFull(c, make([]byte, up)); err == nil {
					c.Write(make([]byte, down))
				}
			}()
		}
	}()
	return l.Addr().(*net.TCPAddr).Port
}

// tunnelThrough opens a tunnel through the gateway with a raw CONNECT (as
// a sync client with its own protocol would), sends up bytes and reads the
// answer to its end.
func (h *harness) tunnelThrough(t *testing.T, target, user, pass string, up int) int64 {
	t.Helper()
	c, err := net.Dial("tcp", strings.TrimPrefix(h.proxy, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	auth := base64.StdEncoding.EncodeToString([]byte(user + ":" + pass))
	fmt.Fprintf(c, "CONNECT %s HTTP/1.1\r\nHost: %s\r\nProxy-Authorization: Basic %s\r\n\r\n", target, target, auth)
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, &http.Request{Method: http.MethodConnect})
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("CONNECT %s: %v %v", target, err, resp)
	}
	if _, err := c.Write(make([]byte, up)); err != nil {
		t.Fatal(err)
	}
	n, _ := io.Copy(io.Discard, br)
	return n
}

// waitFor polls cond for up to 10 s: a tunnel's audit event is written
// when both directions have ended, after the client saw its end.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for i := 0; i < 200; i++ {
		if cond() {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("timed out waiting for %s", what)
}

// TestServicesInventory drives real curl (and a raw tunnel client) to an
// approved host, a tunnelled one (--default tunnel, and a tunnel service
// on a loopback host and port), a blocked one and one whose destination
// is refused, and checks that GET /v1/services counts exactly what was
// done; that the audit log, read by ReadAuditLog, gives the same rows;
// and that the HTML page, in headless Chromium, shows and sorts them.
// Paths with personnummer were sent: no path and no name shows anywhere.
func TestServicesInventory(t *testing.T) {
	c := newCloud(t)
	c.mux.HandleFunc("GET /hello", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "hello, region\n") })
	c.mux.HandleFunc("GET /fail", func(w http.ResponseWriter, r *http.Request) { http.Error(w, "broken", http.StatusInternalServerError) })
	const tunnelUp, tunnelDown = 5000, 7000
	tport := tcpService(t, tunnelUp, tunnelDown)
	cfg := Config{
		Default:    "tunnel",
		UpstreamCA: c.caFile,
		UsersFile:  writeUsers(t, map[string]string{"alice": "a-pass", "bob": "b-pass"}),
		Groups:     []GroupConfig{{Name: "staff", Members: []string{"alice"}, Rights: []string{"decrypt"}}},
		Services: []ServiceConfig{
			{Name: "cloud", Hosts: []string{"127.0.0.1"}, Profile: "storage", Ports: []int{c.port()}},
			{Name: "loopback-tunnel", Hosts: []string{"localhost"}, Action: "tunnel", Ports: []int{tport}},
			{Name: "banned", Hosts: []string{"banned.test"}, Action: "block"},
		},
	}
	h := newHarness(t, cfg)
	h.namesMu.Lock()
	h.names["localhost"] = []netip.Addr{netip.MustParseAddr("127.0.0.1")}
	h.names["shadow.test"] = []netip.Addr{netip.MustParseAddr("127.0.0.1")} // unlisted: loopback is refused
	h.namesMu.Unlock()

	// curl prints "CONNECT-STATUS STATUS BYTES-DOWNLOADED".
	curl := func(args ...string) (connect, status int, down int64) {
		t.Helper()
		out, _, _ := h.curl(t, append([]string{"-o", "/dev/null", "-w", "%{http_connect} %{http_code} %{size_download}"}, args...)...)
		if _, err := fmt.Sscan(out, &connect, &status, &down); err != nil {
			t.Fatalf("curl %v: %q", args, out)
		}
		return connect, status, down
	}
	const upload = 3000
	src := writeTemp(t, "report.bin", content(upload, 1))
	file := c.URL() + "/19121212-1212.txt"
	var approvedDown int64
	for _, rq := range []struct {
		args   []string
		status int
	}{
		{[]string{"--proxy-user", "alice:a-pass", "-T", src, file}, 201},
		{[]string{"--proxy-user", "alice:a-pass", file + "?pnr=19121212-1212"}, 200},
		{[]string{"--proxy-user", "bob:b-pass", c.URL() + "/hello"}, 200},
		{[]string{"--proxy-user", "bob:b-pass", "-X", "TRACE", c.URL() + "/hello"}, 403}, // no rule allows it
		{[]string{"--proxy-user", "alice:a-pass", c.URL() + "/fail"}, 500},
	} {
		_, status, down := curl(rq.args...)
		if status != rq.status {
			t.Fatalf("curl %v: %d, want %d", rq.args, status, rq.status)
		}
		approvedDown += down
	}
	if connect, _, _ := curl(c.URL() + "/hello"); connect != 407 {
		t.Errorf("CONNECT without credentials: %d", connect)
	}
	// A client that does not trust the region CA: a failed handshake.
	bin := needTool(t, "curl", curlHint)
	if out, err := exec.Command(bin, "-sS", "--proxy", h.proxy, "--proxy-user", "alice:a-pass", "--cacert", c.caFile, c.URL()+"/hello").CombinedOutput(); err == nil {
		t.Fatalf("curl trusted the gateway's leaf without the region CA: %s", out)
	}
	if connect, _, _ := curl("--proxy-user", "bob:b-pass", "https://banned.test/"); connect != 403 {
		t.Errorf("CONNECT to the blocked host: %d", connect)
	}
	if _, status, _ := curl("--proxy-user", "bob:b-pass", "http://banned.test/19121212-1212"); status != 403 {
		t.Errorf("plain HTTP to the blocked host: %d", status)
	}
	if connect, _, _ := curl("--proxy-user", "alice:a-pass", "https://shadow.test/19121212-1212"); connect != 403 {
		t.Errorf("CONNECT to an unlisted host on loopback: %d", connect)
	}
	target := net.JoinHostPort("localhost", strconv.Itoa(tport))
	for _, u := range [][2]string{{"alice", "a-pass"}, {"bob", "b-pass"}} {
		if n := h.tunnelThrough(t, target, u[0], u[1], tunnelUp); n != tunnelDown {
			t.Fatalf("tunnel answered %d bytes, want %d", n, tunnelDown)
		}
	}
	services := func() []ServiceUsage {
		resp, err := http.Get(h.admin + "/v1/services")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var rows []ServiceUsage
		if resp.StatusCode != 200 || json.NewDecoder(resp.Body).Decode(&rows) != nil {
			t.Fatalf("/v1/services: %s", resp.Status)
		}
		return rows
	}
	var rows []ServiceUsage
	waitFor(t, "both tunnels in the inventory", func() bool {
		rows = services()
		for _, r := range rows {
			if r.Host == "localhost" {
				return r.Requests == 2
			}
		}
		return false
	})
	if !h.auditHas(t, `"action":"tunnel"`, `"host":"localhost"`, `"bytes_up":5000`, `"bytes_down":7000`) ||
		!h.auditHas(t, `"action":"encrypt"`, `"host":"127.0.0.1"`, `"method":"PUT"`) ||
		!h.auditHas(t, `"action":"tls_failed"`, `"host":"127.0.0.1"`) {
		t.Fatalf("the audit log lacks the requests:\n%s", h.audit.String())
	}

	want := []ServiceUsage{
		{Host: "127.0.0.1", Service: "cloud", Decision: DecisionApproved, Profile: "storage",
			Requests: 6, Users: 2, BytesUp: upload, BytesDown: approvedDown, Refused: 2, Errors: 1, TLSFailures: 1},
		{Host: "banned.test", Service: "banned", Decision: DecisionBlocked,
			Requests: 2, Users: 1, Refused: 2, Actions: map[string]int64{"block": 2},
			Approve: "--approve banned.test=inspect"},
		{Host: "localhost", Service: "loopback-tunnel", Decision: DecisionTunnelled,
			Requests: 2, Users: 2, BytesUp: 2 * tunnelUp, BytesDown: 2 * tunnelDown, Actions: map[string]int64{"tunnel": 2},
			Approve: "--approve localhost=inspect", Block: `- {hosts: ["localhost"], action: block}`},
		{Host: "shadow.test", Service: "unlisted", Decision: DecisionDenied,
			Requests: 1, Users: 1, Refused: 1, Actions: map[string]int64{"deny": 1},
			Approve: "--approve shadow.test=inspect", Block: `- {hosts: ["shadow.test"], action: block}`},
	}
	checkRows := func(what string, got []ServiceUsage, profile bool) {
		t.Helper()
		if len(got) != len(want) {
			t.Fatalf("%s: %d rows, want %d: %+v", what, len(got), len(want), got)
		}
		for i, w := range want {
			g := got[i]
			if g.FirstSeen == "" || g.FirstSeen > g.LastSeen {
				t.Errorf("%s %s: first seen %q, last seen %q", what, g.Host, g.FirstSeen, g.LastSeen)
			}
			if _, err := time.Parse(time.RFC3339, g.LastSeen); err != nil {
				t.Errorf("%s %s: last seen %q is not RFC 3339", what, g.Host, g.LastSeen)
			}
			g.FirstSeen, g.LastSeen = "", ""
			if !profile {
				w.Profile = ""
			}
			if w.Actions == nil {
				// The approved host: its actions add up, and two were refused.
				var sum int64
				for _, n := range g.Actions {
					sum += n
				}
				if sum != w.Requests+w.TLSFailures || g.Actions["deny"] != 2 || g.Actions["tls_failed"] != 1 || g.Actions["encrypt"] != 1 || g.Actions["decrypt"] != 1 {
					t.Errorf("%s %s: actions %v", what, g.Host, g.Actions)
				}
				g.Actions = nil
			}
			if !reflect.DeepEqual(g, w) {
				t.Errorf("%s row %d:\n got %+v\nwant %+v", what, i, g, w)
			}
		}
	}
	checkRows("/v1/services", rows, true)

	// The audit log says the same (it does not name profiles).
	fromLog := NewInventory(0)
	if _, err := fromLog.ReadAuditLog(strings.NewReader(h.audit.String())); err != nil {
		t.Fatal(err)
	}
	checkRows("audit log", fromLog.Services(), false)

	resp, err := http.Get(h.admin + "/v1/services.html")
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") || !strings.Contains(resp.Header.Get("Content-Security-Policy"), "script-src 'sha256-") {
		t.Errorf("/v1/services.html: %s %v", resp.Status, resp.Header)
	}
	raw, _ := json.Marshal(rows)
	for what, out := range map[string]string{"/v1/services": string(raw), "/v1/services.html": string(page)} {
		checkNoPersonalValues(t, what, out)
		for _, never := range []string{"alice", "bob", "/hello", "/fail", ".txt", "pnr", "sl_"} {
			if strings.Contains(out, never) {
				t.Errorf("%s shows %q", what, never)
			}
		}
	}

	t.Run("chromium", func(t *testing.T) {
		if testing.Short() {
			t.Skip("starts a browser")
		}
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		b := startBrowser(t, ctx, t.TempDir(), "--no-proxy-server")
		b.navigate(h.admin + "/v1/services.html")
		if got := b.eval("document.title"); got != "sluss: cloud services in use" {
			t.Fatalf("page title %q", got)
		}
		firstHost := func() string { return b.eval("document.querySelector('#services tbody tr').cells[0].textContent") }
		hosts := func() string {
			return b.eval("Array.from(document.querySelectorAll('#services tbody tr')).map(function (r) { return r.cells[0].textContent }).join(' ')")
		}
		if got := hosts(); got != "127.0.0.1 banned.test localhost shadow.test" {
			t.Errorf("rows %q, want the hosts by requests", got)
		}
		shot := b.screenshot("services-page.png")
		t.Logf("screenshot: %s", shot)
		click := func(header string) {
			b.eval("Array.from(document.querySelectorAll('#services th')).find(function (th) { return th.textContent === '" + header + "' }).click()")
		}
		click("Up") // numbers: largest first
		if got := firstHost(); got != "localhost" {
			t.Errorf("sorted by bytes up, first row %q", got)
		}
		click("Host") // text: A–Z first, then Z–A
		if got := hosts(); got != "127.0.0.1 banned.test localhost shadow.test" {
			t.Errorf("sorted by host: %q", got)
		}
		click("Host")
		if got := firstHost(); got != "shadow.test" {
			t.Errorf("sorted by host, descending: first row %q", got)
		}
		click("TLS failures")
		if got := firstHost(); got != "127.0.0.1" {
			t.Errorf("sorted by TLS failures, first row %q", got)
		}
		if got := b.eval("document.querySelector('#services tbody tr:last-child').cells[12].textContent"); !strings.Contains(got, "--approve") {
			t.Errorf("no configuration line for an unapproved host: %q", got)
		}
		checkNoPersonalValues(t, "chromium's log", b.stderr.String())
	})
}

// TestServicesAuth: the inventory needs the audit role; the HTML page
// also takes the token as a Basic password, so a browser can open it.
func TestServicesAuth(t *testing.T) {
	h := newHarness(t, Config{API: apiConfig()})
	for _, tc := range []struct {
		path, token string
		status      int
	}{
		{"/v1/services", "", 401},
		{"/v1/services", "tok-encrypt", 403},
		{"/v1/services", "tok-audit", 200},
		{"/v1/services.html", "", 401},
		{"/v1/services.html", "tok-reidentify", 403},
		{"/v1/services.html", "tok-audit", 200},
	} {
		resp := h.apiCallTo(t, "GET", tc.path, tc.token, "", nil)
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tc.status {
			t.Errorf("%s with %q: %s", tc.path, tc.token, resp.Status)
		}
		if tc.path == "/v1/services" && tc.status == 200 && strings.TrimSpace(string(body)) != "[]" {
			t.Errorf("an empty inventory is %q, want []", body)
		}
	}
	basic := func(pass string) int {
		req, _ := http.NewRequest("GET", h.admin+"/v1/services.html", nil)
		if pass != "" {
			req.SetBasicAuth("anyone", pass)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode == 401 && !slices.ContainsFunc(resp.Header.Values("WWW-Authenticate"), func(v string) bool { return strings.HasPrefix(v, "Basic ") }) {
			t.Errorf("401 without a Basic challenge: %v", resp.Header)
		}
		return resp.StatusCode
	}
	if got := basic(""); got != 401 {
		t.Errorf("page without credentials: %d", got)
	}
	if got := basic("wrong"); got != 401 {
		t.Errorf("page with an unknown token: %d", got)
	}
	if got := basic("tok-audit"); got != 200 {
		t.Errorf("page with the audit token as Basic password: %d", got)
	}
	if !h.auditHas(t, `"service":"api"`, `"action":"services"`, `"status":200`) {
		t.Errorf("reading the inventory is not audited")
	}
}

// BenchmarkInventoryFull fills the gateway's inventory to its limits
// (10 000 hosts, 1 000 000 host-user pairs) and reports the heap it holds:
// the bound on what the live inventory can cost.
func BenchmarkInventoryFull(b *testing.B) {
	for range b.N {
		runtime.GC()
		var before runtime.MemStats
		runtime.ReadMemStats(&before)
		inv := NewInventory(DefaultInventoryHosts)
		for h := range DefaultInventoryHosts {
			host := fmt.Sprintf("host-%05d.service.example.org", h)
			for u := range userPairsPerHost {
				inv.Add(AuditRecord{Host: host, Service: "s", User: fmt.Sprint("user", h*userPairsPerHost+u), Action: "encrypt"})
			}
		}
		runtime.GC()
		var after runtime.MemStats
		runtime.ReadMemStats(&after)
		if rows := inv.Services(); len(rows) != DefaultInventoryHosts || rows[0].Users != userPairsPerHost {
			b.Fatalf("%d rows, %d users", len(rows), rows[0].Users)
		}
		b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/(1<<20), "MiB-held")
		runtime.KeepAlive(inv)
	}
}
