package s3test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

// exchange is one request a client sent, as the recorder saw it.
type exchange struct {
	Method, Host, Path, Query string
	Header                    http.Header
	Expect                    bool // Expect: 100-continue (net/http removes the header itself)
	ContentLength             int64
	BodyLen                   int64
	BodyHead                  string // the first bytes, to show aws-chunked framing
	Status                    int
	ETag                      string
}

// recorder is a logging reverse proxy to the server that also works as a
// forward proxy for plain HTTP, so that virtual-hosted names reach it. It
// keeps the Host header, which the signature covers.
type recorder struct {
	mu        sync.Mutex
	exchanges []*exchange
	proxy     *httputil.ReverseProxy
	wrongETag atomic.Bool // answer every ETag header with one that matches nothing
}

type exchangeKey struct{}

func newRecorder(t *testing.T, s *Server) *recorder {
	r := &recorder{}
	target, err := url.Parse(s.URL)
	if err != nil {
		t.Fatal(err)
	}
	r.proxy = &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.Out.URL.Scheme = target.Scheme
			pr.Out.URL.Host = target.Host
			pr.Out.Host = pr.In.Host
		},
		ModifyResponse: func(resp *http.Response) error {
			x := resp.Request.Context().Value(exchangeKey{}).(*exchange)
			r.mu.Lock()
			x.Status, x.ETag = resp.StatusCode, resp.Header.Get("ETag")
			r.mu.Unlock()
			if r.wrongETag.Load() && x.ETag != "" {
				resp.Header.Set("ETag", `"0123456789abcdef0123456789abcdef"`)
			}
			return nil
		},
	}
	return r
}

// listen serves the recorder on a new loopback port, with TLS and a
// certificate for 127.0.0.1 if caFile is not nil (it receives the CA's
// file), and returns the address.
func (r *recorder) listen(t *testing.T, caFile *string) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: r}
	if caFile != nil {
		var args []string
		*caFile, _ = writeCertificates(t, "s3.sluss.test", t.TempDir(), &args)
		cert, err := tls.LoadX509KeyPair(args[1], args[3])
		if err != nil {
			t.Fatal(err)
		}
		l = tls.NewListener(l, &tls.Config{Certificates: []tls.Certificate{cert}})
	}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	return l.Addr().String()
}

func (r *recorder) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	x := &exchange{
		Method: req.Method, Host: req.Host, Path: req.URL.Path, Query: req.URL.RawQuery,
		Header: req.Header.Clone(), ContentLength: req.ContentLength,
		Expect: fmt.Sprintf("%T", req.Body) == "*http.expectContinueReader",
	}
	r.mu.Lock()
	r.exchanges = append(r.exchanges, x)
	r.mu.Unlock()
	req.Body = &countingBody{ReadCloser: req.Body, x: x, mu: &r.mu}
	r.proxy.ServeHTTP(w, req.WithContext(context.WithValue(req.Context(), exchangeKey{}, x)))
}

// take returns what was recorded since the last take.
func (r *recorder) take() []*exchange {
	r.mu.Lock()
	defer r.mu.Unlock()
	xs := r.exchanges
	r.exchanges = nil
	return xs
}

type countingBody struct {
	io.ReadCloser
	x  *exchange
	mu *sync.Mutex
}

func (b *countingBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	b.mu.Lock()
	if room := 80 - len(b.x.BodyHead); room > 0 && b.x.BodyLen == int64(len(b.x.BodyHead)) {
		b.x.BodyHead += string(p[:min(n, room)])
	}
	b.x.BodyLen += int64(n)
	b.mu.Unlock()
	return n, err
}

// interesting are the request headers CLIENTS.md reports on.
var interesting = []string{
	"X-Amz-Content-Sha256", "Content-Md5", "X-Amz-Trailer", "Content-Encoding",
	"X-Amz-Decoded-Content-Length", "X-Amz-Sdk-Checksum-Algorithm", "Range", "If-Match", "If-None-Match",
	"Content-Type", "Transfer-Encoding",
}

