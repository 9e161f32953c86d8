package sst

import (
	"sync"
)

// Cache is a byte-bounded LRU of decoded data blocks, shared by any number
// of Readers and safe for concurrent use. Entries are keyed by (CacheID,
// block offset), so Readers sharing a Cache must use distinct CacheIDs. A
// nil *Cache caches nothing.
//
// The Cache is split into shards, each with its own lock and an equal share
// of the capacity, so that concurrent readers rarely contend. A block larger
// than a shard's share is not cached.
type Cache struct {
	shards []cacheShard
}

// CacheStats is a snapshot of a Cache's counters.
type CacheStats struct {
	Hits, Misses int64
	Bytes        int64 // sum of cached block sizes
	Entries      int64
	Evictions    int64
}

// shardTarget is the capacity per shard below which adding shards would
// leave each too small to hold a useful number of blocks.
const (
	shardTarget = 4 << 20
	maxShards   = 16
)

// NewCache returns a Cache holding at most capacityBytes of block data.
func NewCache(capacityBytes int64) *Cache {
	capacityBytes = max(capacityBytes, 0)
	n := int(min(max(capacityBytes/shardTarget, 1), maxShards))
	c := &Cache{shards: make([]cacheShard, n)}
	for i := range c.shards {
		s := &c.shards[i]
		s.capacity = capacityBytes / int64(n)
		s.m = make(map[cacheKey]*cacheEntry)
		s.head.prev, s.head.next = &s.head, &s.head
	}
	return c
}

// Stats returns the current counters. It is consistent per shard, not
// across shards.
func (c *Cache) Stats() CacheStats {
	var st CacheStats
	if c == nil {
		return st
	}
	for i := range c.shards {
		s := &c.shards[i]
		s.mu.Lock()
		st.Hits += s.hits
		st.Misses += s.misses
		st.Bytes += s.size
		st.Entries += int64(len(s.m))
		st.Evictions += s.evictions
		s.mu.Unlock()
	}
	return st
}

type cacheKey struct {
	id, offset uint64
}

func (c *Cache) shard(k cacheKey) *cacheShard {
	// A multiplicative mix spreads consecutive offsets and ids over shards.
	h := (k.id*0x9e3779b97f4a7c15 ^ k.offset) * 0xbf58476d1ce4e5b9
	return &c.shards[(h>>32)%uint64(len(c.shards))]
}

// get returns the cached block, which the caller must not modify.
func (c *Cache) get(id, offset uint64) ([]byte, bool) {
	if c == nil {
		return nil, false
	}
	k := cacheKey{id, offset}
	return c.shard(k).get(k)
}

// has reports whether a block is cached, without counting a hit or a miss
// or refreshing its recency: readahead uses it to avoid fetching blocks it
// already has.
func (c *Cache) has(id, offset uint64) bool {
	if c == nil {
		return false
	}
	k := cacheKey{id, offset}
	s := c.shard(k)
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.m[k]
	return ok
}

// set inserts a block, which must not be modified afterwards. A concurrent
// miss may already have inserted the same block; the newer copy replaces it.
func (c *Cache) set(id, offset uint64, val []byte) {
	if c == nil {
		return
	}
	k := cacheKey{id, offset}
	c.shard(k).set(k, val)
}

type cacheEntry struct {
	key        cacheKey
	val        []byte
	prev, next *cacheEntry
}

// cacheShard is an LRU list (head.next is the most recent) plus a map.
type cacheShard struct {
	mu        sync.Mutex
	capacity  int64
	size      int64
	m         map[cacheKey]*cacheEntry
	head      cacheEntry
	hits      int64
	misses    int64
	evictions int64
}

func (s *cacheShard) get(k cacheKey) ([]byte, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.m[k]
	if !ok {
		s.misses++
		return nil, false
	}
	s.hits++
	s.unlink(e)
	s.pushFront(e)
	return e.val, true
}

func (s *cacheShard) set(k cacheKey, val []byte) {
	n := int64(len(val))
	if n > s.capacity {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if e, ok := s.m[k]; ok {
		s.size += n - int64(len(e.val))
		e.val = val
		s.unlink(e)
		s.pushFront(e)
	} else {
		e := &cacheEntry{key: k, val: val}
		s.m[k] = e
		s.size += n
		s.pushFront(e)
	}
	for s.size > s.capacity {
		e := s.head.prev
		s.unlink(e)
		delete(s.m, e.key)
		s.size -= int64(len(e.val))
		s.evictions++
	}
}

func (s *cacheShard) unlink(e *cacheEntry) {
	e.prev.next = e.next
	e.next.prev = e.prev
	e.prev, e.next = nil, nil
}

func (s *cacheShard) pushFront(e *cacheEntry) {
	e.prev = &s.head
	e.next = s.head.next
	s.head.next.prev = e
	s.head.next = e
}
