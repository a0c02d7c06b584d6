package postgres

import "sync"

// tokenCache remembers originals by token, at most size of them: two
// generations of maps, the older dropped whole when the newer fills, and a
// hit in the older promoted. Tokens never change their original, so an
// entry never goes stale.
type tokenCache struct {
	mu       sync.Mutex
	half     int
	cur, old map[string][]byte
}

func newTokenCache(size int) *tokenCache {
	if size <= 0 {
		return nil
	}
	half := max(size/2, 1)
	return &tokenCache{half: half, cur: make(map[string][]byte), old: make(map[string][]byte)}
}

// get returns the cached original of token; the caller must not modify it.
func (c *tokenCache) get(token string) ([]byte, bool) {
	if c == nil {
		return nil, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if v, ok := c.cur[token]; ok {
		return v, true
	}
	v, ok := c.old[token]
	if ok {
		c.addLocked(token, v)
	}
	return v, ok
}

// add remembers value (which the cache now owns) for token.
func (c *tokenCache) add(token string, value []byte) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.addLocked(token, value)
}

func (c *tokenCache) addLocked(token string, value []byte) {
	if len(c.cur) >= c.half {
		c.old, c.cur = c.cur, make(map[string][]byte, c.half)
	}
	c.cur[token] = value
}

func (c *tokenCache) reset() {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	clear(c.cur)
	clear(c.old)
}

func (c *tokenCache) len() int {
	if c == nil {
		return 0
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.cur) + len(c.old)
}
