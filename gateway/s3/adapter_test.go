package s3

import (
	"encoding/hex"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/sluss/sluss/gateway"
)

// signNaming signs req as a client that signs the headers names (host
// and the x-amz ones Sign sets among them) with secret.
func signNaming(req *http.Request, secret string, names []string, now time.Time) {
	amzDate, date := now.Format(amzDateFmt), now.Format(scopeDateFmt)
	req.Header.Set("X-Amz-Date", amzDate)
	req.Header.Set("X-Amz-Content-Sha256", UnsignedPayload)
	scope := date + "/us-east-1/s3/" + terminator
	canonical := canonicalRequest(req.Method, req.URL.EscapedPath(), canonicalQuery(req.URL.RawQuery, false),
		canonicalHeaders(req, req.URL.Host, names), names, UnsignedPayload)
	sig := hmacSHA256(signingKey(secret, date, "us-east-1", "s3"), []byte(stringToSign(amzDate, scope, canonical)))
	req.Header.Set("Authorization", algorithm+" Credential=AKID/"+scope+", SignedHeaders="+strings.Join(names, ";")+", Signature="+hex.EncodeToString(sig))
}

// TestAuthenticateExpect: the gateway's proxy answers and removes
// Expect; a client that signed it is verified with it put back, whichever
// spelling of 100-continue it used (aws-sdk-go v1 signs "100-Continue"
// when it retries a part).
func TestAuthenticateExpect(t *testing.T) {
	now := time.Date(2026, 12, 2, 4, 0, 0, 0, time.UTC)
	a := &Adapter{
		Credentials: func(id string) (Credential, error) {
			if id != "AKID" {
				return Credential{}, ErrUnknownAccessKey
			}
			return Credential{AccessKeyID: id, Secret: "secret"}, nil
		},
		Now: func() time.Time { return now },
	}
	withExpect := []string{"content-length", "expect", "host", "x-amz-content-sha256", "x-amz-date"}
	without := []string{"content-length", "host", "x-amz-content-sha256", "x-amz-date"}
	for _, tt := range []struct {
		name    string
		expect  string // as the client sent and signed it
		names   []string
		removed bool // by the proxy, before the adapter sees the request
		secret  string
		want    error
	}{
		{"signed, removed", "100-continue", withExpect, true, "secret", nil},
		{"aws-sdk-go v1 spelling, removed", "100-Continue", withExpect, true, "secret", nil},
		{"signed, kept", "100-continue", withExpect, false, "secret", nil},
		{"aws-sdk-go v1 spelling, kept", "100-Continue", withExpect, false, "secret", nil},
		{"not signed, removed", "100-Continue", without, true, "secret", nil},
		{"other spelling, removed", "100-CONTINUE", withExpect, true, "secret", ErrSignatureDoesNotMatch},
		{"wrong secret, removed", "100-Continue", withExpect, true, "wrong", ErrSignatureDoesNotMatch},
	} {
		req, _ := http.NewRequest("PUT", "http://s3.example.test/bucket/key?partNumber=1&uploadId=u", strings.NewReader("part"))
		req.Header.Set("Content-Length", "4")
		req.Header.Set("Expect", tt.expect)
		signNaming(req, tt.secret, tt.names, now)
		if tt.removed {
			req.Header.Del("Expect")
		}
		c := &call{s: &service{a: a}, x: &gateway.Exchange{}, req: req}
		err := c.authenticate()
		if !errors.Is(err, tt.want) || (tt.want == nil) != (err == nil) {
			t.Errorf("%s: authenticate = %v, want %v", tt.name, err, tt.want)
		}
		if v := req.Header.Get("Expect"); v != "" {
			t.Errorf("%s: Expect %q left for upstream", tt.name, v)
		}
	}
}

// TestProfileDocumentsOption: documents takes "true" or "false", nothing
// else, so that a typo does not silently leave documents encrypted.
func TestProfileDocumentsOption(t *testing.T) {
	for _, tt := range []struct {
		value string
		want  bool
		ok    bool
	}{{"true", true, true}, {"false", false, true}, {"yes", false, false}, {"TRUE", false, false}} {
		a := &Adapter{}
		rules, err := a.Profile(map[string]string{"documents": tt.value})
		if (err == nil) != tt.ok {
			t.Errorf("documents: %q: err %v, want ok %v", tt.value, err, tt.ok)
			continue
		}
		if err == nil && rules[0].Response[0].(*service).documents != tt.want {
			t.Errorf("documents: %q: documents = %v, want %v", tt.value, !tt.want, tt.want)
		}
	}
}
