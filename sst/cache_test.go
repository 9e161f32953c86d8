package sst

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
)

func TestCacheHits(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 1))
	es := randEntries(rng, 1000)
	b, _ := buildTable(t, WriterOptions{BlockSize: 256}, es, nil)
	c := NewCache(1 << 20)
	r, obj := openTable(t, b, ReaderOptions{Cache: c, CacheID: 42})
	ctx := context.Background()
	e := es[500]

	get := func() {
		t.Helper()
		if _, _, _, ok, err := r.Get(ctx, e.key.User, e.key.Seq); !ok || err != nil {
			t.Fatalf("Get: %t %v", ok, err)
		}
	}
	get()
	if st := c.Stats(); st.Hits != 0 || st.Misses != 1 || st.Entries != 1 || st.Bytes == 0 {
		t.Fatalf("after first Get: %+v", st)
	}
	reads := obj.reads.Load()
	get()
	if st := c.Stats(); st.Hits != 1 || st.Misses != 1 || st.Entries != 1 {
		t.Fatalf("after second Get: %+v", st)
	}
	if n := obj.reads.Load(); n != reads {
		t.Fatalf("cached Get made %d reads", n-reads)
	}

	// A second table in the same cache does not see the first one's blocks.
	r2, obj2 := openTable(t, b, ReaderOptions{Cache: c, CacheID: 43})
	if _, _, _, ok, err := r2.Get(ctx, e.key.User, e.key.Seq); !ok || err != nil {
		t.Fatalf("Get: %t %v", ok, err)
	}
	if n := obj2.reads.Load(); n != 2 {
		t.Fatalf("second table made %d reads, want 2", n)
	}

	// A full scan fills the cache; a second scan reads nothing.
	collect(r.NewIter(ctx))
	reads = obj.reads.Load()
	if got := collect(r.NewIter(ctx)); len(got) != len(es) {
		t.Fatalf("iterated %d of %d", len(got), len(es))
	}
	if n := obj.reads.Load(); n != reads {
		t.Fatalf("warm scan made %d reads", n-reads)
	}
}

func TestCacheCapacity(t *testing.T) {
	rng := rand.New(rand.NewPCG(2, 2))
	es := randEntries(rng, 3000)
	b, _ := buildTable(t, WriterOptions{BlockSize: 512}, es, nil)
	const capacity = 8 << 10
	c := NewCache(capacity)
	r, _ := openTable(t, b, ReaderOptions{Cache: c, CacheID: 1})
	it := r.NewIter(context.Background())
	for ok := it.First(); ok; ok = it.Next() {
		if st := c.Stats(); st.Bytes > capacity {
			t.Fatalf("cache holds %d bytes, capacity %d", st.Bytes, capacity)
		}
	}
	if err := it.Close(); err != nil {
		t.Fatal(err)
	}
	st := c.Stats()
	if st.Evictions == 0 || st.Entries == 0 || st.Bytes > capacity || st.Bytes < capacity/2 {
		t.Fatalf("stats after scan: %+v", st)
	}
}

func TestCacheLRU(t *testing.T) {
	c := NewCache(300) // one shard
	val := func() []byte { return make([]byte, 100) }
	c.set(1, 0, val())
	c.set(1, 1, val())
	c.set(1, 2, val())
	if _, ok := c.get(1, 0); !ok { // 0 becomes most recent
		t.Fatal("miss on 0")
	}
	c.set(1, 3, val()) // evicts 1, the least recently used
	if _, ok := c.get(1, 1); ok {
		t.Fatal("1 should have been evicted")
	}
	for _, off := range []uint64{0, 2, 3} {
		if _, ok := c.get(1, off); !ok {
			t.Fatalf("miss on %d", off)
		}
	}
	// Replacing an entry does not double-count it.
	c.set(1, 3, make([]byte, 50))
	if st := c.Stats(); st.Entries != 3 || st.Bytes != 250 || st.Evictions != 1 {
		t.Fatalf("stats: %+v", st)
	}
	// Blocks larger than the capacity are not cached.
	c.set(2, 0, make([]byte, 301))
	if _, ok := c.get(2, 0); ok {
		t.Fatal("oversized block cached")
	}

	var nilCache *Cache
	nilCache.set(1, 1, val())
	if _, ok := nilCache.get(1, 1); ok || nilCache.Stats() != (CacheStats{}) {
		t.Fatal("nil cache cached")
	}
}

func TestCacheConcurrent(t *testing.T) {
	c := NewCache(64 << 20) // several shards
	if len(c.shards) < 2 {
		t.Fatalf("%d shards", len(c.shards))
	}
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 2000 {
				off := uint64(i % 300)
				want := fmt.Appendf(nil, "%d/%d", g%2, off)
				if v, ok := c.get(uint64(g%2), off); ok && string(v) != string(want) {
					t.Errorf("got %q, want %q", v, want)
					return
				}
				c.set(uint64(g%2), off, want)
			}
		}()
	}
	wg.Wait()
	if st := c.Stats(); st.Entries != 600 || st.Hits+st.Misses != 16000 {
		t.Fatalf("stats: %+v", st)
	}
}
