package sst

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/bits"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// logObject records the reads it serves and can stall chosen reads until
// their context is done.
type logObject struct {
	*memObject
	stall   func(off int64) bool // nil: never stall
	stalled chan struct{}        // one send per stalled read, if non-nil

	mu  sync.Mutex
	log []readRec
}

type readRec struct{ off, n int64 }

func (o *logObject) ReadAt(ctx context.Context, off, n int64) ([]byte, error) {
	if o.stall != nil && o.stall(off) {
		if o.stalled != nil {
			o.stalled <- struct{}{}
		}
		<-ctx.Done()
		return nil, ctx.Err()
	}
	b, err := o.memObject.ReadAt(ctx, off, n)
	if err == nil {
		o.mu.Lock()
		o.log = append(o.log, readRec{off, n})
		o.mu.Unlock()
	}
	return b, err
}

func (o *logObject) ReadInto(ctx context.Context, off int64, bufs [][]byte) error {
	return readIntoVia(ctx, o.ReadAt, off, bufs)
}

// reads returns the reads served since the first skip ones, by offset.
func (o *logObject) reads(skip int) []readRec {
	o.mu.Lock()
	defer o.mu.Unlock()
	rs := slices.Clone(o.log[skip:])
	slices.SortFunc(rs, func(a, b readRec) int { return int(a.off - b.off) })
	return rs
}

func (o *logObject) numReads() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return len(o.log)
}

func checkEntries(t *testing.T, got, want []entry) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d entries, want %d", len(got), len(want))
	}
	for i := range want {
		if !sameEntry(got[i], want[i]) {
			t.Fatalf("entry %d: got %s, want %s", i, got[i], want[i])
		}
	}
}

// TestReadaheadReads checks what a cold full scan reads: every data byte
// exactly once, nothing past the data region, and with readahead on, a
// number of reads logarithmic in the number of blocks.
func TestReadaheadReads(t *testing.T) {
	es := benchEntries(20000)
	b, _ := buildTable(t, WriterOptions{}, es, nil)
	ctx := context.Background()
	for _, tc := range []struct {
		max   int64
		cache bool
	}{
		{0, false}, {0, true}, {16 << 10, false}, {-1, false}, {-1, true},
	} {
		t.Run(fmt.Sprintf("max=%d/cache=%t", tc.max, tc.cache), func(t *testing.T) {
			var c *Cache
			if tc.cache {
				c = NewCache(64 << 20)
			}
			obj := &logObject{memObject: newMemObject(b)}
			r, err := Open(ctx, obj, ReaderOptions{Cache: c, MaxReadahead: tc.max})
			if err != nil {
				t.Fatal(err)
			}
			opened := obj.numReads()
			it := r.NewIter(ctx)
			checkEntries(t, collect(it), es)
			if err := it.Close(); err != nil {
				t.Fatal(err)
			}

			n := len(r.index)
			dataEnd := int64(r.index[n-1].h.end())
			var biggest int64 // largest block with its trailer
			for _, e := range r.index {
				biggest = max(biggest, int64(e.h.length+blockTrailerLen))
			}
			reads := obj.reads(opened)
			next := int64(0)
			for _, rd := range reads {
				if rd.off != next {
					t.Fatalf("read at %d, want %d: data read twice or skipped (%v)", rd.off, next, reads)
				}
				next += rd.n
				if tc.max > 0 && rd.n > max(tc.max, biggest) {
					t.Fatalf("read of %d bytes exceeds MaxReadahead %d", rd.n, tc.max)
				}
			}
			if next != dataEnd {
				t.Fatalf("reads end at %d, data region at %d", next, dataEnd)
			}

			bound := bits.Len(uint(n)) + 2
			t.Logf("%d blocks, %d reads", n, len(reads))
			switch {
			case n < 4*bound:
				t.Fatalf("only %d blocks", n)
			case tc.max < 0 && len(reads) != n:
				t.Fatalf("%d reads without readahead, want %d", len(reads), n)
			case tc.max == 0 && len(reads) > bound:
				t.Fatalf("%d reads, want at most %d", len(reads), bound)
			case tc.max > 0 && len(reads) > int(dataEnd/(tc.max-biggest))+3:
				t.Fatalf("%d reads with %d-byte windows over %d bytes", len(reads), tc.max, dataEnd)
			}

			// A second scan reads nothing if the first one filled the cache.
			if tc.cache {
				collect(r.NewIter(ctx))
				if got := obj.numReads(); got != opened+len(reads) {
					t.Fatalf("warm scan made %d reads", got-opened-len(reads))
				}
			}
		})
	}
}

