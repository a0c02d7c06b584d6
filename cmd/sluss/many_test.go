package main

import (
	"bytes"
	"crypto/rand"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/sluss/sluss/internal/haproxytest"
	"github.com/sluss/sluss/internal/pgtest"
	"github.com/sluss/sluss/internal/s3test"
	"github.com/sluss/sluss/internal/vaulttest"
)

// recordServer is the upstream of a form service: it keeps what is posted
// to /records/ID and gives it back on GET, as a case system would.
type recordServer struct {
	mu      sync.Mutex
	records map[string][]byte
	addr    string
}

func startRecordServer(t *testing.T) *recordServer {
	r := &recordServer{records: map[string][]byte{}}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r.addr = l.Addr().String()
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		id := strings.TrimPrefix(req.URL.Path, "/records/")
		r.mu.Lock()
		defer r.mu.Unlock()
		switch req.Method {
		case http.MethodPost:
			b, _ := io.ReadAll(req.Body)
			r.records[id] = b
			w.WriteHeader(http.StatusCreated)
		case http.MethodGet:
			b, ok := r.records[id]
			if !ok {
				http.NotFound(w, req)
				return
			}
			w.Header().Set("Content-Type", "application/json")
			w.Write(b)
		}
	})}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	return r
}

func (r *recordServer) all() map[string][]byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make(map[string][]byte, len(r.records))
	for k, v := range r.records {
		out[k] = v
	}
	return out
}

