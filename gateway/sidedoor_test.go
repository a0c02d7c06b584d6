package gateway

import (
	"bytes"
	"compress/flate"
	"compress/gzip"
	"compress/zlib"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/http"
	"net/textproto"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"unicode/utf16"

	"github.com/andybalholm/brotli"
	"github.com/gorilla/websocket"
	"golang.org/x/text/encoding"
	"golang.org/x/text/encoding/charmap"
	"golang.org/x/text/encoding/htmlindex"
	"golang.org/x/text/encoding/unicode"
	"golang.org/x/text/transform"
)

// The side-door test sends one person's personnummer and name through a
// form service in every encoding a client can wrap them in, and checks
// that the upstream holds none of them after decoding the request the way
// a server would (serverView). Each row either goes through, transformed,
// or is refused with nothing sent.
//
// To add a row, append to sideDoorCases: a request built from a
// personnummer form (sideDoorPayload gives the free text to hide), or a
// do function for what is not one HTTP request (a WebSocket); and teach
// serverView the decoding if a server would undo something new.

// sideDoorPnrs are the forms of the personnummer each row is sent with.
var sideDoorPnrs = []string{"19121212-1212", "191212121212", "121212-1212", "1212121212"}

// sideDoorName is sent in name fields; sideDoorFree is a name the
// free-text detector knows, with letters outside ASCII so that charsets
// matter.
const (
	sideDoorName = "Tolvan Tolvansson"
	sideDoorFree = "Björn Ängström"
)

// sideDoorPayload is free text holding all three: the name before the
// number is how the free-text detector finds Tolvan Tolvansson.
func sideDoorPayload(pnr string) string {
	return sideDoorName + " " + pnr + ", " + sideDoorFree
}

// sideDoorForbidden is what the upstream must never hold, in any form.
func sideDoorForbidden(pnr string) []string {
	return append([]string{pnr, "Tolvan", "Tolvansson", "Björn", "Ängström"}, sideDoorPnrs...)
}

type sideDoorCase struct {
	name string
	// request builds the request to send to base (https://host/sidedoor).
	request func(base, pnr string) (*http.Request, error)
	// do replaces request for exchanges that are not one HTTP request;
	// it returns the status the client saw.
	do func(t *testing.T, h *harness, base, pnr string) int
	// refused is the status the gateway must refuse with, nothing sent;
	// 0 when the request must go through, transformed.
	refused int
}

// pctAll percent-encodes every byte of s.
func pctAll(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		fmt.Fprintf(&b, "%%%02X", s[i])
	}
	return b.String()
}

// uEscape writes s as a JSON string with every character \u-escaped.
func uEscape(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		for _, u := range utf16.Encode([]rune{r}) {
			fmt.Fprintf(&b, `\u%04x`, u)
		}
	}
	b.WriteByte('"')
	return b.String()
}

// qpAll quoted-printable-encodes every byte of s, in soft-broken lines.
func qpAll(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if i > 0 && i%20 == 0 {
			b.WriteString("=\r\n")
		}
		fmt.Fprintf(&b, "=%02X", s[i])
	}
	return b.String()
}

func sideDoorJSON(pnr string) string {
	return fmt.Sprintf(`{"namn": %q, "personnummer": %q, "anteckning": %q}`, sideDoorName, pnr, sideDoorPayload(pnr))
}

func newReq(method, u, ct string, body []byte, hdr ...string) (*http.Request, error) {
	var r io.Reader
	if body != nil {
		r = bytes.NewReader(body)
	}
	req, err := http.NewRequest(method, u, r)
	if err != nil {
		return nil, err
	}
	if ct != "" {
		req.Header.Set("Content-Type", ct)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Add(hdr[i], hdr[i+1])
	}
	return req, nil
}

// multipartBody builds a form from parts given as header lines and body.
type rawPart struct {
	header textproto.MIMEHeader
	body   []byte
}

func multipartBody(boundary string, parts ...rawPart) []byte {
	var b bytes.Buffer
	mw := multipart.NewWriter(&b)
	mw.SetBoundary(boundary)
	for _, p := range parts {
		w, _ := mw.CreatePart(p.header)
		w.Write(p.body)
	}
	mw.Close()
	return b.Bytes()
}

func hdr(kv ...string) textproto.MIMEHeader {
	h := textproto.MIMEHeader{}
	for i := 0; i+1 < len(kv); i += 2 {
		h.Add(kv[i], kv[i+1])
	}
	return h
}

func formPost(base string, parts ...rawPart) (*http.Request, error) {
	const b = "sidedoorBOUNDARY"
	return newReq("POST", base, "multipart/form-data; boundary="+b, multipartBody(b, parts...))
}

