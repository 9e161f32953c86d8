package sst

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"
)

// benchEntries returns n sorted entries with 16-byte keys and 100-byte
// half-compressible values.
func benchEntries(n int) []entry {
	rng := rand.New(rand.NewPCG(1, 1))
	es := make([]entry, n)
	for i := range es {
		v := make([]byte, 100)
		for j := range v[:50] {
			v[j] = byte(rng.Uint32())
		}
		es[i] = entry{key: Key{User: fmt.Appendf(nil, "key%013d", i), Seq: uint64(i + 1), Kind: KindSet}, value: v}
	}
	return es
}

// BenchmarkWriter builds a table of half-compressible 100-byte values and
// one of random 1 KiB values (like most stream payloads), compressed and
// not.
func BenchmarkWriter(b *testing.B) {
	rng := rand.New(rand.NewPCG(2, 2))
	random := make([]entry, 250)
	for i := range random {
		v := make([]byte, 1024)
		for j := range v {
			v[j] = byte(rng.Uint32())
		}
		random[i] = entry{key: Key{User: fmt.Appendf(nil, "key%013d", i), Seq: 1, Kind: KindSet}, value: v}
	}
	for _, data := range []struct {
		name string
		es   []entry
	}{{"half", benchEntries(2000)}, {"random", random}} { // ~250 KB tables
		var size int64
		for _, e := range data.es {
			size += int64(len(e.key.User) + len(e.value))
		}
		for _, nocomp := range []bool{false, true} {
			b.Run(fmt.Sprintf("values=%s/nocompress=%t", data.name, nocomp), func(b *testing.B) {
				b.SetBytes(size)
				b.ReportAllocs()
				for b.Loop() {
					w := NewWriter(WriterOptions{DisableCompression: nocomp})
					for _, e := range data.es {
						if err := w.Add(e.key, e.expiry, e.value); err != nil {
							b.Fatal(err)
						}
					}
					if _, _, err := w.Finish(); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

func BenchmarkGet(b *testing.B) {
	es := benchEntries(10000)
	t, _ := buildTable(b, WriterOptions{}, es, nil)
	r, _ := openTable(b, t, ReaderOptions{Cache: NewCache(64 << 20), CacheID: 1})
	ctx := context.Background()
	for _, e := range es { // warm the cache
		if _, _, _, _, err := r.Get(ctx, e.key.User, MaxSeq); err != nil {
			b.Fatal(err)
		}
	}
	rng := rand.New(rand.NewPCG(2, 2))
	b.ReportAllocs()
	for b.Loop() {
		e := es[rng.IntN(len(es))]
		if _, _, _, ok, err := r.Get(ctx, e.key.User, MaxSeq); !ok || err != nil {
			b.Fatalf("Get(%s): %t %v", e.key, ok, err)
		}
	}
}

func BenchmarkIter(b *testing.B) {
	es := benchEntries(2000)
	t, _ := buildTable(b, WriterOptions{}, es, nil)
	var size int64
	for _, e := range es {
		size += int64(len(e.key.User) + len(e.value))
	}
	for _, cached := range []bool{false, true} {
		b.Run(fmt.Sprintf("cached=%t", cached), func(b *testing.B) {
			var c *Cache
			if cached {
				c = NewCache(64 << 20)
			}
			r, _ := openTable(b, t, ReaderOptions{Cache: c, CacheID: 1})
			b.SetBytes(size)
			b.ReportAllocs()
			for b.Loop() {
				it := r.NewIter(context.Background())
				n := 0
				for ok := it.First(); ok; ok = it.Next() {
					n++
				}
				if err := it.Close(); err != nil || n != len(es) {
					b.Fatalf("scanned %d: %v", n, err)
				}
			}
		})
	}
}
