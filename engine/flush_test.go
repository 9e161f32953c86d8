package engine

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/s2lite/s2lite/compaction"
	"github.com/s2lite/s2lite/objstore"
)

func TestSplitFlush(t *testing.T) {
	entry := func(k string, valueLen int) memEntry {
		return memEntry{key: []byte(k), value: make([]byte, valueLen)}
	}
	// Partitions by the first byte; sizes count key + value + overhead.
	entries := []memEntry{
		entry("a1", 10), entry("a2", 10), // small
		entry("b1", 500), entry("b2", 500), // large
		entry("c1", 10),  // small
		entry("d1", 10),  // small
		entry("e1", 900), // large
	}
	part := compaction.FixedPrefix(1)
	keys := func(pieces [][]memEntry) string {
		var out []string
		for _, p := range pieces {
			var ks []string
			for _, e := range p {
				ks = append(ks, string(e.key))
			}
			out = append(out, strings.Join(ks, ","))
		}
		return strings.Join(out, " | ")
	}
	cases := []struct {
		name      string
		partition func([]byte) []byte
		minBytes  int64
		want      string
	}{
		{"no partition function", nil, 100, "a1,a2,b1,b2,c1,d1,e1"},
		{"splitting disabled", part, -1, "a1,a2,b1,b2,c1,d1,e1"},
		{"large partitions alone, small ones packed", part, 800, "a1,a2 | b1,b2 | c1,d1 | e1"},
		{"every partition large", part, 1, "a1,a2 | b1,b2 | c1 | d1 | e1"},
		{"none large", part, 1 << 20, "a1,a2,b1,b2,c1,d1,e1"},
	}
	for _, tc := range cases {
		if got := keys(splitFlush(entries, tc.partition, tc.minBytes)); got != tc.want {
			t.Errorf("%s: got %q, want %q", tc.name, got, tc.want)
		}
	}
}

// TestPartitionedFlushMoves: with many append-only streams written at
// once, each flush writes a table per stream, so compacting L0 into a run
// rewrites nothing, and a range deletion spanning streams still deletes
// across the tables of one flush.
func TestPartitionedFlushMoves(t *testing.T) {
	ctx := context.Background()
	opts := manualOpts(objstore.NewMemory(), newFakeClock())
	// Depth stays 1 (the streams only append), so the table cap triggers.
	opts.Compaction = compaction.Options{L0MaxTables: 16, Partition: compaction.FixedPrefix(3)}
	opts.FlushPartitionMinBytes = 1 << 10
	db := mustOpen(t, opts)
	defer db.Close()
	const streams, perFlush = 4, 20
	var want []string
	for f := 0; f < 4; f++ {
		flushBatch(t, db, func(b *Batch) {
			for s := 0; s < streams; s++ {
				for i := 0; i < perFlush; i++ {
					k := fmt.Sprintf("s%d/%06d", s, f*perFlush+i)
					b.Set([]byte(k), make([]byte, 100))
					want = append(want, k+"="+strings.Repeat("\x00", 100))
				}
			}
		})
		if got := db.Metrics().L0Tables; got != streams*(f+1) {
			t.Fatalf("after flush %d: %d L0 tables, want %d (one per stream per flush)", f, got, streams*(f+1))
		}
	}
	if err := db.Compact(ctx); err != nil {
		t.Fatal(err)
	}
	m := db.Metrics()
	if m.L0Tables != 0 || m.Compaction.Moves == 0 || m.Compaction.BytesWritten != 0 {
		t.Fatalf("per-stream flush tables were rewritten: L0 %d, %+v", m.L0Tables, m.Compaction)
	}
	slices.Sort(want)
	if got := scanDB(t, db, "", ""); !slices.Equal(got, want) {
		t.Fatalf("after the move: %d keys, want %d", len(got), len(want))
	}

	// One flush whose range deletion spans streams 1 and 2: it is clipped
	// to each stream's table and still hides what it covers.
	flushBatch(t, db, func(b *Batch) {
		for s := 0; s < streams; s++ {
			for i := 0; i < perFlush; i++ {
				b.Set([]byte(fmt.Sprintf("s%d/%06d", s, 100+i)), make([]byte, 100))
			}
		}
		b.DeleteRange([]byte("s1/000050"), []byte("s2/000010"))
	})
	if got := db.Metrics().L0Tables; got != streams {
		t.Fatalf("%d L0 tables after the last flush, want %d", got, streams)
	}
	for _, k := range []string{"s1/000050", "s1/000119", "s2/000000", "s2/000009"} {
		if _, err := db.Get(ctx, []byte(k)); err == nil {
			t.Errorf("%s survived a range deletion", k)
		}
	}
	for _, k := range []string{"s1/000049", "s2/000010", "s0/000119", "s3/000000"} {
		if _, err := db.Get(ctx, []byte(k)); err != nil {
			t.Errorf("get %s: %v", k, err)
		}
	}
	// 80 keys per stream before, 20 more now; the deletion takes s1's
	// 000050..000119 (30 + 20) and s2's 000000..000009 (10).
	if got, want := len(scanDB(t, db, "", "")), streams*100-60; got != want {
		t.Fatalf("scan after the range deletion: %d keys, want %d", got, want)
	}
}