var sideDoorCases = []sideDoorCase{
	{name: "referer", request: func(base, pnr string) (*http.Request, error) {
		return newReq("GET", base, "", nil, "Referer", "https://portal.example/patienter/"+url.PathEscape(sideDoorPayload(pnr))+
			"?namn="+url.QueryEscape(sideDoorName)+"&pnr="+pnr+"&q="+pctAll(sideDoorPayload(pnr))+"#"+url.PathEscape(sideDoorPayload(pnr)))
	}},
	{name: "origin", request: func(base, pnr string) (*http.Request, error) {
		return newReq("GET", base, "", nil, "Origin", "https://portal.example/"+pctAll(sideDoorPayload(pnr)))
	}},
	{name: "custom header", request: func(base, pnr string) (*http.Request, error) {
		return newReq("GET", base, "", nil, "X-Patient", sideDoorPayload(pnr), "X-Patient-Id", pnr, "X-Namn", sideDoorName,
			"X-Amz-Meta-Patient", sideDoorPayload(pnr))
	}},
	{name: "custom header percent-encoded", request: func(base, pnr string) (*http.Request, error) {
		return newReq("GET", base, "", nil, "X-Patient", pctAll(sideDoorPayload(pnr)), "X-Note", "fil: "+url.QueryEscape(sideDoorPayload(pnr))+" (100% klar)")
	}},
	{name: "copy source", request: func(base, pnr string) (*http.Request, error) {
		return newReq("PUT", base, "", nil, "X-Amz-Copy-Source", "/bucket/"+url.PathEscape(sideDoorPayload(pnr))+".pdf")
	}},
	{name: "cookie", request: func(base, pnr string) (*http.Request, error) {
		return newReq("GET", base, "", nil, "Cookie", "sid=abc123; namn="+url.PathEscape(sideDoorName)+"; pnr="+pnr+
			"; note="+url.QueryEscape(sideDoorPayload(pnr))+`; q="`+pctAll(sideDoorPayload(pnr))+`"; p_`+pnr+"=1")
	}},
	{name: "json \\u escapes", request: func(base, pnr string) (*http.Request, error) {
		body := fmt.Sprintf(`{%s: %s, "personnummer": %s, "anteckning": %s, %s: 1}`, uEscape("namn"), uEscape(sideDoorName), uEscape(pnr), uEscape(sideDoorPayload(pnr)), uEscape(pnr))
		return newReq("POST", base, "application/json", []byte(body))
	}},
	{name: "form percent-encoded", request: func(base, pnr string) (*http.Request, error) {
		body := pctAll("namn") + "=" + pctAll(sideDoorName) + "&anteckning=" + pctAll(sideDoorPayload(pnr)) + "&" + pctAll(pnr) + "=" + pctAll(pnr)
		return newReq("POST", base, "application/x-www-form-urlencoded", []byte(body))
	}},
	{name: "query percent-encoded", request: func(base, pnr string) (*http.Request, error) {
		return newReq("GET", base+"?q="+pctAll(sideDoorPayload(pnr))+"&"+pctAll(pnr)+"=1&"+pctAll("namn")+"="+pctAll(sideDoorName), "", nil)
	}},
	{name: "path percent-encoded", request: func(base, pnr string) (*http.Request, error) {
		return newReq("GET", base+"/"+pctAll(sideDoorPayload(pnr))+".pdf", "", nil)
	}},
	{name: "gzip", request: func(base, pnr string) (*http.Request, error) {
		return newReq("POST", base, "application/json", compress("gzip", []byte(sideDoorJSON(pnr))), "Content-Encoding", "gzip")
	}},
	{name: "deflate zlib", request: func(base, pnr string) (*http.Request, error) {
		return newReq("POST", base, "application/json", compress("zlib", []byte(sideDoorJSON(pnr))), "Content-Encoding", "deflate")
	}},
	{name: "deflate raw", request: func(base, pnr string) (*http.Request, error) {
		return newReq("POST", base, "text/plain", compress("raw", []byte(sideDoorPayload(pnr))), "Content-Encoding", "deflate")
	}},
	{name: "br", request: func(base, pnr string) (*http.Request, error) {
		return newReq("POST", base, "application/json", compress("br", []byte(sideDoorJSON(pnr))), "Content-Encoding", "br")
	}},
	{name: "gzip, br stacked", request: func(base, pnr string) (*http.Request, error) {
		return newReq("POST", base, "text/csv", compress("br", compress("gzip", []byte("namn;pnr;not\n"+sideDoorName+";"+pnr+";"+sideDoorPayload(pnr)+"\n"))), "Content-Encoding", "gzip, br")
	}},
	{name: "multipart base64", request: func(base, pnr string) (*http.Request, error) {
		b64 := func(s string) []byte { return []byte(base64.StdEncoding.EncodeToString([]byte(s))) }
		return formPost(base,
			rawPart{hdr("Content-Disposition", `form-data; name="namn"`, "Content-Transfer-Encoding", "base64"), b64(sideDoorName)},
			rawPart{hdr("Content-Disposition", `form-data; name="anteckning"`, "Content-Transfer-Encoding", "BASE64"), b64(sideDoorPayload(pnr))},
			rawPart{hdr("Content-Disposition", `form-data; name="fil"; filename="a.txt"`, "Content-Type", "text/plain", "Content-Transfer-Encoding", "base64"), b64(sideDoorPayload(pnr))})
	}},
	{name: "multipart quoted-printable", request: func(base, pnr string) (*http.Request, error) {
		return formPost(base,
			rawPart{hdr("Content-Disposition", `form-data; name="namn"`, "Content-Transfer-Encoding", "quoted-printable"), []byte(qpAll(sideDoorName))},
			rawPart{hdr("Content-Disposition", `form-data; name="anteckning"`, "Content-Type", "text/plain; charset=utf-8", "Content-Transfer-Encoding", "quoted-printable"), []byte(qpAll(sideDoorPayload(pnr)))})
	}},
	{name: "multipart 8bit and binary", request: func(base, pnr string) (*http.Request, error) {
		return formPost(base,
			rawPart{hdr("Content-Disposition", `form-data; name="a"`, "Content-Transfer-Encoding", "8bit", "Content-Description", sideDoorPayload(pnr),
				"X-Namn", sideDoorName), []byte(sideDoorPayload(pnr))},
			rawPart{hdr("Content-Disposition", `form-data; name="b"`, "Content-Transfer-Encoding", "binary"), []byte(sideDoorPayload(pnr))})
	}},
	{name: "utf-16 with bom", request: func(base, pnr string) (*http.Request, error) {
		return newReq("POST", base, "text/plain; charset=utf-16", encodeIn(unicode.UTF16(unicode.LittleEndian, unicode.UseBOM), sideDoorPayload(pnr)))
	}},
	{name: "utf-16le", request: func(base, pnr string) (*http.Request, error) {
		return newReq("POST", base, "application/json; charset=utf-16le", encodeIn(unicode.UTF16(unicode.LittleEndian, unicode.IgnoreBOM), sideDoorJSON(pnr)))
	}},
	{name: "utf-16be", request: func(base, pnr string) (*http.Request, error) {
		return newReq("POST", base, "text/csv; charset=UTF-16BE", encodeIn(unicode.UTF16(unicode.BigEndian, unicode.IgnoreBOM), "namn,pnr\n"+sideDoorName+","+pnr+"\n"))
	}},
	{name: "utf-16 bom without charset", request: func(base, pnr string) (*http.Request, error) {
		return newReq("POST", base, "application/json", encodeIn(unicode.UTF16(unicode.BigEndian, unicode.UseBOM), sideDoorJSON(pnr)))
	}},
	{name: "latin-1", request: func(base, pnr string) (*http.Request, error) {
		return newReq("POST", base, "text/plain; charset=ISO-8859-1", encodeIn(charmap.ISO8859_1, sideDoorPayload(pnr)))
	}},
	{name: "windows-1252", request: func(base, pnr string) (*http.Request, error) {
		return newReq("POST", base, "application/json; charset=windows-1252", encodeIn(charmap.Windows1252, sideDoorJSON(pnr)))
	}},
	{name: "windows-1252 undeclared", request: func(base, pnr string) (*http.Request, error) {
		return newReq("POST", base, "text/plain", encodeIn(charmap.Windows1252, sideDoorPayload(pnr)))
	}},
	{name: "multipart latin-1 part", request: func(base, pnr string) (*http.Request, error) {
		return formPost(base,
			rawPart{hdr("Content-Disposition", `form-data; name="anteckning"`, "Content-Type", "text/plain; charset=iso-8859-1"), encodeIn(charmap.ISO8859_1, sideDoorPayload(pnr))},
			rawPart{hdr("Content-Disposition", `form-data; name="namn"`, "Content-Type", "text/plain; charset=utf-16", "Content-Transfer-Encoding", "base64"),
				[]byte(base64.StdEncoding.EncodeToString(encodeIn(unicode.UTF16(unicode.BigEndian, unicode.UseBOM), sideDoorName)))})
	}},
	{name: "filename*", request: func(base, pnr string) (*http.Request, error) {
		return formPost(base,
			rawPart{hdr("Content-Disposition", `form-data; name="a"; filename*=UTF-8''`+url.PathEscape(sideDoorPayload(pnr))+".pdf", "Content-Type", "application/pdf"), []byte("%PDF")},
			rawPart{hdr("Content-Disposition", `form-data; name="b"; filename="x.pdf"; filename*=iso-8859-1'sv'`+pctAll(string(encodeIn(charmap.ISO8859_1, sideDoorPayload(pnr))))+".pdf"), []byte("%PDF")},
			rawPart{hdr("Content-Disposition", `form-data; name="c"; filename*0*=utf-8''`+pctAll(pnr)+`; filename*1="`+" "+sideDoorName+`.pdf"`), []byte("%PDF")},
			rawPart{hdr("Content-Disposition", `form-data; name="d"; filename="=?UTF-8?B?`+base64.StdEncoding.EncodeToString([]byte(sideDoorPayload(pnr)))+`?=.pdf"`), []byte("%PDF")},
			rawPart{hdr("Content-Disposition", `form-data; name="e"`, "Content-Type", "application/pdf; name*=utf-8''"+pctAll(sideDoorPayload(pnr))), []byte("%PDF")})
	}},
	{name: "filename* header alone", request: func(base, pnr string) (*http.Request, error) {
		return newReq("PUT", base, "text/plain", []byte("hej"), "Content-Disposition", `attachment; filename*=ISO-8859-1''`+pctAll(string(encodeIn(charmap.ISO8859_1, sideDoorPayload(pnr))))+".txt")
	}},
	{name: "nested multipart", request: func(base, pnr string) (*http.Request, error) {
		inner := multipartBody("innerBOUNDARY",
			rawPart{hdr("Content-Disposition", `file; filename="`+sideDoorPayload(pnr)+`.txt"`, "Content-Type", "text/plain"), []byte(sideDoorPayload(pnr))},
			rawPart{hdr("Content-Disposition", `inline; name="not"`, "Content-Transfer-Encoding", "base64"), []byte(base64.StdEncoding.EncodeToString([]byte(sideDoorPayload(pnr))))},
			rawPart{hdr("Content-Type", "multipart/mixed; boundary=deepest"), multipartBody("deepest",
				rawPart{hdr("Content-Type", "text/plain"), []byte(sideDoorPayload(pnr))})})
		return formPost(base,
			rawPart{hdr("Content-Disposition", `form-data; name="filer"`, "Content-Type", "multipart/mixed; boundary=innerBOUNDARY"), inner})
	}},
	{name: "boundary with a personnummer", request: func(base, pnr string) (*http.Request, error) {
		b := "-" + pnr + "-"
		return newReq("POST", base, "multipart/form-data; boundary="+b, multipartBody(b,
			rawPart{hdr("Content-Disposition", `form-data; name="a"`), []byte("hej")}))
	}},
	{name: "trailer", do: func(t *testing.T, h *harness, base, pnr string) int {
		pr, pw := io.Pipe()
		go func() { io.WriteString(pw, "a=b"); pw.Close() }()
		req, _ := http.NewRequest("POST", base, pr)
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Trailer = http.Header{"X-Patient": {sideDoorPayload(pnr)}}
		resp, err := h.client("", "").Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}},

	// Refused with nothing sent: what the gateway cannot decode.
	{name: "zstd", refused: 415, request: func(base, pnr string) (*http.Request, error) {
		return newReq("POST", base, "text/plain", []byte(sideDoorPayload(pnr)), "Content-Encoding", "zstd")
	}},
	{name: "four stacked gzips", refused: 415, request: func(base, pnr string) (*http.Request, error) {
		b := []byte(sideDoorPayload(pnr))
		for range 4 {
			b = compress("gzip", b)
		}
		return newReq("POST", base, "text/plain", b, "Content-Encoding", "gzip,gzip, gzip,gzip")
	}},
	{name: "corrupt gzip", refused: 400, request: func(base, pnr string) (*http.Request, error) {
		b := compress("gzip", []byte(sideDoorPayload(pnr)))
		b[len(b)/2] ^= 0xff
		return newReq("POST", base, "text/plain", b, "Content-Encoding", "gzip")
	}},
	{name: "gzip bomb", refused: 413, request: func(base, pnr string) (*http.Request, error) {
		return newReq("POST", base, "text/plain", gzipBomb(sideDoorPayload(pnr), 8<<20), "Content-Encoding", "gzip")
	}},
	{name: "uuencoded part", refused: 415, request: func(base, pnr string) (*http.Request, error) {
		return formPost(base, rawPart{hdr("Content-Disposition", `form-data; name="a"`, "Content-Transfer-Encoding", "x-uuencode"), []byte(sideDoorPayload(pnr))})
	}},
	{name: "shift_jis", refused: 415, request: func(base, pnr string) (*http.Request, error) {
		return newReq("POST", base, "text/plain; charset=shift_jis", []byte(sideDoorPayload(pnr)))
	}},
	{name: "form in latin-1", refused: 415, request: func(base, pnr string) (*http.Request, error) {
		return newReq("POST", base, "application/x-www-form-urlencoded; charset=iso-8859-1", []byte("a="+url.QueryEscape(string(encodeIn(charmap.ISO8859_1, sideDoorPayload(pnr))))))
	}},
	{name: "utf-32", refused: 415, request: func(base, pnr string) (*http.Request, error) {
		var b []byte
		b = append(b, 0xff, 0xfe, 0, 0)
		for _, r := range sideDoorPayload(pnr) {
			b = append(b, byte(r), byte(r>>8), byte(r>>16), 0)
		}
		return newReq("POST", base, "text/plain", b)
	}},
	{name: "filename in koi8-r", refused: 415, request: func(base, pnr string) (*http.Request, error) {
		return formPost(base, rawPart{hdr("Content-Disposition", `form-data; name="a"; filename*=koi8-r''`+pctAll(sideDoorPayload(pnr))), []byte("x")})
	}},
	{name: "JSON number", request: func(base, pnr string) (*http.Request, error) {
		// An HR export: the personnummer as a number, as spreadsheets
		// write it.
		num := strings.ReplaceAll(pnr, "-", "")
		return newReq("POST", base, "application/json", []byte(`{"anstallda":[{"personnr":`+num+`,"namn":"`+sideDoorName+`","antal":3}]}`))
	}},
	{name: "WebSocket text messages", do: func(t *testing.T, h *harness, base, pnr string) int {
		u := "wss://" + strings.TrimPrefix(base, "https://") + "?pnr=" + pnr
		conn, resp, err := h.wsDialer("", "").Dial(u, nil)
		if err != nil {
			t.Fatalf("WebSocket through the gateway: %v", err)
		}
		defer conn.Close()
		for _, m := range []string{sideDoorPayload(pnr), `{"namn":"` + sideDoorName + `","personnummer":"` + pnr + `"}`} {
			if err := conn.WriteMessage(websocket.TextMessage, []byte(m)); err != nil {
				t.Fatal(err)
			}
		}
		if _, _, err := conn.ReadMessage(); err != nil {
			t.Fatalf("no answer from the upstream: %v", err)
		}
		// The upstream's record is complete once it answered.
		if resp.StatusCode == http.StatusSwitchingProtocols {
			return http.StatusOK
		}
		return resp.StatusCode
	}},
	{name: "referer not a URL", refused: 400, request: func(base, pnr string) (*http.Request, error) {
		return newReq("GET", base, "", nil, "Referer", "https://[portal/"+url.PathEscape(sideDoorPayload(pnr)))
	}},
}

