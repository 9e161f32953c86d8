package engine

import (
	"context"
	"crypto/rand"
	"fmt"
	"sort"
	"testing"
	"time"

	"github.com/s2lite/s2lite/internal/s3test"
	"github.com/s2lite/s2lite/objstore"
)

// reportLatency adds p50 and p99 (ms) to a benchmark's output.
func reportLatency(b *testing.B, samples []time.Duration, prefix string) {
	if len(samples) == 0 {
		return
	}
	sort.Slice(samples, func(i, j int) bool { return samples[i] < samples[j] })
	at := func(q float64) float64 {
		return float64(samples[min(len(samples)-1, int(q*float64(len(samples))))]) / 1e6
	}
	b.ReportMetric(at(0.50), prefix+"p50-ms")
	b.ReportMetric(at(0.99), prefix+"p99-ms")
}

func benchStores(b *testing.B) map[string]func(b *testing.B) objstore.Store {
	return map[string]func(b *testing.B) objstore.Store{
		"memory": func(b *testing.B) objstore.Store { return objstore.NewMemory() },
		"minio": func(b *testing.B) objstore.Store {
			return objstore.NewRetrying(s3test.Store(b), objstore.RetryOptions{})
		},
	}
}

// BenchmarkDurableWrite measures one writer's acknowledged 1 KiB writes
// and, on the same store in the same run, raw put-if-absent PUTs of the
// same WAL object size: the ratio is the figure to watch.
func BenchmarkDurableWrite(b *testing.B) {
	for name, mk := range benchStores(b) {
		b.Run(name, func(b *testing.B) {
			ctx := context.Background()
			store := mk(b)
			db := mustOpen(b, Options{Store: store})
			defer db.Close()
			val := make([]byte, 1024)
			rand.Read(val)
			raw := make([]byte, 1024+31) // a one-write WAL object's size
			var eng, base []time.Duration
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				batch := NewBatch()
				batch.Set([]byte(fmt.Sprintf("key%010d", i)), val)
				t0 := time.Now()
				if err := db.Write(ctx, batch); err != nil {
					b.Fatal(err)
				}
				eng = append(eng, time.Since(t0))
				t0 = time.Now()
				if _, err := store.PutIfAbsent(ctx, fmt.Sprintf("raw/%010d", i), raw); err != nil {
					b.Fatal(err)
				}
				base = append(base, time.Since(t0))
			}
			b.StopTimer()
			reportLatency(b, eng, "write-")
			reportLatency(b, base, "rawput-")
		})
	}
}

// BenchmarkGetWarm measures point gets on flushed tables with a warm cache.
func BenchmarkGetWarm(b *testing.B) {
	ctx := context.Background()
	db := mustOpen(b, Options{Store: objstore.NewMemory()})
	defer db.Close()
	const n = 20000
	loadKeys(b, db, n)
	for i := 0; i < n; i++ { // warm the cache
		if _, err := db.Get(ctx, []byte(fmt.Sprintf("key%010d", i))); err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := db.Get(ctx, []byte(fmt.Sprintf("key%010d", (i*7919)%n))); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkScan100 measures 100-key range scans over flushed tables.
func BenchmarkScan100(b *testing.B) {
	ctx := context.Background()
	db := mustOpen(b, Options{Store: objstore.NewMemory()})
	defer db.Close()
	const n = 20000
	loadKeys(b, db, n)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		it, err := db.NewIter(ctx, &IterOptions{LowerBound: []byte(fmt.Sprintf("key%010d", (i*7919)%(n-100)))})
		if err != nil {
			b.Fatal(err)
		}
		got := 0
		for ok := it.First(); ok && got < 100; ok = it.Next() {
			got++
		}
		if err := it.Close(); err != nil || got != 100 {
			b.Fatalf("scan: %d keys, %v", got, err)
		}
	}
}

func loadKeys(b *testing.B, db *DB, n int) {
	b.Helper()
	ctx := context.Background()
	val := make([]byte, 1024)
	var pend []*PendingWrite
	for i := 0; i < n; i++ {
		batch := NewBatch()
		batch.Set([]byte(fmt.Sprintf("key%010d", i)), val)
		p, err := db.Submit(ctx, batch)
		if err != nil {
			b.Fatal(err)
		}
		pend = append(pend, p)
	}
	for _, p := range pend {
		if err := p.Wait(ctx); err != nil {
			b.Fatal(err)
		}
	}
	if err := db.Flush(ctx); err != nil {
		b.Fatal(err)
	}
}
