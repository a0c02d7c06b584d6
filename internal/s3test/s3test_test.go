package s3test

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/rand"
	"encoding/base64"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestServerWithAWSCLI uploads and downloads an object with the real AWS CLI,
// over HTTP and over HTTPS, and checks the bytes land where ObjectPath says.
func TestServerWithAWSCLI(t *testing.T) {
	clients := FindClients(t)
	tests := []struct {
		name string
		opts []Option
	}{
		{"http", nil},
		{"https", []Option{TLS("s3.sluss.test")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := Start(t, tt.opts...)
			s.CreateBucket(t, "reports")
			want := make([]byte, 100<<10)
			rand.Read(want)
			dir := t.TempDir()
			in := filepath.Join(dir, "in")
			if err := os.WriteFile(in, want, 0o600); err != nil {
				t.Fatal(err)
			}
			env := append(CleanEnv(t), "AWS_ACCESS_KEY_ID="+s.AccessKey, "AWS_SECRET_ACCESS_KEY="+s.SecretKey,
				"AWS_DEFAULT_REGION="+Region)
			if s.CAFile != "" {
				env = append(env, "AWS_CA_BUNDLE="+s.CAFile)
			}
			aws := func(args ...string) {
				t.Helper()
				cmd := exec.Command(clients.AWS, append([]string{"--endpoint-url", s.URL}, args...)...)
				cmd.Env = env
				if out, err := cmd.CombinedOutput(); err != nil {
					t.Fatalf("aws %s: %v\n%s", strings.Join(args, " "), err, out)
				}
			}
			aws("s3", "cp", in, "s3://reports/q3/data.bin")
			got, err := os.ReadFile(s.ObjectPath("reports", "q3/data.bin"))
			if err != nil || !bytes.Equal(got, want) {
				t.Fatalf("object file: %d bytes, err %v; want the %d bytes uploaded", len(got), err, len(want))
			}
			out := filepath.Join(dir, "out")
			aws("s3", "cp", "s3://reports/q3/data.bin", out)
			if got, err := os.ReadFile(out); err != nil || !bytes.Equal(got, want) {
				t.Fatalf("downloaded: %d bytes, err %v; want the %d bytes uploaded", len(got), err, len(want))
			}
		})
	}
}

// TestServerChecksSignatures proves versitygw refuses what a gateway that
// signs wrongly would send: a wrong secret, a body that does not match its
// signed hash or its Content-MD5.
func TestServerChecksSignatures(t *testing.T) {
	s := Start(t)
	s.CreateBucket(t, "reports")
	tests := []struct {
		name       string
		secret     string
		tamper     bool
		contentMD5 string
		want       int
	}{
		{"right secret", s.SecretKey, false, "", http.StatusOK},
		{"wrong secret", s.SecretKey + "x", false, "", http.StatusForbidden},
		{"body changed after signing", s.SecretKey, true, "", http.StatusBadRequest},
		{"right Content-MD5", s.SecretKey, false, md5Base64("quarterly figures"), http.StatusOK},
		{"wrong Content-MD5", s.SecretKey, false, md5Base64("other figures"), http.StatusBadRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body := []byte("quarterly figures")
			req, err := http.NewRequestWithContext(context.Background(), http.MethodPut, s.URL+"/reports/q3.txt", nil)
			if err != nil {
				t.Fatal(err)
			}
			if tt.contentMD5 != "" {
				req.Header.Set("Content-MD5", tt.contentMD5)
			}
			signV4(req, body, s.AccessKey, tt.secret, Region, time.Now())
			if tt.tamper {
				body = []byte("quarterly figureS")
			}
			req.Body = io.NopCloser(bytes.NewReader(body))
			req.ContentLength = int64(len(body))
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tt.want {
				t.Errorf("status %d, want %d", resp.StatusCode, tt.want)
			}
		})
	}
}

func md5Base64(s string) string {
	sum := md5.Sum([]byte(s))
	return base64.StdEncoding.EncodeToString(sum[:])
}