// gzipBomb is payload followed by n zero bytes, gzipped (about 1000:1).
func gzipBomb(payload string, n int) []byte {
	var out bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&out, gzip.BestCompression)
	io.WriteString(zw, payload)
	zw.Write(make([]byte, n))
	zw.Close()
	return out.Bytes()
}

func TestSideDoors(t *testing.T) {
	c := newCloud(t)
	h := newHarness(t, storageConfig(c, "form"))
	var hits atomic.Int64
	var mu sync.Mutex
	var view string
	c.mux.HandleFunc("/sidedoor/", func(w http.ResponseWriter, r *http.Request) {
		v := serverView(t, r)
		if websocket.IsWebSocketUpgrade(r) {
			// The messages are what a WebSocket server reads: two text
			// messages, then it answers.
			conn, err := (&websocket.Upgrader{}).Upgrade(w, r, nil)
			if err != nil {
				return
			}
			defer conn.Close()
			for i := 0; i < 2; i++ {
				_, m, err := conn.ReadMessage()
				if err != nil {
					v += bodyCut
					break
				}
				v += "\n" + string(m)
				var doc any // JSON as a server decodes it: escapes undone
				if json.Unmarshal(m, &doc) == nil {
					v += "\n" + fmt.Sprint(doc)
				}
			}
			mu.Lock()
			view = v
			mu.Unlock()
			hits.Add(1)
			conn.WriteMessage(websocket.TextMessage, []byte("ok"))
			return
		}
		mu.Lock()
		view = v
		mu.Unlock()
		hits.Add(1)
		io.WriteString(w, "ok")
	})
	cl := h.client("", "")
	for i, tc := range sideDoorCases {
		for k, pnr := range sideDoorPnrs {
			t.Run(fmt.Sprintf("%s/form%d", tc.name, k), func(t *testing.T) {
				base := fmt.Sprintf("%s/sidedoor/%d", c.URL(), i)
				before := hits.Load()
				var status int
				var body string
				if tc.do != nil {
					status = tc.do(t, h, base, pnr)
				} else {
					req, err := tc.request(base, pnr)
					if err != nil {
						t.Fatal(err)
					}
					req.Header.Set("Accept", "application/json")
					resp, err := cl.Do(req)
					if err != nil {
						t.Fatal(err)
					}
					b, _ := io.ReadAll(resp.Body)
					resp.Body.Close()
					status, body = resp.StatusCode, string(b)
				}
				checkNoPersonalValues(t, "the response", body)
				got := hits.Load() - before
				if tc.refused != 0 {
					if status != tc.refused || got != 0 || !strings.Contains(body, "request_id") {
						t.Errorf("want a %d refusal with nothing sent; got %d, %d upstream requests: %s", tc.refused, status, got, body)
					}
					return
				}
				if status != http.StatusOK || got != 1 {
					t.Fatalf("want the request transformed and sent; got %d, %d upstream requests: %s", status, got, body)
				}
				mu.Lock()
				v := view
				mu.Unlock()
				if strings.Contains(v, bodyCut) {
					t.Errorf("the upstream got a cut body")
				}
				for j, f := range sideDoorForbidden(pnr) {
					if strings.Contains(v, f) {
						t.Errorf("the upstream holds forbidden value %d", j)
					}
				}
			})
		}
	}
	if !h.auditHas(t, `"action":"pseudonymize"`) || !h.auditHas(t, `"action":"deny"`, `"status":415`) {
		t.Errorf("audit lacks the transformed and the refused requests")
	}
}

