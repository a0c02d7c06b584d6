package crypto

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"filippo.io/age"
)

func mustIdentity(t testing.TB) *Identity {
	t.Helper()
	id, err := GenerateIdentity()
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// TestAgainstAge cross-checks the circl implementation with age's own
// HybridIdentity/HybridRecipient: same encodings, and files flow both ways.
func TestAgainstAge(t *testing.T) {
	ours := mustIdentity(t)
	theirs, err := age.ParseHybridIdentity(ours.SecretKey())
	if err != nil {
		t.Fatalf("age rejects our identity: %v", err)
	}
	if got, want := ours.Recipient().String(), theirs.Recipient().String(); got != want {
		t.Fatalf("recipient mismatch:\n ours %s\n age  %s", got, want)
	}
	if theirs.String() != ours.SecretKey() {
		t.Fatal("secret key encoding differs from age's")
	}
	parsed, err := ParseRecipient(theirs.Recipient().String())
	if err != nil || !parsed.Equal(ours.Recipient()) {
		t.Fatalf("ParseRecipient(age's recipient) = %v, %v", parsed, err)
	}

	msg := []byte("hej från regionen")
	for _, tc := range []struct {
		name string
		enc  age.Recipient
		dec  age.Identity
	}{
		{"sluss→age", ours.Recipient(), theirs},
		{"age→sluss", theirs.Recipient(), ours},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			w, err := Encrypt(&buf, tc.enc)
			if err != nil {
				t.Fatal(err)
			}
			w.Write(msg)
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			r, err := age.Decrypt(&buf, tc.dec)
			if err != nil {
				t.Fatal(err)
			}
			got, err := io.ReadAll(r)
			if err != nil || !bytes.Equal(got, msg) {
				t.Fatalf("got %q, %v", got, err)
			}
		})
	}
}

func TestIdentityNeverPrintsSecret(t *testing.T) {
	id := mustIdentity(t)
	secret := id.SecretKey()
	seedHex := fmt.Sprintf("%x", id.Seed())
	for _, s := range []string{
		id.String(), fmt.Sprint(id), fmt.Sprintf("%v %+v %#v %s", id, id, id, id),
		fmt.Sprintf("%v", *id), fmt.Sprintf("%+v", []*Identity{id}),
	} {
		low := strings.ToLower(s)
		if strings.Contains(low, strings.ToLower(secret)) || strings.Contains(low, seedHex) {
			t.Fatalf("formatted identity leaks the secret: %q", s)
		}
	}
}

func TestParseErrors(t *testing.T) {
	id := mustIdentity(t)
	rcpt := id.Recipient().String()
	secret := id.SecretKey()
	flip := func(s string, i int) string {
		b := []byte(strings.ToLower(s))
		if b[i] == 'q' {
			b[i] = 'p'
		} else {
			b[i] = 'q'
		}
		if strings.ToUpper(s) == s {
			return strings.ToUpper(string(b))
		}
		return string(b)
	}
	x25519, _ := age.GenerateX25519Identity()

	recipients := []struct{ in, want string }{
		{"", "separator"},
		{"age1pq1", "separator"},
		{flip(rcpt, 100), "checksum"},
		{strings.ToUpper(rcpt[:10]) + rcpt[10:], "mixed case"},
		{x25519.Recipient().String(), `is not "age1pq"`},
		{rcpt[:len(rcpt)-20] + "qqqqqqqqqqqqqqqqqqqq", "checksum"},
		{"age1pq1" + strings.Repeat("q", 100), "checksum"},
		{secret, `is not "age1pq"`},
	}
	for _, tc := range recipients {
		_, err := ParseRecipient(tc.in)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("ParseRecipient(%.20q…) = %v, want error containing %q", tc.in, err, tc.want)
		}
	}
	identities := []struct{ in, want string }{
		{"", "separator"},
		{flip(secret, 30), "checksum"},
		{x25519.String(), "type is not"},
		{rcpt, "type is not"},
	}
	for _, tc := range identities {
		_, err := ParseIdentity(tc.in)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("ParseIdentity(…) = %v, want error containing %q", err, tc.want)
			continue
		}
		if len(tc.in) > 20 && strings.Contains(strings.ToUpper(err.Error()), strings.ToUpper(tc.in[20:])) {
			t.Errorf("ParseIdentity error quotes its input: %v", err)
		}
	}
	// A well-formed Bech32 string of the wrong length.
	if _, err := ParseIdentity(bech32Encode(identityPrefix, make([]byte, 31))); err == nil || !strings.Contains(err.Error(), "31 bytes") {
		t.Errorf("short seed: %v", err)
	}
	if _, err := ParseRecipient(bech32Encode(recipientPrefix, make([]byte, 32))); err == nil || !strings.Contains(err.Error(), "public key") {
		t.Errorf("short public key: %v", err)
	}
}

func TestMixedRecipientsRefused(t *testing.T) {
	id := mustIdentity(t)
	classic, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	_, err = Encrypt(&buf, id.Recipient(), classic.Recipient())
	if err == nil || !strings.Contains(err.Error(), "incompatible recipients") {
		t.Fatalf("mixing PQ and X25519 recipients: err = %v, want age's refusal", err)
	}
	if buf.Len() != 0 {
		t.Fatalf("%d bytes written despite the refusal", buf.Len())
	}
}

func TestBech32RoundTrip(t *testing.T) {
	for _, n := range []int{0, 1, 31, 32, 33, 1216} {
		data := bytes.Repeat([]byte{0xa5}, n)
		for _, hrp := range []string{"age1pq", "AGE-SECRET-KEY-PQ-"} {
			s := bech32Encode(hrp, data)
			gotHRP, got, err := bech32Decode(s)
			if err != nil || gotHRP != hrp || !bytes.Equal(got, data) {
				t.Fatalf("round trip %d bytes %s: %q %x %v", n, hrp, gotHRP, got, err)
			}
		}
	}
}

// TestAgainstAgeCLI runs the age command both ways: it decrypts what we
// write with our secret key, and we decrypt what it writes to our recipient.
func TestAgainstAgeCLI(t *testing.T) {
	ageCmd, err := exec.LookPath("age")
	if err != nil {
		t.Skip("the age command is not installed")
	}
	id := mustIdentity(t)
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "key.txt")
	if err := os.WriteFile(keyFile, []byte(id.SecretKey()+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	msg := bytes.Repeat([]byte("hej från regionen "), 5000) // two chunks
	for range 4 {
		var ct bytes.Buffer
		w, err := Encrypt(&ct, id.Recipient())
		if err != nil {
			t.Fatal(err)
		}
		w.Write(msg)
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(ageCmd, "-d", "-i", keyFile)
		cmd.Stdin = &ct
		got, err := cmd.Output()
		if err != nil || !bytes.Equal(got, msg) {
			t.Fatalf("age -d of our file: %d bytes, %v", len(got), err)
		}

		cmd = exec.Command(ageCmd, "-e", "-r", id.Recipient().String())
		cmd.Stdin = bytes.NewReader(msg)
		theirs, err := cmd.Output()
		if err != nil {
			t.Fatalf("age -e: %v", err)
		}
		r, err := Decrypt(bytes.NewReader(theirs), id)
		if err != nil {
			t.Fatalf("decrypting age's file: %v", err)
		}
		if got, err := io.ReadAll(r); err != nil || !bytes.Equal(got, msg) {
			t.Fatalf("decrypting age's file: %d bytes, %v", len(got), err)
		}
	}
}
