package gateway

import (
	"encoding/json"
	"fmt"
	"html"
	"io"
	"net/http"
	"strings"
)

// writeRefusal answers a refused request: JSON for clients that ask for
// JSON, a short HTML page for browsers. host and reason are ours (a policy
// host name and our own wording), never request content.
func writeRefusal(w http.ResponseWriter, r *http.Request, status int, title, reason, id string) {
	h := w.Header()
	h.Set("X-Sluss-Request-Id", id)
	h.Set("Cache-Control", "no-store")
	if wantsJSON(r) {
		h.Set("Content-Type", "application/json")
		w.WriteHeader(status)
		json.NewEncoder(w).Encode(struct {
			Error     string `json:"error"`
			Reason    string `json:"reason"`
			Status    int    `json:"status"`
			RequestID string `json:"request_id"`
		}{title, reason, status, id})
		return
	}
	h.Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	fmt.Fprintf(w, `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>%[1]s</title>
<style>body{font-family:system-ui,sans-serif;max-width:40em;margin:4em auto;padding:0 1em;color:#222}code{background:#eee;padding:0 .2em}</style>
</head><body>
<h1>%[1]s</h1>
<p>%[2]s</p>
<p>If you need this, contact your IT service desk and quote request ID <code>%[3]s</code>.</p>
<p><small>sluss, the region's cloud gateway · %[4]d %[5]s</small></p>
</body></html>
`, html.EscapeString(title), html.EscapeString(reason), id, status, http.StatusText(status))
}

func wantsJSON(r *http.Request) bool {
	a := r.Header.Get("Accept")
	return strings.Contains(a, "application/json") && !strings.Contains(a, "text/html")
}

// connectRefusal is the response to a refused CONNECT: plain text, since
// browsers do not show it anyway.
func connectRefusal(r *http.Request, status int, reason, id string) *http.Response {
	body := fmt.Sprintf("%d %s: %s (request ID %s)\n", status, http.StatusText(status), reason, id)
	resp := &http.Response{
		StatusCode:    status,
		ProtoMajor:    1,
		ProtoMinor:    1,
		Request:       r,
		Header:        http.Header{"Content-Type": {"text/plain; charset=utf-8"}, "X-Sluss-Request-Id": {id}, "Connection": {"close"}},
		ContentLength: int64(len(body)),
		Body:          nopReadCloser{strings.NewReader(body)},
	}
	return resp
}

// writeConnectRefusal answers a hijacked CONNECT whose upstream could not
// be had, in the form connectRefusal has.
func writeConnectRefusal(c io.Writer, status int, reason, id string) {
	resp := connectRefusal(nil, status, reason, id)
	resp.Write(c)
}

type nopReadCloser struct{ *strings.Reader }

func (nopReadCloser) Close() error { return nil }