const bodyCut = "[body cut]"

// serverView is what a server could read of r after undoing every layer
// it might: the URL decoded, header values as sent and percent-decoded,
// cookies, MIME parameters (RFC 2231, RFC 2047), and the body with its
// Content-Encoding, transfer encodings and charsets undone, JSON strings
// and keys unescaped, forms and multipart parts (nested too) read.
func serverView(t *testing.T, r *http.Request) string {
	var v strings.Builder
	v.WriteString(r.URL.Path + "\n" + r.URL.RawQuery + "\n")
	viewQuery(&v, r.URL.RawQuery)
	for k, vs := range r.Header {
		for _, s := range vs {
			viewHeader(&v, k, s)
		}
	}
	for _, c := range r.Cookies() {
		v.WriteString(c.Name + "=" + c.Value + "\n")
		viewPercent(&v, c.Value)
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		// A request the gateway aborted midway.
		v.WriteString(bodyCut + "\n")
	}
	for k, s := range r.Trailer {
		viewHeader(&v, k, strings.Join(s, ","))
	}
	viewBody(t, &v, textproto.MIMEHeader(r.Header), body, 0)
	return v.String()
}

func viewPercent(v *strings.Builder, s string) {
	if d, ok := percentDecoded(s); ok {
		v.WriteString(d + "\n")
	}
	if d, err := url.PathUnescape(s); err == nil {
		v.WriteString(d + "\n")
	}
}

