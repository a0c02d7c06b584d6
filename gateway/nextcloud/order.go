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
	mu   sync.Mutex
	done map[string]*orderGate
}

type orderGate struct {
	seq     int           // the highest chunk appended here
	changed chan struct{} // closed and replaced when seq grows
	users   int
}

// localWait is how long a chunk waits here for its predecessor before it
// leaves the waiting to the engine (the predecessor may be elsewhere).
const localWait = 30 * time.Second

// wait returns when chunk seq-1 of the upload at key was appended on
// this gateway, after localWait, or when ctx ends. release must be
// called when the chunk is done.
func (o *chunkOrder) wait(ctx context.Context, key string, seq int) (release func(appended bool)) {
	o.mu.Lock()
	if o.done == nil {
		o.done = map[string]*orderGate{}
	}
	g := o.done[key]
	if g == nil {
		g = &orderGate{changed: make(chan struct{})}
		o.done[key] = g
	}
	g.users++
	o.mu.Unlock()
	timer := time.NewTimer(localWait)
	defer timer.Stop()
	for {
		o.mu.Lock()
		ready, changed := seq <= 1 || g.seq >= seq-1, g.changed
		o.mu.Unlock()
		if ready {
			break
		}
		select {
		case <-changed:
		case <-timer.C:
			ready = true
		case <-ctx.Done():
			ready = true
		}
		if ready {
			break
		}
	}
	return func(appended bool) {
		o.mu.Lock()
		defer o.mu.Unlock()
		if appended && seq > g.seq {
			g.seq = seq
			close(g.changed)
			g.changed = make(chan struct{})
		}
		if g.users--; g.users == 0 {
			delete(o.done, key)
		}
	}
}
