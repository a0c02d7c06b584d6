package keys

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/sluss/sluss/crypto"
)

// TestMain runs the tests, then searches everything they collected (logs,
// error strings, listings, formatted values) for every secret they created,
// in every encoding a secret could leak in.
func TestMain(m *testing.M) {
	code := m.Run()
	if code == 0 && !leaks.check(os.Stderr) {
		code = 1
	}
	os.Exit(code)
}

// leakCheck holds the output of the key tests and the secrets to look for.
type leakCheck struct {
	mu      sync.Mutex
	output  bytes.Buffer
	secrets map[string]string // encoded form → description
}

var leaks = &leakCheck{secrets: map[string]string{}}

func (l *leakCheck) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.output.Write(p)
}

// collect records output (an error, a listing) for the leak search.
func collect(a ...any) {
	fmt.Fprintln(leaks, a...)
	// %+v and %#v reach fields String alone would not.
	for _, v := range a {
		fmt.Fprintf(leaks, "%+v %#v\n", v, v)
	}
}

// addSecret registers a secret's raw bytes in every encoding that could
// appear in text.
func (l *leakCheck) addSecret(what string, raw []byte) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, enc := range []string{
		hex.EncodeToString(raw), strings.ToUpper(hex.EncodeToString(raw)),
		base64.StdEncoding.EncodeToString(raw), base64.RawStdEncoding.EncodeToString(raw),
		base64.URLEncoding.EncodeToString(raw), base64.RawURLEncoding.EncodeToString(raw),
		string(raw),
	} {
		// Search a 24-character stretch: enough to be unique, and
		// robust to a leak that was cut off or wrapped.
		if len(enc) > 24 {
			enc = enc[:24]
		}
		if len(enc) >= 16 {
			l.secrets[enc] = what
		}
	}
}

func (l *leakCheck) addString(what, s string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.secrets[s] = what
	// Bech32: the data part, minus the checksum, also in lower case.
	if i := strings.LastIndexByte(s, '1'); i > 0 && len(s)-i > 30 {
		l.secrets[strings.ToLower(s[i+1:i+30])] = what + " (bech32 data)"
		l.secrets[s[i+1:i+30]] = what + " (bech32 data)"
	}
}

// registerSecrets reads every document of a backend and registers its
// secrets.
func registerSecrets(t testing.TB, b backend, domains []string) {
	t.Helper()
	for _, kind := range kinds(domains) {
		d, _, err := b.get(context.Background(), kind)
		if err != nil {
			t.Fatal(err)
		}
		if d == nil {
			continue
		}
		for _, e := range d.Versions {
			what := fmt.Sprintf("%s v%d", kind, e.Version)
			switch kind {
			case KindIdentity:
				id, err := crypto.ParseIdentity(e.Secret)
				if err != nil {
					t.Fatal(err)
				}
				leaks.addSecret(what+" seed", id.Seed())
				leaks.addString(what+" secret key", id.SecretKey())
			case KindCA:
				blk, _ := pem.Decode([]byte(e.Secret))
				k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
				if err != nil {
					t.Fatal(err)
				}
				leaks.addSecret(what+" PKCS#8", blk.Bytes)
				d, err := k.(*ecdsa.PrivateKey).Bytes()
				if err != nil {
					t.Fatal(err)
				}
				leaks.addSecret(what+" scalar", d)
				leaks.addString(what+" PEM body", strings.Split(e.Secret, "\n")[1][:40])
			default:
				k, err := base64.StdEncoding.DecodeString(e.Secret)
				if err != nil {
					t.Fatal(err)
				}
				leaks.addSecret(what, k)
			}
		}
	}
}

func (l *leakCheck) check(w io.Writer) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := l.output.String()
	ok := true
	for s, what := range l.secrets {
		if strings.Contains(out, s) {
			fmt.Fprintf(w, "LEAK: %s found in collected test output\n", what)
			ok = false
		}
	}
	if ok && testing.Verbose() {
		fmt.Fprintf(w, "leak check: %d secret encodings searched in %d bytes of collected output: none found\n", len(l.secrets), len(out))
	}
	return ok
}

// testLogger writes debug-level JSON logs to the leak collector and the
// test log.
func testLogger(t testing.TB) zerolog.Logger {
	return zerolog.New(io.MultiWriter(leaks, tWriter{t})).Level(zerolog.DebugLevel).With().Timestamp().Logger()
}

type tWriter struct{ t testing.TB }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// fakeClock is a settable clock for staleness tests.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock() *fakeClock { return &fakeClock{t: time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// ageCLI returns the path of the real age CLI; without it the test is
// skipped, or fails under CI (test.sh installs it).
func ageCLI(t testing.TB) string {
	t.Helper()
	p, err := exec.LookPath("age")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("age CLI not on PATH; test.sh installs it: go install filippo.io/age/cmd/...@v1.3.1")
		}
		t.Skip("age CLI not on PATH; run ./test.sh, or go install filippo.io/age/cmd/...@v1.3.1")
	}
	return p
}

// ageDecrypt decrypts a file with `age -d -i identityFile` and returns the
// plaintext.
func ageDecrypt(t testing.TB, identityFile string, ciphertext []byte) []byte {
	t.Helper()
	cmd := exec.Command(ageCLI(t), "-d", "-i", identityFile)
	cmd.Stdin = bytes.NewReader(ciphertext)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("age -d -i %s: %v: %s", identityFile, err, stderr.String())
	}
	return out
}

// quietLogger logs only to the leak collector (benchmarks).
func quietLogger() zerolog.Logger {
	return zerolog.New(leaks).Level(zerolog.DebugLevel).With().Timestamp().Logger()
}

func fmtAll(v any) string { return fmt.Sprintf("%v %+v %#v %s %q", v, v, v, v, v) }
