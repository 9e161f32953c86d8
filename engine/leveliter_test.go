package engine

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/s2lite/s2lite/objstore"
)

// TestLevelIterReadsLazily builds many small tables, as one compacted run
// and as L0 tables of append-only flushes, and checks, on a cold reopen,
// that a long scan's first seek reads the data of the table it lands in
// and at most the next one (not every table the bounds overlap), that a
// full scan reads every table's data once, and that seeks forward and back
// across tables see what was written.
func TestLevelIterReadsLazily(t *testing.T) {
	for _, layout := range []string{"run", "l0"} {
		t.Run(layout, func(t *testing.T) { testLevelIterReadsLazily(t, layout) })
	}
}

func testLevelIterReadsLazily(t *testing.T, layout string) {
	ctx := context.Background()
	mem := objstore.NewMemory()
	opts := manualOpts(mem, newFakeClock())
	db := mustOpen(t, opts)
	const n = 3000
	key := func(i int) []byte { return fmt.Appendf(nil, "s1/%06d", i) }
	val := func(i int) []byte { // incompressible, so that tables stay many
		rng := rand.New(rand.NewPCG(uint64(i), 1))
		v := make([]byte, 40+i%50)
		for j := range v {
			v[j] = byte('a' + rng.IntN(26))
		}
		return v
	}
	var tables int
	switch layout {
	case "run": // interleaved flushes, compacted into one run
		for f := 0; f < 3; f++ {
			flushBatch(t, db, func(b *Batch) {
				for i := f; i < n; i += 3 {
					b.Set(key(i), val(i))
				}
			})
		}
		if err := db.Compact(ctx); err != nil {
			t.Fatal(err)
		}
		m := db.Metrics()
		if m.L0Tables != 0 || len(m.RunTables) != 1 {
			t.Fatalf("want one run, got %+v", m)
		}
		tables = m.RunTables[0]
	case "l0": // a flush per range of keys, left in L0
		const per = 100
		for lo := 0; lo < n; lo += per {
			flushBatch(t, db, func(b *Batch) {
				for i := lo; i < lo+per; i++ {
					b.Set(key(i), val(i))
				}
			})
		}
		m := db.Metrics()
		if len(m.RunTables) != 0 {
			t.Fatalf("want only L0 tables, got %+v", m)
		}
		tables = m.L0Tables
	}
	if tables < 20 {
		t.Fatalf("only %d tables", tables)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	store := objstore.NewCounting(mem)
	opts.Store = store
	db = mustOpen(t, opts)
	defer db.Close()
	var sstBytes int64
	list, err := mem.List(ctx, "sst/", "", 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range list {
		sstBytes += o.Size
	}

	it, err := db.NewIter(ctx, &IterOptions{LowerBound: []byte("s1/"), UpperBound: []byte("s2/"), ScanBytes: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	defer it.Close()
	getRange := func() objstore.OpStats { return store.Stats().GetRange }
	sub := func(a, b objstore.OpStats) objstore.OpStats {
		return objstore.OpStats{Requests: a.Requests - b.Requests, Bytes: a.Bytes - b.Bytes}
	}
	opened := getRange()
	if !it.First() {
		t.Fatalf("First: %v", it.Error())
	}
	first := sub(getRange(), opened)
	if limit := 3 * sstBytes / int64(tables); first.Bytes > limit {
		t.Fatalf("the first seek read %d bytes of data in %d reads; %d tables of %d bytes in all, want at most %d",
			first.Bytes, first.Requests, tables, sstBytes, limit)
	}

	check := func(from int) {
		t.Helper()
		i := from
		for ok := it.SeekGE(key(from)); ok; ok = it.Next() {
			if !bytes.Equal(it.Key(), key(i)) || !bytes.Equal(it.Value(), val(i)) {
				t.Fatalf("scan from %d: at %d got %q=%q", from, i, it.Key(), it.Value())
			}
			i++
		}
		if err := it.Error(); err != nil || i != n {
			t.Fatalf("scan from %d ended at %d: %v", from, i, err)
		}
	}
	check(0)
	if read := sub(getRange(), opened); read.Bytes > sstBytes {
		t.Fatalf("a cold full scan read %d bytes in %d reads; the tables hold %d", read.Bytes, read.Requests, sstBytes)
	}
	for _, from := range []int{n / 2, 10, n - 1, 1234, 0} {
		check(from)
	}
	if it.SeekGE([]byte("s1/999999")) || it.Error() != nil {
		t.Fatalf("seek past the end: valid %t, err %v", it.Valid(), it.Error())
	}
	check(n / 3)
}

// TestDisjointRuns checks the partition of overlapping tables: every table
// lands in exactly one run, each run is in key order with no two tables
// sharing a key, and the number of runs is the largest number of tables
// that share a key (no fewer is possible).
func TestDisjointRuns(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 7))
	for trial := 0; trial < 200; trial++ {
		var tables []runTable
		for i := rng.IntN(12); i >= 0; i-- {
			lo := rng.IntN(100)
			hi := lo + rng.IntN(20)
			tables = append(tables, runTable{smallest: fmt.Appendf(nil, "k%03d", lo), largest: fmt.Appendf(nil, "k%03d", hi)})
		}
		runs := disjointRuns(tables)
		placed := 0
		for _, run := range runs {
			placed += len(run)
			for i := 1; i < len(run); i++ {
				if bytes.Compare(run[i-1].largest, run[i].smallest) >= 0 {
					t.Fatalf("trial %d: run tables [%s,%s] and [%s,%s] overlap or are out of order",
						trial, run[i-1].smallest, run[i-1].largest, run[i].smallest, run[i].largest)
				}
			}
		}
		if placed != len(tables) {
			t.Fatalf("trial %d: %d tables placed of %d", trial, placed, len(tables))
		}
		depth := 0
		for k := 0; k < 120; k++ {
			key := fmt.Appendf(nil, "k%03d", k)
			d := 0
			for _, tb := range tables {
				if bytes.Compare(tb.smallest, key) <= 0 && bytes.Compare(key, tb.largest) <= 0 {
					d++
				}
			}
			depth = max(depth, d)
		}
		if len(runs) != depth {
			t.Fatalf("trial %d: %d runs for tables %d deep", trial, len(runs), depth)
		}
	}
}

// TestIteratorValuesRetained holds on to every value a scan returned, from
// the memtable, L0 tables and a run, then keeps writing, flushing,
// compacting and scanning with the block cache churning, and checks that
// none of the retained values changed: Iterator.Value promises they may be
// kept without a copy.
func TestIteratorValuesRetained(t *testing.T) {
	ctx := context.Background()
	opts := manualOpts(objstore.NewMemory(), newFakeClock())
	opts.BlockCacheBytes = 64 << 10 // small, so that blocks are evicted
	db := mustOpen(t, opts)
	defer db.Close()
	rng := rand.New(rand.NewPCG(9, 9))
	want := map[string][]byte{}
	write := func(round, n int, flush bool) {
		b := NewBatch()
		for range n {
			k := fmt.Sprintf("k%05d", rng.IntN(4000))
			v := fmt.Appendf(nil, "%s@%d:", k, round)
			for len(v) < 60 {
				v = append(v, byte('a'+rng.IntN(26)))
			}
			b.Set([]byte(k), v)
			want[k] = v
		}
		if err := db.Write(ctx, b); err != nil {
			t.Fatal(err)
		}
		if flush {
			if err := db.Flush(ctx); err != nil {
				t.Fatal(err)
			}
		}
	}
	for r := 0; r < 4; r++ {
		write(r, 1500, true)
	}
	if err := db.Compact(ctx); err != nil {
		t.Fatal(err)
	}
	write(4, 1500, true) // L0 over the run
	write(5, 500, false) // and the memtable

	type kept struct {
		key  string
		val  []byte // as returned
		copy []byte
	}
	var all []kept
	scan := func() {
		it, err := db.NewIter(ctx, &IterOptions{ScanBytes: 1 << 20})
		if err != nil {
			t.Fatal(err)
		}
		defer it.Close()
		n := 0
		for ok := it.First(); ok; ok = it.Next() {
			v := it.Value()
			if !bytes.Equal(v, want[string(it.Key())]) {
				t.Fatalf("%s = %q, want %q", it.Key(), v, want[string(it.Key())])
			}
			all = append(all, kept{string(it.Key()), v, bytes.Clone(v)})
			n++
		}
		if err := it.Error(); err != nil || n != len(want) {
			t.Fatalf("scan: %d keys of %d: %v", n, len(want), err)
		}
	}
	scan()
	for r := 6; r < 9; r++ {
		write(r, 1500, true)
		if err := db.Compact(ctx); err != nil {
			t.Fatal(err)
		}
		scan()
	}
	for _, k := range all {
		if !bytes.Equal(k.val, k.copy) {
			t.Fatalf("retained value of %s changed from %q to %q", k.key, k.copy, k.val)
		}
	}
}