// blockOf returns the index of the data block holding e.
func blockOf(r *Reader, e entry) int {
	return r.searchIndex(appendInternalKey(nil, e.key.User, e.key.Seq, e.key.Kind))
}

// TestReadaheadSeeks checks that a seek into blocks already fetched ahead
// reads nothing more, and that a seek elsewhere ends the run: the sought
// block and the one after it are read on their own.
func TestReadaheadSeeks(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 3))
	es := randEntries(rng, 6000)
	b, _ := buildTable(t, WriterOptions{BlockSize: 512}, es, nil)
	ctx := context.Background()
	obj := &logObject{memObject: newMemObject(b)}
	r, err := Open(ctx, obj, ReaderOptions{MaxReadahead: 8 << 10})
	if err != nil {
		t.Fatal(err)
	}
	opened := obj.numReads()
	n := len(r.index)
	if n < 200 {
		t.Fatalf("only %d blocks", n)
	}
	// Entry index of the first entry of every block.
	first := make([]int, 0, n)
	for i, e := range es {
		if blk := blockOf(r, e); blk == len(first) {
			first = append(first, i)
		}
	}

	it := r.NewIter(ctx)
	defer it.Close()
	seek := func(blk, off int) {
		t.Helper()
		i := first[blk] + off
		if !it.SeekGE(es[i].key.User) {
			t.Fatalf("SeekGE(%q): %v", es[i].key.User, it.Err())
		}
		// The seek lands on the first version of the user key.
		for i > 0 && bytes.Equal(es[i-1].key.User, es[i].key.User) {
			i--
		}
		if g := iterEntry(it); !sameEntry(g, es[i]) {
			t.Fatalf("SeekGE(%q) = %s, want %s", es[i].key.User, g, es[i])
		}
	}
	// Walk forward over a few blocks with seeks inside each block and into
	// the next ones, all served by readahead after the first two blocks.
	for blk := 0; blk < 40; blk += 1 + blk%3 {
		seek(blk, 1)
		seek(blk, 2)
	}
	reads := obj.reads(opened)
	for i := 1; i < len(reads); i++ {
		if reads[i].off < reads[i-1].off+reads[i-1].n {
			t.Fatalf("data read twice: %v", reads)
		}
	}
	if len(reads) > 10 {
		t.Fatalf("%d reads for 40 blocks", len(reads))
	}

	// A seek far ahead restarts the run: one block, then the next.
	far := n - 20
	seek(far, firstNewKey(r, es, far)-first[far])
	for it.Valid() && it.idx == far {
		it.Next()
	}
	if err := it.Err(); err != nil || it.idx != far+1 {
		t.Fatalf("at block %d: %v", it.idx, err)
	}
	reads = obj.reads(opened)
	for _, blk := range []int{far, far + 1} {
		h := r.index[blk].h
		want := readRec{int64(h.offset), int64(h.length + blockTrailerLen)}
		if !slices.Contains(reads, want) {
			t.Fatalf("no single read of block %d (%v) in %v", blk, want, reads)
		}
	}
}

