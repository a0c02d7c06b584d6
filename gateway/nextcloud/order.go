package nextcloud

import (
	"context"
	"sync"
	"time"
)

// chunkOrder lets a chunk that waits for its predecessor start the
// moment the predecessor is appended on this gateway, instead of when the
// engine next looks (it polls the shared state, backing off to half a
// second, since the predecessor may be at another gateway). It only
// hurries: the engine still decides the order.
type chunkOrder struct {
	mu    sync.Mutex
	gates map[string]*orderGate
}

type orderGate struct {
	seq     int           // the highest chunk known appended
	changed chan struct{} // closed and replaced when seq grows
	used    time.Time
}

const (
	// localWait is how long a chunk waits here for its predecessor
	// before it leaves the waiting to the engine (the predecessor may be
	// at another gateway).
	localWait = 30 * time.Second
	// gateIdle is how long the gate of an upload no chunk has used is
	// kept (an upload ends with MOVE or DELETE, which forget it; this is
	// for those abandoned).
	gateIdle = time.Hour
)

// wait returns when chunk seq-1 of the upload at key was appended (on
// this gateway, or before: appended is the highest chunk the upload
// state held when the chunk arrived), after localWait, or when ctx ends.
// done must be called when the chunk has been appended.
func (o *chunkOrder) wait(ctx context.Context, key string, seq, appended int) (done func()) {
	now := time.Now()
	o.mu.Lock()
	if o.gates == nil {
		o.gates = map[string]*orderGate{}
	}
	for k, g := range o.gates {
		if now.Sub(g.used) > gateIdle {
			delete(o.gates, k)
		}
	}
	g := o.gates[key]
	if g == nil {
		g = &orderGate{changed: make(chan struct{})}
		o.gates[key] = g
	}
	g.used = now
	o.raise(g, appended)
	o.mu.Unlock()
	timer := time.NewTimer(localWait)
	defer timer.Stop()
	for waiting := true; waiting; {
		o.mu.Lock()
		ready, changed := g.seq >= seq-1, g.changed
		o.mu.Unlock()
		if ready {
			break
		}
		select {
		case <-changed:
		case <-timer.C:
			waiting = false
		case <-ctx.Done():
			waiting = false
		}
	}
	return func() {
		o.mu.Lock()
		o.raise(g, seq)
		g.used = time.Now()
		o.mu.Unlock()
	}
}

// raise records that chunk seq is appended; o.mu is held.
func (o *chunkOrder) raise(g *orderGate, seq int) {
	if seq > g.seq {
		g.seq = seq
		close(g.changed)
		g.changed = make(chan struct{})
	}
}

// forget drops the gate of an upload that ended.
func (o *chunkOrder) forget(key string) {
	o.mu.Lock()
	delete(o.gates, key)
	o.mu.Unlock()
}