func viewQuery(v *strings.Builder, q string) {
	vals, _ := url.ParseQuery(q)
	for k, vs := range vals {
		v.WriteString(k + "=" + strings.Join(vs, ",") + "\n")
	}
}

func viewHeader(v *strings.Builder, k, s string) {
	v.WriteString(k + ": " + s + "\n")
	viewPercent(v, s)
	if _, params, err := mime.ParseMediaType(s); err == nil {
		for pk, pv := range params {
			v.WriteString(pk + "=" + pv + "\n")
			viewWords(v, pv)
		}
	}
	if u, err := url.Parse(s); err == nil {
		v.WriteString(u.Path + "\n" + u.Fragment + "\n")
		viewQuery(v, u.RawQuery)
	}
}

func viewWords(v *strings.Builder, s string) {
	d := &mime.WordDecoder{CharsetReader: func(cs string, r io.Reader) (io.Reader, error) {
		e, err := htmlindex.Get(cs)
		if err != nil {
			return nil, err
		}
		return transform.NewReader(r, e.NewDecoder()), nil
	}}
	if w, err := d.DecodeHeader(s); err == nil {
		v.WriteString(w + "\n")
	}
}

// viewBody reads a body (or a part) as its headers say.
func viewBody(t *testing.T, v *strings.Builder, h textproto.MIMEHeader, body []byte, depth int) {
	if depth > 8 {
		return
	}
	for k, vs := range h {
		for _, s := range vs {
			viewHeader(v, k, s)
		}
	}
	codings := strings.Split(strings.Join(h.Values("Content-Encoding"), ","), ",")
	for i := len(codings) - 1; i >= 0; i-- {
		var r io.Reader
		switch strings.TrimSpace(strings.ToLower(codings[i])) {
		case "gzip", "x-gzip":
			r, _ = gzip.NewReader(bytes.NewReader(body))
		case "deflate":
			if zr, err := zlib.NewReader(bytes.NewReader(body)); err == nil {
				r = zr
			} else {
				r = flate.NewReader(bytes.NewReader(body))
			}
		case "br":
			r = brotli.NewReader(bytes.NewReader(body))
		}
		if r != nil {
			if d, err := io.ReadAll(r); err == nil || len(d) > 0 {
				body = d
			}
		}
	}
	switch strings.ToLower(strings.TrimSpace(h.Get("Content-Transfer-Encoding"))) {
	case "base64":
		if d, err := base64.StdEncoding.DecodeString(strings.NewReplacer("\r", "", "\n", "").Replace(string(body))); err == nil {
			body = d
		}
	case "quoted-printable":
		if d, err := io.ReadAll(quotedprintable.NewReader(bytes.NewReader(body))); err == nil {
			body = d
		}
	}
	mt, params, _ := mime.ParseMediaType(h.Get("Content-Type"))
	if strings.HasPrefix(mt, "multipart/") {
		mr := multipart.NewReader(bytes.NewReader(body), params["boundary"])
		for {
			p, err := mr.NextRawPart()
			if err != nil {
				break
			}
			b, _ := io.ReadAll(p)
			viewBody(t, v, p.Header, b, depth+1)
		}
		return
	}
	text := string(body)
	enc := encoding.Encoding(nil)
	if cs := params["charset"]; cs != "" {
		enc, _ = htmlindex.Get(cs)
		if strings.EqualFold(cs, "utf-16") {
			enc = unicode.UTF16(unicode.BigEndian, unicode.UseBOM)
		}
	} else if bytes.HasPrefix(body, []byte{0xfe, 0xff}) || bytes.HasPrefix(body, []byte{0xff, 0xfe}) {
		enc = unicode.UTF16(unicode.BigEndian, unicode.UseBOM)
	}
	if enc != nil {
		if d, err := enc.NewDecoder().Bytes(body); err == nil {
			text = string(d)
		}
	}
	// Undeclared text a server might read as windows-1252, too.
	if d, err := charmap.Windows1252.NewDecoder().String(string(body)); err == nil {
		v.WriteString(d + "\n")
	}
	v.WriteString(text + "\n")
	viewPercent(v, text)
	viewQuery(v, text)
	var j any
	dec := json.NewDecoder(strings.NewReader(text))
	for dec.Decode(&j) == nil {
		viewJSON(v, j)
	}
}