// TestReadaheadCorruptBlock checks that a corrupt block inside a readahead
// window is reported when the iterator reaches it, after every entry before
// it, and that a seek past it still works.
func TestReadaheadCorruptBlock(t *testing.T) {
	rng := rand.New(rand.NewPCG(4, 4))
	es := randEntries(rng, 3000)
	b, _ := buildTable(t, WriterOptions{BlockSize: 256}, es, nil)
	r, _ := openTable(t, b, ReaderOptions{})
	const bad = 10 // inside the first window
	h := r.index[bad].h
	b[h.offset+h.length-1] ^= 0x55 // the checksum no longer matches
	before := 0
	for before < len(es) && blockOf(r, es[before]) < bad {
		before++
	}

	ctx := context.Background()
	// A scan iterator (scan hint) reads the bad block in its first window.
	for _, scan := range []int64{0, 1 << 20} {
		for _, c := range []*Cache{nil, NewCache(1 << 20)} {
			obj := newMemObject(b)
			r, err := Open(ctx, obj, ReaderOptions{Cache: c})
			if err != nil {
				t.Fatal(err)
			}
			it := r.NewScanIter(ctx, scan)
			got := collect(it)
			checkEntries(t, got, es[:before])
			if err := it.Err(); !errors.Is(err, ErrCorrupt) {
				t.Fatalf("scan over a corrupt block: %v", err)
			}
			if n := obj.reads.Load(); n > 4 {
				t.Fatalf("%d reads: readahead not used", n)
			}

			// Stop short of the bad block, then seek past it.
			it.First()
			for it.Valid() && it.idx < bad-1 {
				it.Next()
			}
			i := firstNewKey(r, es, bad+1)
			if !it.SeekGE(es[i].key.User) || !sameEntry(iterEntry(it), es[i]) {
				t.Fatalf("seek past the corrupt block: %v", it.Err())
			}
			var rest []entry
			for ok := true; ok; ok = it.Next() {
				rest = append(rest, iterEntry(it))
			}
			checkEntries(t, rest, es[i:])
			if err := it.Close(); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// firstNewKey returns the index of the first entry of block blk whose user
// key does not also appear in an earlier block, so that seeking to it lands
// in blk.
func firstNewKey(r *Reader, es []entry, blk int) int {
	i := 0
	for blockOf(r, es[i]) < blk {
		i++
	}
	for bytes.Equal(es[i].key.User, es[i-1].key.User) {
		i++
	}
	return i
}

// stalledIter returns an iterator that has loaded blocks 0 and 1 and whose
// readahead of the blocks after them is stuck in ReadAt until cancelled.
func stalledIter(t *testing.T, ctx context.Context) *Iter {
	rng := rand.New(rand.NewPCG(5, 5))
	es := randEntries(rng, 1000)
	b, _ := buildTable(t, WriterOptions{BlockSize: 256}, es, nil)
	r, _ := openTable(t, b, ReaderOptions{})
	start := int64(r.index[2].h.offset)
	obj := &logObject{
		memObject: newMemObject(b),
		stall:     func(off int64) bool { return off >= start },
		stalled:   make(chan struct{}, 1),
	}
	r, err := Open(context.Background(), obj, ReaderOptions{})
	if err != nil {
		t.Fatal(err)
	}
	it := r.NewIter(ctx)
	for ok := it.First(); ok && it.idx < 1; ok = it.Next() {
	}
	select {
	case <-obj.stalled:
	case <-time.After(10 * time.Second):
		t.Fatal("no readahead started")
	}
	return it
}

// TestReadaheadClose checks that Close cancels a readahead in flight and
// waits for it (goleak in TestMain catches a goroutine left behind).
func TestReadaheadClose(t *testing.T) {
	it := stalledIter(t, context.Background())
	done := make(chan error, 1)
	go func() { done <- it.Close() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Close did not cancel the readahead")
	}
}

// TestReadaheadCancel checks that cancelling the iterator's context stops a
// readahead in flight and surfaces as the context's error, not corruption.
func TestReadaheadCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	it := stalledIter(t, ctx)
	cancel()
	for it.Next() {
	}
	if err := it.Close(); !errors.Is(err, context.Canceled) || errors.Is(err, ErrCorrupt) {
		t.Fatalf("scan after cancel: %v", err)
	}
}

// slowObject models an object store GET: a fixed round trip plus transfer
// time at 500 MiB/s.
type slowObject struct {
	*memObject
	calls atomic.Int64
}

func (o *slowObject) ReadAt(ctx context.Context, off, n int64) ([]byte, error) {
	o.calls.Add(1)
	time.Sleep(time.Millisecond + time.Duration(n)*time.Second/(500<<20))
	return o.memObject.ReadAt(ctx, off, n)
}

func (o *slowObject) ReadInto(ctx context.Context, off int64, bufs [][]byte) error {
	return readIntoVia(ctx, o.ReadAt, off, bufs)
}

// BenchmarkColdScan scans a table without a cache, so every data block
// comes from the slow object.
func BenchmarkColdScan(b *testing.B) {
	for _, size := range []int{100 << 10, 1 << 20, 8 << 20} {
		es := benchEntries(size / 80) // about size bytes of data blocks
		t, _ := buildTable(b, WriterOptions{}, es, nil)
		for _, ra := range []int64{-1, 0} {
			if ra < 0 && size > 1<<20 {
				continue // a second per scan; the smaller sizes make the point
			}
			b.Run(fmt.Sprintf("size=%dKiB/readahead=%t", size>>10, ra == 0), func(b *testing.B) {
				obj := &slowObject{memObject: newMemObject(t)}
				r, err := Open(context.Background(), obj, ReaderOptions{MaxReadahead: ra})
				if err != nil {
					b.Fatal(err)
				}
				b.SetBytes(int64(r.index[len(r.index)-1].h.end()))
				obj.calls.Store(0)
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
				b.ReportMetric(float64(obj.calls.Load())/float64(b.N), "reads/scan")
				b.ReportMetric(float64(len(r.index)), "blocks")
			})
		}
	}
}

// TestScanIterWindows: an iterator told the scan is long reads ahead in
// windows of that size from its first prefetch, with no ramp from 64 KiB,
// and still reads every data byte exactly once.
func TestScanIterWindows(t *testing.T) {
	es := benchEntries(20000)
	b, _ := buildTable(t, WriterOptions{}, es, nil)
	ctx := context.Background()
	const window = 256 << 10
	count := func(scanBytes int64) (reads []readRec, biggest int64, dataEnd int64) {
		obj := &logObject{memObject: newMemObject(b)}
		r, err := Open(ctx, obj, ReaderOptions{MaxReadahead: window})
		if err != nil {
			t.Fatal(err)
		}
		opened := obj.numReads()
		it := r.NewScanIter(ctx, scanBytes)
		checkEntries(t, collect(it), es)
		if err := it.Close(); err != nil {
			t.Fatal(err)
		}
		for _, e := range r.index {
			biggest = max(biggest, int64(e.h.length+blockTrailerLen))
		}
		return obj.reads(opened), biggest, int64(r.index[len(r.index)-1].h.end())
	}
	ramp, _, _ := count(0)
	scan, biggest, dataEnd := count(1 << 30) // clamped to MaxReadahead
	// Every read is a full window but the last: the first window starts
	// the run, with no single-block reads before it.
	next := int64(0)
	for i, rd := range scan {
		if rd.off != next {
			t.Fatalf("read at %d, want %d", rd.off, next)
		}
		next += rd.n
		if i < len(scan)-1 && rd.n < window-biggest {
			t.Fatalf("read %d of %d bytes, want a %d-byte window (%v)", i, rd.n, window, scan)
		}
	}
	if next != dataEnd {
		t.Fatalf("reads end at %d, data region at %d", next, dataEnd)
	}
	if len(scan) >= len(ramp) {
		t.Fatalf("%d reads with a scan hint, %d without: no fewer", len(scan), len(ramp))
	}
}

// TestScanIterCorruptFirstBlock: when the first block of a scan iterator's
// first window is corrupt, the scan fails at once with no entries.
func TestScanIterCorruptFirstBlock(t *testing.T) {
	es := benchEntries(2000)
	b, _ := buildTable(t, WriterOptions{}, es, nil)
	r, _ := openTable(t, b, ReaderOptions{})
	h := r.index[0].h
	b[h.offset+h.length-1] ^= 0x55
	ctx := context.Background()
	r, err := Open(ctx, newMemObject(b), ReaderOptions{})
	if err != nil {
		t.Fatal(err)
	}
	it := r.NewScanIter(ctx, 1<<20)
	if got := collect(it); len(got) != 0 {
		t.Fatalf("%d entries from a table whose first block is corrupt", len(got))
	}
	if err := it.Err(); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("scan from a corrupt first block: %v", err)
	}
	// Close reports the iterator's error too.
	if err := it.Close(); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("Close after a failed scan: %v", err)
	}
}

