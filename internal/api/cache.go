package api

import (
	"sync"
	"time"
)

// maxCacheEntries bounds a cache; a full cache is emptied and refills.
const maxCacheEntries = 10000

// cache keeps recent lookups (tokens, apps, event types) for the hot path, each until
// its own expiry. It is safe for concurrent use.
type cache[K comparable, V any] struct {
	mu sync.Mutex
	m  map[K]cacheEntry[V]
}

type cacheEntry[V any] struct {
	v       V
	expires time.Time
}

func newCache[K comparable, V any]() *cache[K, V] {
	return &cache[K, V]{m: make(map[K]cacheEntry[V])}
}

func (c *cache[K, V]) get(k K, now time.Time) (V, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[k]
	if !ok || !now.Before(e.expires) {
		var zero V
		return zero, false
	}
	return e.v, true
}

func (c *cache[K, V]) put(k K, v V, expires time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.m) >= maxCacheEntries {
		clear(c.m)
	}
	c.m[k] = cacheEntry[V]{v: v, expires: expires}
}

// drop forgets the entry of k.
func (c *cache[K, V]) drop(k K) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.m, k)
}

// dropIf forgets every entry whose value matches.
func (c *cache[K, V]) dropIf(match func(V) bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for k, e := range c.m {
		if match(e.v) {
			delete(c.m, k)
		}
	}
}
