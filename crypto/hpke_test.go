package crypto

import (
	"bytes"
	"crypto/ecdh"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"testing"

	"filippo.io/age"
	"github.com/cloudflare/circl/hpke"
	"github.com/cloudflare/circl/kem/xwing"
	"golang.org/x/crypto/chacha20poly1305"
)

// circlSuite is the reference the hand-written suite in hpke.go must match.
var circlSuite = hpke.NewSuite(hpke.KEM_XWING, hpke.KDF_HKDF_SHA256, hpke.AEAD_ChaCha20Poly1305)

func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestKeyScheduleRFC9180 runs the key schedule on RFC 9180's vector A.2.1
// (DHKEM(X25519), HKDF-SHA256, ChaCha20-Poly1305, base mode): the schedule
// is the same for every KEM, only the suite ID differs.
func TestKeyScheduleRFC9180(t *testing.T) {
	suiteID := []byte{'H', 'P', 'K', 'E', 0x00, 0x20, 0x00, 0x01, 0x00, 0x03}
	info := unhex(t, "4f6465206f6e2061204772656369616e2055726e")
	ctx := keyScheduleContext(suiteID, info)
	if want := unhex(t, "00431df6cd95e11ff49d7013563baf7f11588c75a6611ee2a4404a49306ae4cfc5b69c5718a60cc5876c358d3f7fc31ddb598503f67be58ea1e798c0bb19eb9796"); !bytes.Equal(ctx, want) {
		t.Fatalf("key_schedule_context = %x, want %x", ctx, want)
	}
	key, nonce := keySchedule(suiteID, ctx, unhex(t, "0bbe78490412b4bbea4812666f7916932b828bba79942424abb65244930d69a7"))
	if want := unhex(t, "ad2744de8e17f4ebba575b3f5f5a8fa1f69c2a07f6e7500bc60ca6e3e3ec1c91"); !bytes.Equal(key, want) {
		t.Fatalf("key = %x, want %x", key, want)
	}
	if want := unhex(t, "5c4d98150661b848853b547f"); !bytes.Equal(nonce, want) {
		t.Fatalf("base_nonce = %x, want %x", nonce, want)
	}
	aead, err := chacha20poly1305.New(key)
	if err != nil {
		t.Fatal(err)
	}
	ct := aead.Seal(nil, nonce, unhex(t, "4265617574792069732074727574682c20747275746820626561757479"), unhex(t, "436f756e742d30"))
	if want := unhex(t, "1c5250d8034ec2b784ba2cfd69dbdb8af406cfe3ff938e131f0def8c8b60b4db21993c62ce81883d2dd1b51a28"); !bytes.Equal(ct, want) {
		t.Fatalf("sequence 0 ciphertext = %x, want %x", ct, want)
	}
}

// TestWrapMatchesCircl checks the hand-written suite against circl's hpke,
// both ways: the same encapsulation seed gives the same stanza byte for byte,
// and each side opens what the other sealed.
func TestWrapMatchesCircl(t *testing.T) {
	id := mustIdentity(t)
	sk, err := xwing.Scheme().UnmarshalBinaryPrivateKey(id.Seed())
	if err != nil {
		t.Fatal(err)
	}
	for i := range 32 {
		seed := make([]byte, xwing.EncapsulationSeedSize)
		fileKey := make([]byte, fileKeySize)
		rand.Read(seed)
		rand.Read(fileKey)

		enc, body := id.Recipient().wrap(fileKey, seed)
		sender, err := circlSuite.NewSender(id.Recipient().pk, []byte(hpkeInfo))
		if err != nil {
			t.Fatal(err)
		}
		wantEnc, sealer, err := sender.Setup(bytes.NewReader(seed))
		if err != nil {
			t.Fatal(err)
		}
		wantBody, err := sealer.Seal(fileKey, nil)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(enc, wantEnc) || !bytes.Equal(body, wantBody) {
			t.Fatalf("seed %d: stanza differs from circl's hpke", i)
		}

		receiver, err := circlSuite.NewReceiver(sk, []byte(hpkeInfo))
		if err != nil {
			t.Fatal(err)
		}
		opener, err := receiver.Setup(enc)
		if err != nil {
			t.Fatal(err)
		}
		if got, err := opener.Open(body, nil); err != nil || !bytes.Equal(got, fileKey) {
			t.Fatalf("seed %d: circl opens our stanza to %x, %v", i, got, err)
		}
		got, err := id.unwrap(&age.Stanza{Type: StanzaType, Args: []string{b64.EncodeToString(wantEnc)}, Body: wantBody})
		if err != nil || !bytes.Equal(got, fileKey) {
			t.Fatalf("seed %d: we open circl's stanza to %x, %v", i, got, err)
		}
	}
}