func viewJSON(v *strings.Builder, j any) {
	switch j := j.(type) {
	case string:
		v.WriteString(j + "\n")
	case []any:
		for _, e := range j {
			viewJSON(v, e)
		}
	case map[string]any:
		for k, e := range j {
			v.WriteString(k + "\n")
			viewJSON(v, e)
		}
	}
}

// TestSideDoorServerView checks the oracle: serverView of each request as
// the client sends it finds the personnummer, so that its absence
// upstream means the gateway replaced it, not that serverView missed an
// encoding.
func TestSideDoorServerView(t *testing.T) {
	for _, tc := range sideDoorCases {
		if tc.request == nil || tc.refused != 0 {
			continue
		}
		for _, pnr := range sideDoorPnrs {
			req, err := tc.request("https://example.com/sidedoor/0", pnr)
			if err != nil {
				t.Fatal(err)
			}
			if req.Body == nil {
				req.Body = http.NoBody
			}
			v := serverView(t, req)
			if !strings.Contains(v, pnr) && !strings.Contains(v, strings.ReplaceAll(pnr, "-", "")) {
				t.Errorf("%s: serverView does not find the personnummer in what the client sends", tc.name)
			}
			if !strings.Contains(v, "Tolvan") && !strings.Contains(tc.name, "boundary") {
				t.Errorf("%s: serverView does not find the name in what the client sends", tc.name)
			}
		}
	}
}