func (x *exchange) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s %s", x.Method, x.Host, x.Path)
	if x.Query != "" {
		fmt.Fprintf(&b, "?%s", x.Query)
	}
	fmt.Fprintf(&b, " -> %d", x.Status)
	if x.ETag != "" {
		fmt.Fprintf(&b, " etag=%s", x.ETag)
	}
	fmt.Fprintf(&b, "\n    len=%d body=%d expect=%v", x.ContentLength, x.BodyLen, x.Expect)
	var names []string
	for name := range x.Header {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		v := strings.Join(x.Header[name], ",")
		keep := strings.HasPrefix(name, "X-Amz-Checksum") || strings.HasPrefix(name, "X-Amz-Meta")
		for _, i := range interesting {
			keep = keep || name == i
		}
		if name == "X-Amz-Content-Sha256" && len(v) == 64 {
			v = "<hex>"
		}
		if keep {
			fmt.Fprintf(&b, "\n    %s: %s", name, v)
		}
	}
	if strings.HasPrefix(x.Header.Get("X-Amz-Content-Sha256"), "STREAMING") || strings.Contains(x.Header.Get("Content-Encoding"), "aws-chunked") {
		fmt.Fprintf(&b, "\n    body head: %q", x.BodyHead)
	}
	if sh := x.Header.Get("Authorization"); sh != "" {
		if i := strings.Index(sh, "SignedHeaders="); i >= 0 {
			fmt.Fprintf(&b, "\n    signed: %s", strings.SplitN(sh[i+len("SignedHeaders="):], ",", 2)[0])
		}
	}
	return b.String()
}

