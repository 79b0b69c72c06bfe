package service

import (
	"sync"
	"time"
)

// maxCacheEntries bounds a cache; a full cache is emptied and refills.
const maxCacheEntries = 10000

// Cache keeps recent lookups (tokens, apps, event types, compiled schemas)
// for the hot paths, each until its own expiry. It is safe for concurrent
// use.
type Cache[K comparable, V any] struct {
	mu sync.Mutex
	m  map[K]cacheEntry[V]
}

type cacheEntry[V any] struct {
	v       V
	expires time.Time
}

// NewCache returns an empty cache.
func NewCache[K comparable, V any]() *Cache[K, V] {
	return &Cache[K, V]{m: make(map[K]cacheEntry[V])}
}

// Get returns the value of k, unless it expired by now.
func (c *Cache[K, V]) Get(k K, now time.Time) (V, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[k]
	if !ok || !now.Before(e.expires) {
		var zero V
		return zero, false
	}
	return e.v, true
}

// Put keeps v for k until expires.
func (c *Cache[K, V]) Put(k K, v V, expires time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.m) >= maxCacheEntries {
		clear(c.m)
	}
	c.m[k] = cacheEntry[V]{v: v, expires: expires}
}

// Drop forgets the entry of k.
func (c *Cache[K, V]) Drop(k K) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.m, k)
}

// DropIf forgets every entry whose value matches.
func (c *Cache[K, V]) DropIf(match func(V) bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for k, e := range c.m {
		if match(e.v) {
			delete(c.m, k)
		}
	}
}