// TestReidentifyResponseHeaders: tokens in response headers (an upstream
// that echoes what it stored) come back as the originals for a user with
// the reidentify right, escaped as each header needs, and stay tokens for
// others; ETags keep their tokens for everyone.
func TestReidentifyResponseHeaders(t *testing.T) {
	c := newCloud(t)
	cfg := storageConfig(c, "form")
	cfg.UsersFile = writeUsers(t, map[string]string{"alice": "a-pass", "bob": "b-pass"})
	cfg.Groups = []GroupConfig{{Name: "registry", Members: []string{"alice"}, Rights: []string{"reidentify"}}}
	h := newHarness(t, cfg)
	var upstream atomic.Value
	c.mux.HandleFunc("/echo", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		pnr, namn := q.Get("pnr"), q.Get("namn")
		upstream.Store(pnr + " " + namn + " " + r.Header.Get("Cookie"))
		w.Header().Set("Location", "/patienter/"+pnr+"/"+namn)
		w.Header().Set("Content-Location", "/filer/"+pnr+".pdf?namn="+namn+"#"+pnr)
		w.Header().Add("Set-Cookie", "namn="+namn+"; Path=/patienter/"+pnr+"; HttpOnly")
		w.Header().Add("Set-Cookie", "sid=abc; Secure")
		w.Header().Set("Content-Disposition", "attachment; filename="+pnr+".pdf")
		w.Header().Set("X-Patient", pnr+" "+namn)
		w.Header().Set("Etag", `"`+pnr+`"`)
		w.Header().Set("Link", "</patienter/"+pnr+">; rel=self")
		w.WriteHeader(http.StatusCreated)
	})
	get := func(user, pass string) http.Header {
		t.Helper()
		req, _ := http.NewRequest("POST", c.URL()+"/echo?pnr=19121212-1212&namn=Tolvan+Tolvansson", nil)
		req.Header.Set("Cookie", "namn=Tolvan%20Tolvansson")
		resp, err := h.client(user, pass).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusCreated {
			t.Fatalf("%s: status %d", user, resp.StatusCode)
		}
		return resp.Header
	}
	ah := get("alice", "a-pass")
	up, _ := upstream.Load().(string)
	checkNoPersonalValues(t, "what the upstream got", up)
	if len(tokenRE.FindAllString(up, -1)) != 3 {
		t.Errorf("the upstream did not get tokens")
	}
	for k, want := range map[string]string{
		"Location":         "/patienter/19121212-1212/Tolvan%20Tolvansson",
		"Content-Location": "/filer/19121212-1212.pdf?namn=Tolvan+Tolvansson#19121212-1212",
		"X-Patient":        "19121212-1212 Tolvan Tolvansson",
		"Link":             "</patienter/19121212-1212>; rel=self",
	} {
		if got := ah.Get(k); got != want {
			t.Errorf("alice's %s not re-identified (%d bytes)", k, len(got))
		}
	}
	if got := ah.Values("Set-Cookie"); len(got) != 2 || got[0] != "namn=Tolvan%20Tolvansson; Path=/patienter/19121212-1212; HttpOnly" || got[1] != "sid=abc; Secure" {
		t.Errorf("alice's Set-Cookie not re-identified")
	}
	if _, params, err := mime.ParseMediaType(ah.Get("Content-Disposition")); err != nil || params["filename"] != "19121212-1212.pdf" {
		t.Errorf("alice's Content-Disposition not re-identified")
	}
	if !tokenRE.MatchString(ah.Get("Etag")) {
		t.Errorf("alice's ETag lost its token")
	}
	if !h.auditHas(t, `"user":"alice"`, `"reidentified_personnummer":`) {
		t.Errorf("audit lacks alice's re-identification:\n%s", h.audit.String())
	}

	bh := get("bob", "b-pass")
	for k, vs := range bh {
		for _, v := range vs {
			checkNoPersonalValues(t, "bob's "+k, v)
		}
	}
	for _, k := range []string{"Location", "Content-Location", "Set-Cookie", "Content-Disposition", "X-Patient", "Etag", "Link"} {
		if !tokenRE.MatchString(bh.Get(k)) {
			t.Errorf("bob's %s has no token", k)
		}
	}
}

// TestSideDoorsStreamed: bodies past wholeBodyLimit stream through the
// same decoding, and a body that decodes past max_decoded_bytes midway
// is refused with 413 and never completes upstream.
func TestSideDoorsStreamed(t *testing.T) {
	c := newCloud(t)
	cfg := storageConfig(c, "form")
	cfg.Limits.MaxDecodedBytes = 6 << 20
	h := newHarness(t, cfg)
	var mu sync.Mutex
	var views []string
	c.mux.HandleFunc("/big/", func(w http.ResponseWriter, r *http.Request) {
		v := serverView(t, r)
		mu.Lock()
		views = append(views, v)
		mu.Unlock()
		io.WriteString(w, "ok")
	})
	var fb strings.Builder
	for i := 0; fb.Len() < 2<<20; i++ {
		fmt.Fprintf(&fb, "Rad %d: ett stycke text utan personuppgifter, %d kronor för %x.\n", i, i*7919%10007, i*31)
	}
	filler := fb.String()
	pnr := sideDoorPnrs[0]
	text := filler + sideDoorPayload(pnr) + "\n" + filler + sideDoorPayload(pnr) + "\n"
	b64 := base64.StdEncoding.EncodeToString([]byte(text))
	for _, tc := range []struct {
		name   string
		req    func() (*http.Request, error)
		status int
	}{
		{"utf-16", func() (*http.Request, error) {
			return newReq("POST", c.URL()+"/big/1", "text/plain; charset=utf-16", encodeIn(unicode.UTF16(unicode.LittleEndian, unicode.UseBOM), text))
		}, 200},
		{"latin-1 gzip", func() (*http.Request, error) {
			return newReq("POST", c.URL()+"/big/2", "text/plain; charset=iso-8859-1", compress("gzip", encodeIn(charmap.ISO8859_1, text)), "Content-Encoding", "gzip")
		}, 200},
		{"multipart base64", func() (*http.Request, error) {
			var lines strings.Builder
			for i := 0; i < len(b64); i += 76 {
				lines.WriteString(b64[i:min(i+76, len(b64))] + "\r\n")
			}
			return formPost(c.URL()+"/big/3", rawPart{hdr("Content-Disposition", `form-data; name="anteckning"`, "Content-Transfer-Encoding", "base64"), []byte(lines.String())})
		}, 200},
		{"past max_decoded_bytes", func() (*http.Request, error) {
			return newReq("POST", c.URL()+"/big/4", "text/plain", compress("br", []byte(text+text)), "Content-Encoding", "br")
		}, 413},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mu.Lock()
			before := len(views)
			mu.Unlock()
			req, err := tc.req()
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Accept", "application/json")
			resp, err := h.client("", "").Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d: %.200s", resp.StatusCode, tc.status, body)
			}
			if tc.status == 413 && !strings.Contains(string(body), "max_decoded_bytes") {
				t.Errorf("refused for another reason: %.200s", body)
			}
			mu.Lock()
			defer mu.Unlock()
			for _, v := range views[before:] {
				for j, f := range sideDoorForbidden(pnr) {
					if strings.Contains(v, f) {
						t.Errorf("the upstream holds forbidden value %d", j)
					}
				}
				if tc.status == 200 && (len(tokenRE.FindAllString(v, -1)) < 2 || strings.Contains(v, bodyCut)) {
					t.Errorf("the upstream got no tokens, or a cut body")
				}
			}
			if tc.status == 200 && len(views) != before+1 {
				t.Errorf("upstream got %d requests", len(views)-before)
			}
		})
	}
}

