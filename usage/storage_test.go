package usage

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/s2lite/s2lite/objstore"
)

func TestSplitIsProportionalAndConserves(t *testing.T) {
	for _, c := range []struct {
		total   uint64
		weights map[string]uint64
		want    string
	}{
		{8, map[string]uint64{"a": 300, "b": 100}, "map[a:6 b:2]"},
		{4000, map[string]uint64{"a": 300, "b": 100}, "map[a:3000 b:1000]"},
		// 5.25 and 1.75: the larger remainder gets the unit left over.
		{7, map[string]uint64{"a": 300, "b": 100}, "map[a:5 b:2]"},
		// Equal remainders: the smaller name.
		{1, map[string]uint64{"b": 1, "a": 1}, "map[a:1]"},
		{5, map[string]uint64{"a": 1, "b": 0}, "map[a:5]"},
		{0, map[string]uint64{"a": 1}, "map[]"},
		{5, map[string]uint64{}, "map[]"},
		{5, map[string]uint64{"a": 0}, "map[]"},
		// No overflow with large operands.
		{1 << 62, map[string]uint64{"a": 3 << 60, "b": 1 << 60}, fmt.Sprint(map[string]uint64{"a": 3 << 60, "b": 1 << 60})},
	} {
		if got := fmt.Sprint(split(c.total, c.weights)); got != c.want {
			t.Errorf("split(%d, %v) = %s, want %s", c.total, c.weights, got, c.want)
		}
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for range 1000 {
		total := rng.Uint64N(1000)
		w := map[string]uint64{}
		var sum uint64
		for i := range 1 + rng.IntN(6) {
			w[fmt.Sprint(i)] = rng.Uint64N(100)
			sum += w[fmt.Sprint(i)]
		}
		out := split(total, w)
		var got uint64
		for name, n := range out {
			got += n
			// Each share is within one unit of its exact value.
			exact := float64(total) * float64(w[name]) / float64(sum)
			if float64(n) < exact-1 || float64(n) > exact+1 {
				t.Fatalf("split(%d, %v): %s got %d, exact %.2f", total, w, name, n, exact)
			}
		}
		if sum > 0 && got != total {
			t.Fatalf("split(%d, %v) = %v: sums to %d", total, w, out, got)
		}
	}
}

// fakeCounts is a StorageCounts source the test moves by hand.
type fakeCounts struct {
	mu sync.Mutex
	c  StorageCounts
}

func (f *fakeCounts) get() StorageCounts {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.c
}

func (f *fakeCounts) add(fn func(c *StorageCounts)) {
	f.mu.Lock()
	fn(&f.c)
	f.mu.Unlock()
}

func TestStorageAttribution(t *testing.T) {
	clk := newClock()
	store := newMemStore()
	fc := &fakeCounts{}
	// Requests before Open (recovery) belong to no basin.
	fc.add(func(c *StorageCounts) { c.Gets[classOther] = 100; c.Puts[classOther] = 3 })
	open := func() *Recorder {
		r, err := Open(context.Background(), store, Options{Now: clk.now, FlushInterval: time.Hour, StorageCounts: fc.get})
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	r := open()
	ctx := context.Background()
	sum := func(scope, metric, label string) uint64 {
		return total(r.Accumulations(scope, metric, []string{label}, Day, 0, clk.unix()))
	}

	// Period 1: basins a and b append 3:1; the store took 8 WAL PUTs,
	// 4 table PUTs, 4000 + 2000 bytes, and 5 GETs of tables (nobody read).
	r.Appended(Append{Basin: "basin-a", Stream: "s", FirstSeq: 0, EndSeq: 3, Bytes: 300})
	r.Appended(Append{Basin: "basin-b", Stream: "s", FirstSeq: 0, EndSeq: 1, Bytes: 100})
	fc.add(func(c *StorageCounts) {
		c.Puts[classWAL] += 8
		c.Puts[classTable] += 4
		c.BytesWritten[classWAL] += 4000
		c.BytesWritten[classTable] += 2000
		c.Gets[classTable] += 5
		c.BytesRead[classTable] += 500
	})
	clk.add(10 * time.Second)
	if err := r.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		scope, metric, label string
		want                 uint64
	}{
		{"basin-a", MetricStoragePuts, LabelWAL, 6},
		{"basin-b", MetricStoragePuts, LabelWAL, 2},
		{"basin-a", MetricStoragePuts, LabelTable, 3},
		{"basin-b", MetricStoragePuts, LabelTable, 1},
		{"basin-a", MetricStorageBytesWritten, LabelWAL, 3000},
		{"basin-b", MetricStorageBytesWritten, LabelWAL, 1000},
		{"basin-a", MetricStorageBytesWritten, LabelTable, 1500},
		{"basin-b", MetricStorageBytesWritten, LabelTable, 500},
		{"basin-a", MetricStorageGets, LabelTable, 0},
		{"", MetricStorageGets, LabelTable, 5},
		{"", MetricStorageBytesRead, LabelTable, 500},
		{"", MetricStoragePuts, LabelWAL, 0},
		{"", MetricStoragePuts, LabelOther, 0}, // before Open: not counted
	} {
		if got := sum(c.scope, c.metric, c.label); got != c.want {
			t.Errorf("period 1: %q %s %s = %d, want %d", c.scope, c.metric, c.label, got, c.want)
		}
	}

	// Period 2: no appends, 4 WAL PUTs (a checkpoint, the fence):
	// unattributed. basin-b reads 50 bytes, basin-a none: b takes every GET.
	r.Read("basin-b", false, true, 50)
	fc.add(func(c *StorageCounts) {
		c.Puts[classWAL] += 4
		c.BytesWritten[classWAL] += 40
		c.Gets[classTable] += 3
		c.BytesRead[classTable] += 300
	})
	clk.add(10 * time.Second)
	if err := r.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		scope, metric, label string
		want                 uint64
	}{
		{"basin-a", MetricStoragePuts, LabelWAL, 6},
		{"basin-b", MetricStoragePuts, LabelWAL, 2},
		{"", MetricStoragePuts, LabelWAL, 4},
		{"", MetricStorageBytesWritten, LabelWAL, 40},
		{"basin-b", MetricStorageGets, LabelTable, 3},
		{"basin-b", MetricStorageBytesRead, LabelTable, 300},
		{"basin-a", MetricStorageGets, LabelTable, 0},
		{"", MetricStorageGets, LabelTable, 5},
	} {
		if got := sum(c.scope, c.metric, c.label); got != c.want {
			t.Errorf("period 2: %q %s %s = %d, want %d", c.scope, c.metric, c.label, got, c.want)
		}
	}
	if got := fmt.Sprint(r.BasinStorage()); got != "map[basin-a:{9 0 4500 0} basin-b:{3 3 1500 300}]" {
		t.Errorf("BasinStorage = %s", got)
	}
	// Each period lands in the minute of the flush that attributed it.
	if ss := r.Accumulations("basin-a", MetricStoragePuts, []string{LabelWAL}, Minute, 0, clk.unix()); len(ss[0].Points) != 1 || ss[0].Points[0].T != floorTo(clk.t.Unix()-10, Minute) {
		t.Errorf("minute buckets: %+v", ss)
	}

	// Durable like the other counters; the process-lifetime totals are not.
	if err := r.Close(ctx); err != nil {
		t.Fatal(err)
	}
	r = open()
	defer r.Close(ctx)
	if got := sum("basin-a", MetricStorageBytesWritten, LabelWAL); got != 3000 {
		t.Errorf("after restart: %d", got)
	}
	if got := sum("", MetricStoragePuts, LabelWAL); got != 4 {
		t.Errorf("unattributed after restart: %d", got)
	}
	if got := len(r.BasinStorage()); got != 0 {
		t.Errorf("BasinStorage after restart: %d basins", got)
	}
}