// TestClientBehaviour runs each client against the server through the
// recorder and logs what it sends: the facts in CLIENTS.md (run with -v to
// see them). It fails when a client's outcome changes, such as whether it
// notices an ETag that is not its own MD5.
func TestClientBehaviour(t *testing.T) {
	if testing.Short() {
		t.Skip("uploads 20 MiB with each client")
	}
	clients := FindClients(t)
	s := Start(t, VirtualHosts("s3.sluss.test"))
	s.CreateBucket(t, "bkt")
	rec := newRecorder(t, s)
	addr := rec.listen(t, nil)
	var caFile string
	tlsAddr := rec.listen(t, &caFile)
	tlsURL := "https://" + tlsAddr
	dir := t.TempDir()
	sizes := map[string]int{"0B": 0, "1MiB": 1 << 20, "20MiB": 20 << 20}
	for name, n := range sizes {
		b := make([]byte, n)
		rand.Read(b)
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	_, port, _ := net.SplitHostPort(addr)
	pathURL := "http://" + addr
	vhostURL := "http://s3.sluss.test:" + port
	proxyURL := "http://" + addr

	awsEnv := append(CleanEnv(t), "AWS_ACCESS_KEY_ID="+s.AccessKey, "AWS_SECRET_ACCESS_KEY="+s.SecretKey,
		"AWS_DEFAULT_REGION="+Region)
	s3cfg := func(hostBase, hostBucket string, proxy bool, tlsCA ...string) string {
		p := filepath.Join(t.TempDir(), "s3cfg")
		cfg := "[default]\naccess_key = " + s.AccessKey + "\nsecret_key = " + s.SecretKey +
			"\nhost_base = " + hostBase + "\nhost_bucket = " + hostBucket +
			"\nbucket_location = " + Region + "\n"
		if len(tlsCA) > 0 {
			cfg += "use_https = True\nca_certs_file = " + tlsCA[0] + "\n"
		} else {
			cfg += "use_https = False\n"
		}
		if proxy {
			cfg += "proxy_host = 127.0.0.1\nproxy_port = " + port + "\n"
		}
		if err := os.WriteFile(p, []byte(cfg), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	s3cmdPath := s3cfg(addr, addr, false)
	s3cmdTLS := s3cfg(tlsAddr, tlsAddr, false, caFile)
	s3cmdVhost := s3cfg("s3.sluss.test:"+port, "%(bucket)s.s3.sluss.test:"+port, true)
	rcloneEnv := func(endpoint string, extra ...string) []string {
		return append(append(CleanEnv(t), "RCLONE_CONFIG_R_TYPE=s3", "RCLONE_CONFIG_R_PROVIDER=Other",
			"RCLONE_CONFIG_R_ACCESS_KEY_ID="+s.AccessKey, "RCLONE_CONFIG_R_SECRET_ACCESS_KEY="+s.SecretKey,
			"RCLONE_CONFIG_R_REGION="+Region, "RCLONE_CONFIG_R_ENDPOINT="+endpoint), extra...)
	}
	f := func(name string) string { return filepath.Join(dir, name) }
	out := t.TempDir()

	type step struct {
		name      string
		env       []string
		args      []string
		wrongETag bool // the recorder answers with ETags that match nothing
		fails     bool // the client then exits with an error
	}
	var steps []step
	for _, size := range []string{"0B", "1MiB", "20MiB"} {
		steps = append(steps,
			step{"aws put " + size, awsEnv, []string{clients.AWS, "--endpoint-url", pathURL, "s3", "cp", f(size), "s3://bkt/aws-" + size}, false, false},
			step{"s3cmd put " + size, CleanEnv(t), []string{clients.S3cmd, "-c", s3cmdPath, "put", f(size), "s3://bkt/s3cmd-" + size}, false, false},
			step{"rclone put " + size, rcloneEnv(pathURL), []string{clients.Rclone, "copyto", f(size), "r:bkt/rclone-" + size}, false, false},
		)
	}
	steps = append(steps,
		step{"rclone put 20MiB multipart", rcloneEnv(pathURL), []string{clients.Rclone, "copyto", "--s3-upload-cutoff", "5M", "--s3-chunk-size", "5M", f("20MiB"), "r:bkt/rclone-mp-20MiB"}, false, false},
		step{"aws get 20MiB", awsEnv, []string{clients.AWS, "--endpoint-url", pathURL, "s3", "cp", "s3://bkt/aws-20MiB", out + "/a"}, false, false},
		step{"s3cmd get 20MiB", CleanEnv(t), []string{clients.S3cmd, "-c", s3cmdPath, "get", "s3://bkt/s3cmd-20MiB", out + "/s"}, false, false},
		step{"rclone get 20MiB", rcloneEnv(pathURL), []string{clients.Rclone, "copyto", "r:bkt/rclone-20MiB", out + "/r"}, false, false},
		step{"rclone get 20MiB multipart", rcloneEnv(pathURL), []string{clients.Rclone, "copyto", "r:bkt/rclone-mp-20MiB", out + "/rm"}, false, false},
		step{"aws sync first", awsEnv, []string{clients.AWS, "--endpoint-url", pathURL, "s3", "sync", dir, "s3://bkt/sync/"}, false, false},
		step{"aws sync again", awsEnv, []string{clients.AWS, "--endpoint-url", pathURL, "s3", "sync", dir, "s3://bkt/sync/"}, false, false},
		step{"s3cmd sync first", CleanEnv(t), []string{clients.S3cmd, "-c", s3cmdPath, "sync", dir + "/", "s3://bkt/s3sync/"}, false, false},
		step{"s3cmd sync again", CleanEnv(t), []string{clients.S3cmd, "-c", s3cmdPath, "sync", dir + "/", "s3://bkt/s3sync/"}, false, false},
		step{"rclone sync first", rcloneEnv(pathURL), []string{clients.Rclone, "sync", dir, "r:bkt/rsync"}, false, false},
		step{"rclone sync again", rcloneEnv(pathURL), []string{clients.Rclone, "sync", dir, "r:bkt/rsync"}, false, false},
		step{"rclone check synced", rcloneEnv(pathURL), []string{clients.Rclone, "check", dir, "r:bkt/rsync"}, false, false},
		step{"rclone sync multipart", rcloneEnv(pathURL), []string{clients.Rclone, "sync", "--s3-upload-cutoff", "5M", dir, "r:bkt/rsync-mp"}, false, false},
		step{"rclone check multipart", rcloneEnv(pathURL), []string{clients.Rclone, "check", dir, "r:bkt/rsync-mp"}, false, false},
		step{"aws vhost via proxy", slices.Concat(awsEnv, []string{"HTTP_PROXY=" + proxyURL}), []string{clients.AWS, "--endpoint-url", vhostURL, "s3", "cp", f("1MiB"), "s3://bkt/aws-vhost"}, false, false},
		step{"s3cmd vhost via proxy", CleanEnv(t), []string{clients.S3cmd, "-c", s3cmdVhost, "put", f("1MiB"), "s3://bkt/s3cmd-vhost"}, false, false},
		step{"rclone vhost via proxy", rcloneEnv(vhostURL, "HTTP_PROXY="+proxyURL), []string{clients.Rclone, "copyto", f("1MiB"), "r:bkt/rclone-vhost"}, false, false},
		step{"rclone forced vhost via proxy", rcloneEnv(vhostURL, "HTTP_PROXY="+proxyURL, "RCLONE_CONFIG_R_FORCE_PATH_STYLE=false"), []string{clients.Rclone, "copyto", f("1MiB"), "r:bkt/rclone-vhost2"}, false, false},
	)
	for _, size := range []string{"1MiB", "20MiB"} {
		steps = append(steps,
			step{"aws https put " + size, slices.Concat(awsEnv, []string{"AWS_CA_BUNDLE=" + caFile}), []string{clients.AWS, "--endpoint-url", tlsURL, "s3", "cp", f(size), "s3://bkt/aws-tls-" + size}, false, false},
			step{"s3cmd https put " + size, CleanEnv(t), []string{clients.S3cmd, "-c", s3cmdTLS, "put", f(size), "s3://bkt/s3cmd-tls-" + size}, false, false},
			step{"rclone https put " + size, rcloneEnv(tlsURL), []string{clients.Rclone, "--ca-cert", caFile, "--s3-upload-cutoff", "5M", "copyto", f(size), "r:bkt/rclone-tls-" + size}, false, false},
		)
	}
	steps = append(steps,
		step{"aws put, wrong ETag", awsEnv, []string{clients.AWS, "--endpoint-url", pathURL, "s3", "cp", f("1MiB"), "s3://bkt/aws-wrong"}, true, false},
		step{"aws put multipart, wrong ETag", awsEnv, []string{clients.AWS, "--endpoint-url", pathURL, "s3", "cp", f("20MiB"), "s3://bkt/aws-wrong-mp"}, true, true},
		step{"s3cmd put, wrong ETag", CleanEnv(t), []string{clients.S3cmd, "-c", s3cmdPath, "put", f("1MiB"), "s3://bkt/s3cmd-wrong"}, true, true},
		step{"s3cmd put multipart, wrong ETag", CleanEnv(t), []string{clients.S3cmd, "-c", s3cmdPath, "put", f("20MiB"), "s3://bkt/s3cmd-wrong-mp"}, true, true},
		step{"rclone put, wrong ETag", rcloneEnv(pathURL), []string{clients.Rclone, "--retries", "1", "copyto", f("1MiB"), "r:bkt/rclone-wrong"}, true, true},
		step{"rclone put multipart, wrong ETag", rcloneEnv(pathURL), []string{clients.Rclone, "--retries", "1", "--s3-upload-cutoff", "5M", "copyto", f("20MiB"), "r:bkt/rclone-wrong-mp"}, true, true},
		step{"aws get, wrong ETag", awsEnv, []string{clients.AWS, "--endpoint-url", pathURL, "s3", "cp", "s3://bkt/aws-1MiB", out + "/wa"}, true, false},
		step{"s3cmd get, wrong ETag", CleanEnv(t), []string{clients.S3cmd, "-c", s3cmdPath, "get", "s3://bkt/s3cmd-1MiB", out + "/ws"}, true, false},
		step{"rclone get, wrong ETag", rcloneEnv(pathURL), []string{clients.Rclone, "--retries", "1", "copyto", "r:bkt/rclone-1MiB", out + "/wr"}, true, true},
		step{"rclone get multipart, wrong ETag", rcloneEnv(pathURL), []string{clients.Rclone, "--retries", "1", "copyto", "r:bkt/rclone-mp-20MiB", out + "/wrm"}, true, false},
	)
	for _, st := range steps {
		rec.wrongETag.Store(st.wrongETag)
		cmd := exec.Command(st.args[0], st.args[1:]...)
		cmd.Env = st.env
		o, err := cmd.CombinedOutput()
		xs := rec.take()
		var b bytes.Buffer
		for _, x := range xs {
			b.WriteString(x.String() + "\n")
		}
		t.Logf("=== %s (%d requests)\n%s", st.name, len(xs), b.String())
		if (err != nil) != st.fails {
			t.Errorf("%s: exit %v, want failure %v\n%s", st.name, err, st.fails, o)
		}
	}
}
