package crypto

import (
	"bytes"
	"compress/zlib"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"io/fs"
	"strings"
	"testing"

	agetest "c2sp.org/CCTV/age"
	"filippo.io/age"
)

// vector is one C2SP CCTV age test vector (see the module's README).
type vector struct {
	expect      string
	payloadHash []byte
	identities  []string
	armored     bool
	file        []byte
}

func parseVector(t *testing.T, contents []byte) vector {
	t.Helper()
	v := vector{}
	rest := contents
	compressed := false
	for {
		line, r, ok := bytes.Cut(rest, []byte("\n"))
		if !ok {
			t.Fatal("invalid vector: no payload")
		}
		rest = r
		if len(line) == 0 {
			break
		}
		key, value, _ := strings.Cut(string(line), ": ")
		switch key {
		case "expect":
			v.expect = value
		case "payload":
			h, err := hex.DecodeString(value)
			if err != nil {
				t.Fatal(err)
			}
			v.payloadHash = h
		case "identity":
			v.identities = append(v.identities, value)
		case "armored":
			v.armored = true
		case "compressed":
			compressed = true
		}
	}
	v.file = rest
	if compressed {
		zr, err := zlib.NewReader(bytes.NewReader(rest))
		if err != nil {
			t.Fatal(err)
		}
		if v.file, err = io.ReadAll(zr); err != nil {
			t.Fatal(err)
		}
	}
	return v
}

// TestCCTVVectors runs every mlkem768x25519 vector of c2sp.org/CCTV/age
// against the circl-based Identity, with no age.HybridIdentity involved
// (classic X25519 identities in a vector are age's own).
func TestCCTVVectors(t *testing.T) {
	entries, err := fs.ReadDir(agetest.Vectors, ".")
	if err != nil {
		t.Fatal(err)
	}
	ran := 0
	for _, e := range entries {
		contents, err := fs.ReadFile(agetest.Vectors, e.Name())
		if err != nil {
			t.Fatal(err)
		}
		v := parseVector(t, contents)
		var ids []age.Identity
		pq := false
		for _, s := range v.identities {
			if strings.HasPrefix(s, "AGE-SECRET-KEY-PQ-1") {
				id, err := ParseIdentity(s)
				if err != nil {
					t.Fatalf("%s: %v", e.Name(), err)
				}
				ids = append(ids, id)
				pq = true
				continue
			}
			if id, err := age.ParseX25519Identity(s); err == nil {
				ids = append(ids, id)
			}
		}
		if !pq && !bytes.Contains(v.file, []byte("-> "+StanzaType)) {
			continue
		}
		if v.armored || len(ids) == 0 {
			continue
		}
		ran++
		t.Run(e.Name(), func(t *testing.T) { checkVector(t, v, ids) })
	}
	if ran < 16 {
		t.Fatalf("ran only %d mlkem768x25519 vectors; the CCTV module should have at least 16", ran)
	}
}

func checkVector(t *testing.T, v vector, ids []age.Identity) {
	r, err := Decrypt(bytes.NewReader(v.file), ids...)
	var noMatch *age.NoIdentityMatchError
	switch {
	case errors.As(err, &noMatch):
		if v.expect != "no match" {
			t.Fatalf("expected %s, got no match: %v", v.expect, err)
		}
		return
	case err != nil && strings.HasSuffix(err.Error(), "bad header MAC"):
		if v.expect != "HMAC failure" {
			t.Fatalf("expected %s, got HMAC failure", v.expect)
		}
		return
	case err != nil:
		if v.expect != "header failure" {
			t.Fatalf("expected %s, got header error: %v", v.expect, err)
		}
		return
	}
	out, err := io.ReadAll(r)
	switch v.expect {
	case "success":
		if err != nil {
			t.Fatalf("expected success, got: %v", err)
		}
		if sum := sha256.Sum256(out); !bytes.Equal(sum[:], v.payloadHash) {
			t.Fatalf("payload hash mismatch")
		}
	case "payload failure":
		if err == nil {
			t.Fatal("expected payload failure, got success")
		}
	default:
		t.Fatalf("expected %s, got success with %d bytes (err %v)", v.expect, len(out), err)
	}
}