func TestStorageMeterClassifies(t *testing.T) {
	ctx := context.Background()
	m := NewStorageMeter(objstore.NewMemory())
	mustPut := func(key string, n int) {
		if _, err := m.Put(ctx, key, make([]byte, n)); err != nil {
			t.Fatal(err)
		}
	}
	mustPut("wal/00000000000000000001", 10)
	mustPut("sst/00000000000000000001-00000000000000000001.sst", 100)
	if _, err := m.PutIfAbsent(ctx, "manifest/00000000000000000001", make([]byte, 7)); err != nil {
		t.Fatal(err)
	}
	// A lost conditional put is a request, with no bytes written.
	if _, err := m.PutIfAbsent(ctx, "manifest/00000000000000000001", make([]byte, 7)); err == nil {
		t.Fatal("second PutIfAbsent succeeded")
	}
	if _, _, err := m.Get(ctx, "wal/00000000000000000001"); err != nil {
		t.Fatal(err)
	}
	if _, err := m.GetRange(ctx, "sst/00000000000000000001-00000000000000000001.sst", 10, 20); err != nil {
		t.Fatal(err)
	}
	if err := m.GetRangeInto(ctx, "sst/00000000000000000001-00000000000000000001.sst", 0, [][]byte{make([]byte, 30), make([]byte, 5)}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := m.Get(ctx, "checkpoint/missing"); err == nil {
		t.Fatal("missing object found")
	}
	_, _ = m.List(ctx, "", "", 0)
	_ = m.Delete(ctx, "wal/00000000000000000001")
	got := m.Counts()
	want := StorageCounts{
		Puts:         [numClasses]uint64{1, 1, 2},
		BytesWritten: [numClasses]uint64{10, 100, 7},
		Gets:         [numClasses]uint64{1, 2, 1},
		BytesRead:    [numClasses]uint64{10, 55, 0},
	}
	if got != want {
		t.Fatalf("counts %+v, want %+v", got, want)
	}
}