// TestManyGateways: three `sluss serve` processes share Vault (keys) and
// PostgreSQL (re-identification store, upload state) behind HAProxy.
// A record pseudonymized by one gateway is re-identified by the others;
// an S3 multipart upload whose parts reach different gateways is one age
// file; a gateway killed with SIGKILL under load loses nothing the
// others cannot re-identify; PostgreSQL stopped means 503 and not ready,
// and service resumes by itself when it is back; pg_dump holds no
// personal value.
func TestManyGateways(t *testing.T) {
	if testing.Short() {
		t.Skip("three gateways, PostgreSQL, Vault, HAProxy, versitygw")
	}
	pg := pgtest.Start(t)
	v := vaulttest.Start(t)
	srv := s3test.Start(t)
	srv.CreateBucket(t, s3Bucket)
	records := startRecordServer(t)
	bin := buildSluss(t)
	for _, name := range []string{"sluss-gateway", "sluss-operator"} {
		hcl, err := os.ReadFile(filepath.Join("..", "..", "deploy", "vault", name+".hcl"))
		if err != nil {
			t.Fatal(err)
		}
		v.WritePolicy(t, name, string(hcl))
	}
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	operator := write("operator.yaml", fmt.Sprintf("keys:\n  data_dir: %s\n  vault:\n    address: %s\n    auth:\n      token_file: %s\n",
		filepath.Join(dir, "operator"), v.Addr, write("operator-token", v.Token(t, "sluss-operator"))))
	runTool(t, os.Environ(), bin, "keys", "init", "--config", operator)
	cmd := exec.Command(bin, "keys", "s3", "add", "--config", operator, srv.AccessKey)
	cmd.Stdin = strings.NewReader(srv.SecretKey + "\n")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("keys s3 add: %v\n%s", err, out)
	}
	identity := write("identity.txt", runToolStdout(t, bin, "keys", "export-identity", "--config", operator, "--"+exportConsentFlag))

	roleID, secretID := v.AppRole(t, "sluss-gateway", "sluss-gateway")
	secretFile := write("secret-id", secretID)
	_, recordsPort, _ := strings.Cut(records.addr, ":")
	_, s3Port, _ := strings.Cut(srv.Addr, ":")
	configs := make([]string, 3)
	for i := range configs {
		configs[i] = write(fmt.Sprintf("gw%d.yaml", i+1), fmt.Sprintf(`keys:
  data_dir: %s
  vault:
    address: %s
    auth:
      approle:
        role_id: %s
        secret_id_file: %s
store:
  postgres_url: %s
gateway:
  resolve:
    records.sluss.test: [127.0.0.1]
    s3.sluss.test: [127.0.0.1]
  services:
    - {name: records, hosts: [records.sluss.test], profile: form, ports: [%s], allow_loopback: true}
    - {name: storage, hosts: [s3.sluss.test], profile: s3, ports: [%s], allow_loopback: true}
`, filepath.Join(dir, fmt.Sprintf("gw%d", i+1)), v.Addr, roleID, secretFile, pg.URL, recordsPort, s3Port))
	}
	// The three start at once: their migrations race, and must not fail.
	gws := make([]*serveProc, 3)
	var wg sync.WaitGroup
	for i := range gws {
		wg.Add(1)
		go func() {
			defer wg.Done()
			gws[i] = startServeBinary(t, bin, "--config", configs[i])
		}()
	}
	wg.Wait()
	backends := make([]haproxytest.Backend, 3)
	for i, p := range gws {
		backends[i] = haproxytest.Backend{Name: fmt.Sprintf("gw%d", i+1), ProxyAddr: strings.TrimPrefix(p.proxy, "http://"), AdminAddr: strings.TrimPrefix(p.admin, "http://")}
	}
	hap := haproxytest.Start(t, backends)
	for _, b := range backends {
		hap.WaitStatus(t, b.Name, "UP")
	}
	lb := "http://" + hap.Addr

	client := func(proxy string) *http.Client {
		u, _ := url.Parse(proxy)
		return &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{Proxy: http.ProxyURL(u), DisableKeepAlives: true}}
	}
	recordURL := func(id string) string { return "http://records.sluss.test:" + recordsPort + "/records/" + id }
	post := func(proxy, id, pnr string) (int, error) {
		body := fmt.Sprintf(`{"personnummer":%q,"namn":"Astrid Lindqvist","anteckning":"ring tillbaka"}`, pnr)
		resp, err := client(proxy).Post(recordURL(id), "application/json", strings.NewReader(body))
		if err != nil {
			return 0, err
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode, nil
	}
	get := func(proxy, id string) (int, string) {
		resp, err := client(proxy).Get(recordURL(id))
		if err != nil {
			return 0, err.Error()
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return resp.StatusCode, string(b)
	}
	var used []string // every personnummer the test sent

	t.Run("pseudonymized by one, re-identified by the others", func(t *testing.T) {
		pnr := testPersonnummer(101)
		used = append(used, pnr)
		if status, err := post(gws[0].proxy, "one", pnr); err != nil || status != 201 {
			t.Fatalf("POST through gateway 1: %d %v", status, err)
		}
		if stored := records.all()["one"]; bytes.Contains(stored, []byte(pnr[2:8])) || bytes.Contains(stored, []byte("Lindqvist")) || !bytes.Contains(stored, []byte("sl_pnr")) {
			t.Fatalf("the upstream holds %q, want a token", stored)
		}
		for _, proxy := range []string{gws[1].proxy, gws[2].proxy, lb, lb, lb} {
			if status, body := get(proxy, "one"); status != 200 || !strings.Contains(body, pnr) {
				t.Errorf("GET through %s: %d %s", proxy, status, body)
			}
		}
		// And with curl through HAProxy, a connection each: every gateway
		// behind it re-identifies.
		curl, err := exec.LookPath("curl")
		if err != nil {
			t.Fatal("curl is not installed (test.sh installs it)")
		}
		for range 6 {
			out, err := exec.Command(curl, "-sS", "--fail", "-x", lb, recordURL("one")).Output()
			if err != nil || !strings.Contains(string(out), pnr) {
				t.Errorf("curl through HAProxy: %v %s", err, out)
			}
		}
		for i, p := range gws {
			if !strings.Contains(p.audit.String(), `"host":"records.sluss.test"`) {
				t.Errorf("gateway %d audited no request", i+1)
			}
		}
	})

	t.Run("multipart upload over three gateways", func(t *testing.T) {
		g := &s3Gateway{srv: srv, endpoint: "http://s3.sluss.test:" + s3Port, identity: identity, p: &serveProc{proxy: lb}, newConnEach: true}
		key := "spread/file"
		up := g.createUpload(t, key)
		parts := [][]byte{make([]byte, 5*mib), make([]byte, 5*mib), make([]byte, 5*mib), []byte("the end")}
		for _, p := range parts[:3] {
			rand.Read(p)
		}
		etags := make([]string, len(parts))
		var pwg sync.WaitGroup
		var failed atomic.Value
		for i := range parts {
			pwg.Add(1)
			go func() {
				defer pwg.Done()
				status, etag, body := g.putPart(t, key, up, i+1, parts[i])
				if status != 200 {
					failed.Store(fmt.Sprintf("part %d: %d %s", i+1, status, body))
				}
				etags[i] = etag
			}()
		}
		pwg.Wait()
		if f := failed.Load(); f != nil {
			t.Fatal(f)
		}
		if status, body := g.complete(t, key, up, etags...); status != 200 {
			t.Fatalf("complete: %d %s", status, body)
		}
		g.checkStored(t, key, bytes.Join(parts, nil))
		reached := 0
		for _, p := range gws {
			if strings.Contains(p.audit.String(), `"method":"PUT","path":"/`+s3Bucket+`/spread/file"`) {
				reached++
			}
		}
		if reached != 3 {
			t.Errorf("the parts reached %d gateway(s), want all three", reached)
		}
	})

	t.Run("a gateway killed under load", func(t *testing.T) {
		var sent sync.Map // id → personnummer the client saw accepted
		var n atomic.Int64
		stop := make(chan struct{})
		var lwg sync.WaitGroup
		for w := range 4 {
			lwg.Add(1)
			go func() {
				defer lwg.Done()
				for i := 0; ; i++ {
					select {
					case <-stop:
						return
					default:
					}
					id := fmt.Sprintf("load-%d-%d", w, i)
					pnr := testPersonnummer(1000 + w*10000 + i)
					for try := 0; try < 10; try++ { // clients retry
						if status, err := post(lb, id, pnr); err == nil && status == 201 {
							sent.Store(id, pnr)
							n.Add(1)
							break
						}
						time.Sleep(100 * time.Millisecond)
					}
				}
			}()
		}
		time.Sleep(time.Second)
		gws[2].cmd.Process.Signal(syscall.SIGKILL)
		<-gws[2].exited
		time.Sleep(2 * time.Second)
		close(stop)
		lwg.Wait()
		if n.Load() < 10 {
			t.Fatalf("only %d records went through", n.Load())
		}
		// Every record the upstream holds, including those whose client
		// never heard back, is re-identified by the gateways still up.
		stored := records.all()
		checked := 0
		for id := range stored {
			if !strings.HasPrefix(id, "load-") {
				continue
			}
			status, body := get(lb, id)
			pnr, accepted := sent.Load(id)
			if status != 200 || !strings.Contains(body, `"personnummer":"`) || strings.Contains(body, "sl_pnr") {
				t.Errorf("record %s: %d %s", id, status, body)
			} else if accepted && !strings.Contains(body, pnr.(string)) {
				t.Errorf("record %s came back with another personnummer", id)
			}
			checked++
		}
		sent.Range(func(_, v any) bool { used = append(used, v.(string)); return true })
		t.Logf("%d records sent, %d stored upstream, all re-identified after the kill", n.Load(), checked)
	})

	t.Run("PostgreSQL stopped and back", func(t *testing.T) {
		pg.Stop()
		pnr := testPersonnummer(99999)
		used = append(used, pnr)
		status, _ := post(gws[0].proxy, "while-down", pnr)
		if status != http.StatusServiceUnavailable {
			t.Errorf("POST while the database is down: %d, want 503", status)
		}
		if _, ok := records.all()["while-down"]; ok {
			t.Error("the record reached the upstream while its mapping could not be written")
		}
		if code := readyz(gws[0].admin); code != http.StatusServiceUnavailable {
			t.Errorf("/readyz while the database is down: %d", code)
		}
		pg.Start()
		deadline := time.Now().Add(30 * time.Second)
		for readyz(gws[0].admin) != 200 {
			if time.Now().After(deadline) {
				t.Fatal("the gateway did not become ready again after the database came back")
			}
			time.Sleep(100 * time.Millisecond)
		}
		if status, err := post(gws[0].proxy, "after", pnr); err != nil || status != 201 {
			t.Errorf("POST after the database came back: %d %v", status, err)
		}
		if status, body := get(gws[1].proxy, "after"); status != 200 || !strings.Contains(body, pnr) {
			t.Errorf("GET after the database came back: %d %s", status, body)
		}
	})

	dump := pg.Dump(t)
	for _, name := range []string{"Astrid", "Lindqvist"} {
		if strings.Contains(dump, name) {
			t.Fatalf("pg_dump holds a name the test sent")
		}
	}
	for _, pnr := range used {
		digits := strings.ReplaceAll(pnr, "-", "")
		if strings.Contains(dump, pnr) || strings.Contains(dump, digits) || strings.Contains(dump, digits[2:]) {
			t.Fatalf("pg_dump holds a personnummer the test sent")
		}
	}
	if n := len(regexp.MustCompile(`(?m)^pnr[0-9a-z]*_`).FindAllString(dump, -1)); n < 100 {
		t.Logf("pseudonyms in the dump: %d", n)
		t.Error("pg_dump holds no tokens: the gateways did not use the database")
	}
}

func readyz(admin string) int {
	resp, err := http.Get(admin + "/readyz")
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

func runToolStdout(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).Output()
	if err != nil {
		t.Fatalf("%s %s: %v", filepath.Base(name), strings.Join(args, " "), err)
	}
	return string(out)
}