// TestReidentifyCharsets: a response in UTF-16 or a Latin charset has its
// tokens re-identified in that charset; an original the charset cannot
// hold becomes a character reference in HTML.
func TestReidentifyCharsets(t *testing.T) {
	c := newCloud(t)
	h := newHarness(t, storageConfig(c, "form"))
	var mu sync.Mutex
	var stored string
	c.mux.HandleFunc("POST /store", func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		stored = string(b)
		mu.Unlock()
	})
	c.mux.HandleFunc("GET /doc", func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		s := stored
		mu.Unlock()
		cs := r.URL.Query().Get("cs")
		enc, _ := htmlindex.Get(cs)
		if cs == "utf-16" {
			enc = unicode.UTF16(unicode.LittleEndian, unicode.UseBOM)
		}
		w.Header().Set("Content-Type", r.URL.Query().Get("type")+"; charset="+cs)
		w.Write(encodeIn(enc, s))
	})
	cl := h.client("", "")
	const text = "Björn Ängström 19121212-1212 och Łukasz Żółć 121212-1212"
	resp, err := cl.Post(c.URL()+"/store", "text/plain; charset=utf-8", strings.NewReader(text))
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("store: %v %v", err, resp)
	}
	resp.Body.Close()
	checkNoPersonalValues(t, "stored", stored)
	for _, tc := range []struct{ cs, typ, want string }{
		{"utf-16", "text/plain", text},
		{"iso-8859-1", "text/plain", "Björn Ängström 19121212-1212"},
		{"windows-1252", "text/html", "Björn Ängström 19121212-1212"},
		{"iso-8859-15", "text/csv", "Björn Ängström 19121212-1212"},
	} {
		resp, err := cl.Get(c.URL() + "/doc?cs=" + tc.cs + "&type=" + tc.typ)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		enc, _ := htmlindex.Get(tc.cs)
		if tc.cs == "utf-16" {
			enc = unicode.UTF16(unicode.BigEndian, unicode.UseBOM)
		}
		got, err := enc.NewDecoder().String(string(b))
		if err != nil || !strings.HasPrefix(got, tc.want) || tokenRE.MatchString(got) {
			t.Errorf("%s: not re-identified in its charset", tc.cs)
		}
		if tc.typ == "text/html" && !strings.Contains(got, "&#321;ukasz") {
			t.Errorf("%s: an original outside the charset is not a character reference", tc.cs)
		}
	}
}

// TestStorageMetadataBodies: on storage and webdav services, bodies of
// requests that are not encrypted (a WebDAV PROPPATCH with a display name,
// a LOCK naming its owner, a body on DELETE) leave pseudonymized, or are
// refused when the gateway cannot read them; never as they came.
func TestStorageMetadataBodies(t *testing.T) {
	c := newCloud(t)
	var mu sync.Mutex
	var got []string
	var hits atomic.Int64
	for _, m := range []string{"PROPPATCH", "LOCK", "DELETE"} {
		c.mux.HandleFunc(m+" /meta/", func(w http.ResponseWriter, r *http.Request) {
			hits.Add(1)
			v := serverView(t, r)
			mu.Lock()
			got = append(got, v)
			mu.Unlock()
			w.WriteHeader(http.StatusMultiStatus)
		})
	}
	pnr := "19121212-1212"
	for _, profile := range []string{"webdav", "storage"} {
		h := newHarness(t, storageConfig(c, profile))
		cl := h.client("", "")
		for _, tc := range []struct {
			method, ctype, body string
			refused             int
		}{
			{"PROPPATCH", "application/xml", `<?xml version="1.0"?><D:propertyupdate xmlns:D="DAV:"><D:set><D:prop><D:displayname>Journal ` + sideDoorPayload(pnr) + `</D:displayname></D:prop></D:set></D:propertyupdate>`, 0},
			{"LOCK", "text/xml; charset=utf-8", `<?xml version="1.0"?><D:lockinfo xmlns:D="DAV:"><D:owner>` + sideDoorPayload(pnr) + `</D:owner></D:lockinfo>`, 0},
			{"DELETE", "", sideDoorPayload(pnr), 0},
			{"DELETE", "application/octet-stream", sideDoorPayload(pnr), http.StatusUnsupportedMediaType},
		} {
			if profile == "storage" && tc.method != "DELETE" {
				continue
			}
			before := hits.Load()
			req, _ := http.NewRequest(tc.method, c.URL()+"/meta/x", strings.NewReader(tc.body))
			if tc.ctype != "" {
				req.Header.Set("Content-Type", tc.ctype)
			}
			resp, err := cl.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			sent := hits.Load() - before
			if tc.refused != 0 {
				if resp.StatusCode != tc.refused || sent != 0 {
					t.Errorf("%s %s %s: %d with %d upstream requests, want %d and nothing sent", profile, tc.method, tc.ctype, resp.StatusCode, sent, tc.refused)
				}
				continue
			}
			if resp.StatusCode != http.StatusMultiStatus || sent != 1 {
				t.Fatalf("%s %s: %d with %d upstream requests, want it sent", profile, tc.method, resp.StatusCode, sent)
			}
			mu.Lock()
			v := got[len(got)-1]
			mu.Unlock()
			for j, f := range sideDoorForbidden(pnr) {
				if strings.Contains(v, f) {
					t.Errorf("%s %s: the upstream holds forbidden value %d", profile, tc.method, j)
				}
			}
			if !tokenRE.MatchString(v) {
				t.Errorf("%s %s: no token upstream", profile, tc.method)
			}
		}
		if !h.auditHas(t, `"method":"PROPPATCH"`) && profile == "webdav" {
			t.Error("the audit log did not see the PROPPATCH")
		}
	}
}