// TestPrefetchFirst checks that a scan iterator told to prefetch its first
// window reads it in the background, that First then takes that window
// without reading it again, that FetchedToEnd turns true once the last
// block is fetched or in flight, and that positioning elsewhere cancels
// the prefetch without leaving its read behind.
func TestPrefetchFirst(t *testing.T) {
	es := benchEntries(20000)
	b, _ := buildTable(t, WriterOptions{}, es, nil)
	ctx := context.Background()
	const window = 256 << 10

	obj := &logObject{memObject: newMemObject(b)}
	r, err := Open(ctx, obj, ReaderOptions{MaxReadahead: window})
	if err != nil {
		t.Fatal(err)
	}
	opened := obj.numReads()
	it := r.NewScanIter(ctx, window)
	it.PrefetchFirst()
	<-it.ra.fetch.done
	if got := obj.numReads() - opened; got != 1 {
		t.Fatalf("%d reads after PrefetchFirst, want 1", got)
	}
	first := obj.reads(opened)[0]
	if first.off != 0 || first.n < window/2 {
		t.Fatalf("prefetched %v, want the window at offset 0", first)
	}
	var got []entry
	sawEnd := false
	for ok := it.First(); ok; ok = it.Next() {
		got = append(got, iterEntry(it))
		if it.FetchedToEnd() && !sawEnd {
			sawEnd = true
			// Every block after the current one is fetched or in flight.
			if f := it.ra.fetch; f != nil {
				<-f.done
			}
			end := it.ra.pendLo + len(it.ra.pending)
			if it.ra.fetch != nil {
				end = it.ra.fetch.hi
			}
			if end < len(r.index) && it.idx < len(r.index)-1 {
				t.Fatalf("FetchedToEnd at block %d with blocks up to %d fetched of %d", it.idx, end, len(r.index))
			}
		}
	}
	checkEntries(t, got, es)
	if !sawEnd {
		t.Fatal("FetchedToEnd never true in a full scan")
	}
	reads := obj.reads(opened)
	if reads[0] != first {
		t.Fatalf("first read %v, want the prefetched %v", reads[0], first)
	}
	for i := 1; i < len(reads); i++ {
		if reads[i].off != reads[i-1].off+reads[i-1].n {
			t.Fatalf("reads not contiguous or repeated: %v", reads)
		}
	}
	it.Close()

	// A prefetch cut short by a seek into the middle of the table: the
	// stalled read is cancelled and waited for, and the seek is answered.
	stalled := make(chan struct{}, 1)
	sobj := &logObject{memObject: newMemObject(b), stall: func(off int64) bool { return off == 0 }, stalled: stalled}
	r, err = Open(ctx, sobj, ReaderOptions{MaxReadahead: window})
	if err != nil {
		t.Fatal(err)
	}
	it = r.NewScanIter(ctx, window)
	defer it.Close()
	it.PrefetchFirst()
	<-stalled
	mid := es[len(es)/2]
	if !it.SeekGE(mid.key.User) {
		t.Fatalf("SeekGE after a stalled prefetch: %v", it.Err())
	}
	if it.ra.fetch != nil && it.ra.fetch.lo == 0 {
		t.Fatal("the first window's fetch is still pending after a seek elsewhere")
	}
}