// TestDecapsulateMatchesCircl compares the X-Wing decapsulation with
// circl's on ciphertexts for the key and on random ones, which ML-KEM
// rejects implicitly (a pseudorandom secret, not an error).
func TestDecapsulateMatchesCircl(t *testing.T) {
	id := mustIdentity(t)
	sk, pk := xwing.DeriveKeyPairPacked(id.Seed())
	if !bytes.Equal(pk, id.Recipient().Bytes()) {
		t.Fatal("public key differs from circl's X-Wing key derivation")
	}
	for i := range 32 {
		var ct []byte
		if i%2 == 0 {
			seed := make([]byte, xwing.EncapsulationSeedSize)
			rand.Read(seed)
			_, ct, _ = xwing.Encapsulate(pk, seed)
		} else {
			ct = make([]byte, encSize)
			rand.Read(ct)
		}
		got, err := id.sk.decapsulate(ct)
		if err != nil {
			t.Fatalf("ciphertext %d: %v", i, err)
		}
		if want := xwing.Decapsulate(ct, sk); !bytes.Equal(got, want) {
			t.Fatalf("ciphertext %d: shared secret %x, circl's %x", i, got, want)
		}
	}
}

// TestLowOrderSharesRejectedAsAgeDoes checks that a share is refused exactly
// when crypto/ecdh, which age uses, refuses it: the low-order points, their
// encodings with the high bit set or plus p, and ordinary shares.
func TestLowOrderSharesRejectedAsAgeDoes(t *testing.T) {
	id := mustIdentity(t)
	p := "edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f"
	shares := []string{
		"0000000000000000000000000000000000000000000000000000000000000000",
		"0100000000000000000000000000000000000000000000000000000000000000",
		"e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800",
		"5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157",
		"ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f", // p-1
		p, // 0 encoded as p
		"eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f", // 1 encoded as p+1
		"0000000000000000000000000000000000000000000000000000000000000080", // 0, high bit set
		"e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b880", // order 8, high bit set
		"0900000000000000000000000000000000000000000000000000000000000000", // the base point
	}
	for range 4 {
		r := make([]byte, 32)
		rand.Read(r)
		shares = append(shares, hex.EncodeToString(r))
	}
	x, err := ecdh.X25519().NewPrivateKey(id.sk.x[:])
	if err != nil {
		t.Fatal(err)
	}
	rejected := 0
	for _, s := range shares {
		share := unhex(t, s)
		pub, err := ecdh.X25519().NewPublicKey(share)
		if err != nil {
			t.Fatal(err)
		}
		_, ecdhErr := x.ECDH(pub)
		enc := make([]byte, encSize)
		rand.Read(enc[:encSize-32])
		copy(enc[encSize-32:], share)
		_, err = id.sk.decapsulate(enc)
		if (ecdhErr != nil) != (err != nil) {
			t.Errorf("share %s: crypto/ecdh says %v, decapsulate %v", s, ecdhErr, err)
		}
		if err != nil {
			if !errors.Is(err, errLowOrderShare) {
				t.Errorf("share %s: %v, want errLowOrderShare", s, err)
			}
			rejected++
		}
	}
	if rejected < 9 {
		t.Fatalf("only %d shares rejected; the list has 9 low-order encodings", rejected)
	}
}
