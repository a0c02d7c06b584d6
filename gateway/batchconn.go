package gateway

import (
	"context"
	"crypto/tls"
	"net"
	"sync"
)

// batchConn is the TCP connection under a tls.Conn. crypto/tls writes each
// record (at most 16 KiB of data) with its own write, so forwarding 64 KiB
// cost four syscalls and four TCP sends, on loopback four wake-ups of the
// receiver. Between begin and end, batchConn collects the records and
// sends them with one write. Records written meanwhile from elsewhere (an
// alert from the reading side) join the batch, in order.
type batchConn struct {
	net.Conn
	pool *recordPool // for the batch buffer, held only during a batch

	mu       sync.Mutex
	batching bool
	buf      []byte
	err      error // the first write error: the TLS stream is broken after it
}

func (c *batchConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err != nil {
		return 0, c.err
	}
	if c.batching {
		if c.buf == nil {
			c.buf = c.pool.get()
		}
		c.buf = append(c.buf, p...)
		return len(p), nil
	}
	n, err := c.Conn.Write(p)
	c.err = err
	return n, err
}

func (c *batchConn) begin() {
	c.mu.Lock()
	c.batching = true
	c.mu.Unlock()
}

// end sends the batch and returns the connection's write error, if any.
func (c *batchConn) end() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.batching = false
	if c.buf != nil {
		if c.err == nil {
			_, c.err = c.Conn.Write(c.buf)
		}
		c.pool.put(c.buf)
		c.buf = nil
	}
	return c.err
}

// recordPool holds batch buffers: room for 64 KiB of data in full records
// (a ReverseProxy buffer, an age chunk) with their headers and tags.
type recordPool struct{ p sync.Pool }

const (
	recordBatchSize = 64<<10 + 1<<10
	maxPooledBatch  = 256 << 10 // larger batches are left to the GC
)

func (r *recordPool) get() []byte {
	if b, ok := r.p.Get().(*[]byte); ok {
		return (*b)[:0]
	}
	return make([]byte, 0, recordBatchSize)
}

func (r *recordPool) put(b []byte) {
	if cap(b) <= maxPooledBatch {
		r.p.Put(&b)
	}
}

// batchedTLS is a TLS connection that sends each Write in one write call.
type batchedTLS struct {
	*tls.Conn
	raw *batchConn
}

func newBatchedTLS(raw net.Conn, pool *recordPool, wrap func(net.Conn) *tls.Conn) *batchedTLS {
	bc := &batchConn{Conn: raw, pool: pool}
	return &batchedTLS{Conn: wrap(bc), raw: bc}
}

func (c *batchedTLS) Write(p []byte) (int, error) {
	c.raw.begin()
	n, err := c.Conn.Write(p)
	if werr := c.raw.end(); werr != nil && err == nil {
		// The records were encrypted but not (all) sent.
		return 0, werr
	}
	return n, err
}

// dialTLS connects to an upstream for the transport: the TLS client the
// transport would make itself (its TLSClientConfig, handshake timeout and
// server name from the address), over a batchConn.
func (g *Gateway) dialTLS(ctx context.Context, network, addr string) (net.Conn, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	raw, err := g.dialChecked(ctx, network, addr, true)
	if err != nil {
		return nil, err
	}
	conf := g.transport.TLSClientConfig.Clone()
	conf.ServerName = host
	c := newBatchedTLS(raw, g.records, func(bc net.Conn) *tls.Conn { return tls.Client(bc, conf) })
	if t := g.transport.TLSHandshakeTimeout; t > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, t)
		defer cancel()
	}
	if err := c.HandshakeContext(ctx); err != nil {
		raw.Close()
		return nil, err
	}
	return c, nil
}
