package engine

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/s2lite/s2lite/objstore"
)

// TestLevelIterReadsLazily builds a run of many small tables and checks,
// on a cold reopen, that a long scan's first seek reads the data of the
// table it lands in and at most the next one (not every table the bounds
// overlap), that a full scan reads every table's data once, and that seeks
// forward and back across tables see what was written.
func TestLevelIterReadsLazily(t *testing.T) {
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
	if m.L0Tables != 0 || len(m.RunTables) != 1 || m.RunTables[0] < 20 {
		t.Fatalf("want one run of at least 20 tables, got %+v", m)
	}
	tables := m.RunTables[0]
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
