package gateway

import (
	"fmt"
	"io"
	"net/http"
	"sync"
)

// upstreamReaderAt reads a stored object by HTTP Range requests. It serves
// the probed prefix from memory, and reads sequentially from one open
// response as long as the reads follow each other, so decrypting a range
// costs one request for the final chunk (which authenticates the size) and
// one streaming request for the chunks covering the range.
type upstreamReaderAt struct {
	req    *http.Request // the client's request, cloned for each range
	next   http.RoundTripper
	prefix []byte // bytes [0, len(prefix)) of the object
	size   int64
	// [winFrom, winTo] is the span the caller will read in order; a read
	// that starts in it fetches up to winTo in one request.
	winFrom, winTo int64

	mu       sync.Mutex
	body     io.ReadCloser
	pos, end int64 // next offset body yields, and its last offset
}

func (u *upstreamReaderAt) ReadAt(p []byte, off int64) (int, error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	n := 0
	for n < len(p) {
		o := off + int64(n)
		if o < int64(len(u.prefix)) {
			n += copy(p[n:], u.prefix[o:])
			continue
		}
		if o >= u.size {
			return n, io.EOF
		}
		if u.body == nil || u.pos != o {
			end := o + int64(len(p)-n) - 1
			if o >= u.winFrom && o <= u.winTo {
				end = max(end, u.winTo)
			}
			if err := u.open(o, min(end, u.size-1)); err != nil {
				return n, err
			}
		}
		want := min(int64(len(p)-n), u.end-u.pos+1)
		c, err := io.ReadFull(u.body, p[n:n+int(want)])
		n += c
		u.pos += int64(c)
		if err != nil {
			u.closeBody()
			return n, fmt.Errorf("failed to read stored object: %w", err)
		}
		if u.pos > u.end {
			u.closeBody()
		}
	}
	return n, nil
}

func (u *upstreamReaderAt) open(from, to int64) error {
	u.closeBody()
	r := u.req.Clone(u.req.Context())
	r.Method = http.MethodGet
	r.Body, r.ContentLength = nil, 0
	r.Header.Set("Range", fmt.Sprintf("bytes=%d-%d", from, to))
	r.Header.Del("If-Range")
	resp, err := u.next.RoundTrip(r)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusPartialContent {
		resp.Body.Close()
		return fmt.Errorf("provider answered a range request with %s", resp.Status)
	}
	var a, b, total int64
	if _, err := fmt.Sscanf(resp.Header.Get("Content-Range"), "bytes %d-%d/%d", &a, &b, &total); err != nil || a != from || b > to || total != u.size {
		resp.Body.Close()
		return fmt.Errorf("provider answered a range request with an unexpected Content-Range")
	}
	u.body, u.pos, u.end = resp.Body, from, b
	return nil
}

func (u *upstreamReaderAt) closeBody() {
	if u.body != nil {
		u.body.Close()
		u.body = nil
	}
}

func (u *upstreamReaderAt) Close() error {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.closeBody()
	return nil
}
