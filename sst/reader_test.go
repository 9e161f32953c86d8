package sst

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sort"
	"testing"
)

func TestRoundTrip(t *testing.T) {
	for _, bs := range []int{64, 512, 4096, 32 << 10} {
		for _, ri := range []int{1, 16} {
			for _, nocomp := range []bool{false, true} {
				name := fmt.Sprintf("block=%d/restart=%d/nocompress=%t", bs, ri, nocomp)
				t.Run(name, func(t *testing.T) {
					rng := rand.New(rand.NewPCG(uint64(bs), uint64(ri)))
					es := randEntries(rng, 3000)
					opts := WriterOptions{BlockSize: bs, RestartInterval: ri, DisableCompression: nocomp}
					b, _ := buildTable(t, opts, es, nil)
					// With and without a cache, readahead at its default,
					// off, and at one block per background fetch.
					for _, ra := range []int64{0, -1, 1} {
						testReaderMatches(t, rng, b, es, ReaderOptions{Cache: NewCache(1 << 20), CacheID: 1, MaxReadahead: ra})
						testReaderMatches(t, rng, b, es, ReaderOptions{MaxReadahead: ra})
					}
				})
			}
		}
	}
}

func testReaderMatches(t *testing.T, rng *rand.Rand, b []byte, es []entry, ropts ReaderOptions) {
	t.Helper()
	ctx := context.Background()
	r, _ := openTable(t, b, ropts)

	it := r.NewIter(ctx)
	got := collect(it)
	if err := it.Err(); err != nil {
		t.Fatal(err)
	}
	if len(got) != len(es) {
		t.Fatalf("iterated %d entries, want %d", len(got), len(es))
	}
	for i := range es {
		if !sameEntry(got[i], es[i]) {
			t.Fatalf("entry %d: got %s, want %s", i, got[i], es[i])
		}
	}

	// SeekGE to existing keys, to keys between them, and past the ends.
	for range 300 {
		var target []byte
		switch rng.IntN(4) {
		case 0:
			target = es[rng.IntN(len(es))].key.User
		case 1:
			target = append(bytes.Clone(es[rng.IntN(len(es))].key.User), 0)
		case 2:
			target = fmt.Appendf(nil, "user%04d", rng.IntN(2100))
		case 3:
			target = []byte{byte(rng.IntN(256))}
		}
		want := sort.Search(len(es), func(i int) bool { return bytes.Compare(es[i].key.User, target) >= 0 })
		ok := it.SeekGE(target)
		if ok != (want < len(es)) {
			t.Fatalf("SeekGE(%q) = %t, want %t (err %v)", target, ok, want < len(es), it.Err())
		}
		// Step a few entries to cross block boundaries.
		for j := want; ok && j < min(want+3, len(es)); j++ {
			if g := iterEntry(it); !sameEntry(g, es[j]) {
				t.Fatalf("SeekGE(%q)+%d: got %s, want %s", target, j-want, g, es[j])
			}
			ok = it.Next()
		}
	}
	if err := it.Close(); err != nil {
		t.Fatal(err)
	}
	if it.First() || it.Valid() {
		t.Fatal("closed iterator positioned")
	}

	// Forward skip-scans: seeks that land in the current block, in blocks
	// fetched ahead and beyond them, each followed by a few Nexts.
	it = r.NewIter(ctx)
	for pos := rng.IntN(10); pos < len(es); pos += 1 + rng.IntN([]int{5, 50, 500}[rng.IntN(3)]) {
		target := es[pos].key.User
		want := sort.Search(len(es), func(i int) bool { return bytes.Compare(es[i].key.User, target) >= 0 })
		ok := it.SeekGE(target)
		for j := want; j < min(want+1+rng.IntN(40), len(es)); j++ {
			if g := iterEntry(it); !ok || !sameEntry(g, es[j]) {
				t.Fatalf("skip-scan SeekGE(%q)+%d: got %t %s, want %s (err %v)", target, j-want, ok, g, es[j], it.Err())
			}
			ok = it.Next()
		}
	}
	if err := it.Close(); err != nil {
		t.Fatal(err)
	}

	// Get at random snapshots against the model, for present and absent keys.
	for range 500 {
		user := es[rng.IntN(len(es))].key.User
		if rng.IntN(4) == 0 {
			user = fmt.Appendf(nil, "absent%d", rng.IntN(1000))
		}
		seq := rng.Uint64N(1100)
		if rng.IntN(10) == 0 {
			seq = ^uint64(0)
		}
		want, wantOK := modelGet(es, user, seq)
		k, exp, val, ok, err := r.Get(ctx, user, seq)
		if err != nil {
			t.Fatal(err)
		}
		if ok != wantOK {
			t.Fatalf("Get(%q, %d) found=%t, want %t", user, seq, ok, wantOK)
		}
		if got := (entry{k, exp, val}); ok && !sameEntry(got, want) {
			t.Fatalf("Get(%q, %d) = %s, want %s", user, seq, got, want)
		}
	}
}

func TestProperties(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 7))
	es := randEntries(rng, 2000)
	rds := randRangeDels(rng, 50)
	b, wp := buildTable(t, WriterOptions{BlockSize: 256}, es, rds)
	r, _ := openTable(t, b, ReaderOptions{})
	p := r.Properties()

	var want Properties
	want.MinSeq, want.MinExpiry = ^uint64(0), -1
	want.SmallestKey, want.LargestKey = es[0].key.User, es[len(es)-1].key.User
	for _, e := range es {
		want.NumEntries++
		if e.key.Kind == KindDelete {
			want.NumDeletes++
		}
		want.MinSeq, want.MaxSeq = min(want.MinSeq, e.key.Seq), max(want.MaxSeq, e.key.Seq)
		if e.expiry == 0 {
			want.NumWithoutExpiry++
		} else {
			if want.MinExpiry < 0 || e.expiry < want.MinExpiry {
				want.MinExpiry = e.expiry
			}
			want.MaxExpiry = max(want.MaxExpiry, e.expiry)
		}
		want.RawKeyBytes += uint64(len(e.key.User) + 8)
		want.RawValueBytes += uint64(len(e.value))
	}
	for _, rd := range rds {
		want.NumRangeDels++
		want.NumWithoutExpiry++
		want.MinSeq, want.MaxSeq = min(want.MinSeq, rd.Seq), max(want.MaxSeq, rd.Seq)
		if bytes.Compare(rd.Start, want.SmallestKey) < 0 {
			want.SmallestKey = rd.Start
		}
		if bytes.Compare(rd.End, want.LargestKey) > 0 {
			want.LargestKey = rd.End
		}
	}
	want.NumDataBlocks = uint64(len(r.index))
	if want.NumDataBlocks < 10 {
		t.Fatalf("only %d data blocks", want.NumDataBlocks)
	}
	if p.String() != want.String() {
		t.Fatalf("properties\n got %s\nwant %s", p, want)
	}
	if wp.String() != p.String() {
		t.Fatalf("writer properties\n got %s\nwant %s", wp, p)
	}

	// Range deletions come back sorted by Start.
	got := r.RangeDels()
	if len(got) != len(rds) {
		t.Fatalf("got %d range dels, want %d", len(got), len(rds))
	}
	if !sort.SliceIsSorted(got, func(i, j int) bool { return bytes.Compare(got[i].Start, got[j].Start) < 0 }) {
		t.Fatal("range dels not sorted by start")
	}
	key := func(rd RangeDel) string { return fmt.Sprintf("%s-%s@%d", rd.Start, rd.End, rd.Seq) }
	var a, bb []string
	for i := range rds {
		a, bb = append(a, key(rds[i])), append(bb, key(got[i]))
	}
	slices.Sort(a)
	slices.Sort(bb)
	if !slices.Equal(a, bb) {
		t.Fatalf("range dels differ:\n got %v\nwant %v", bb, a)
	}
}

func TestPropertiesRangeDelBounds(t *testing.T) {
	// A range deletion's End is the largest key even though it is exclusive,
	// and the empty user key is a valid smallest key.
	es := []entry{{key: Key{User: []byte(""), Seq: 3, Kind: KindSet}}, {key: Key{User: []byte("m"), Seq: 4, Kind: KindSet}}}
	b, _ := buildTable(t, WriterOptions{}, es, []RangeDel{{Start: []byte("b"), End: []byte("z"), Seq: 9}})
	r, _ := openTable(t, b, ReaderOptions{})
	p := r.Properties()
	if string(p.SmallestKey) != "" || string(p.LargestKey) != "z" || p.MinSeq != 3 || p.MaxSeq != 9 {
		t.Fatalf("got %s", p)
	}
	if p.MinExpiry != 0 || p.MaxExpiry != 0 || p.NumWithoutExpiry != 3 {
		t.Fatalf("expiry stats: %s", p)
	}
}

func TestEmptyTable(t *testing.T) {
	b, _ := buildTable(t, WriterOptions{}, nil, nil)
	r, obj := openTable(t, b, ReaderOptions{})
	if p := r.Properties(); p.String() != (Properties{}).String() {
		t.Fatalf("properties of empty table: %s", p)
	}
	it := r.NewIter(context.Background())
	if it.First() || it.SeekGE(nil) || it.Err() != nil {
		t.Fatal("empty table iterated")
	}
	if _, _, _, ok, err := r.Get(context.Background(), []byte("a"), MaxSeq); ok || err != nil {
		t.Fatalf("Get on empty table: %t %v", ok, err)
	}
	if err := it.Close(); err != nil {
		t.Fatal(err)
	}
	if n := obj.reads.Load(); n != 1 {
		t.Fatalf("%d reads", n)
	}
}

func TestBloom(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	var es []entry
	for i := range 10000 {
		es = append(es, entry{key: Key{User: fmt.Appendf(nil, "key%08d", i), Seq: 1, Kind: KindSet}, value: []byte("v")})
	}
	b, _ := buildTable(t, WriterOptions{}, es, nil)
	r, obj := openTable(t, b, ReaderOptions{})
	for _, e := range es {
		if !r.MayContain(e.key.User) {
			t.Fatalf("MayContain(%q) = false for a present key", e.key.User)
		}
	}
	ctx := context.Background()
	fp := 0
	const absent = 20000
	for range absent {
		user := fmt.Appendf(nil, "nokey%08d", rng.IntN(1e8))
		may := r.MayContain(user)
		before := obj.reads.Load()
		if _, _, _, ok, err := r.Get(ctx, user, MaxSeq); ok || err != nil {
			t.Fatalf("Get(%q): %t %v", user, ok, err)
		}
		reads := obj.reads.Load() - before
		if may {
			fp++
			if reads > 1 {
				t.Fatalf("Get(%q) made %d reads", user, reads)
			}
		} else if reads != 0 {
			t.Fatalf("Get(%q) read %d data blocks despite the filter", user, reads)
		}
	}
	if rate := float64(fp) / absent; rate > 0.03 {
		t.Fatalf("false-positive rate %.4f", rate)
	} else {
		t.Logf("false-positive rate %.4f", rate)
	}

	// Without a filter every key may be present.
	b, _ = buildTable(t, WriterOptions{BloomBitsPerKey: -1}, es[:10], nil)
	r, _ = openTable(t, b, ReaderOptions{})
	if !r.MayContain([]byte("nope")) {
		t.Fatal("MayContain false without a filter")
	}
}

func TestOpenReads(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	es := randEntries(rng, 3000)
	b, _ := buildTable(t, WriterOptions{}, es, randRangeDels(rng, 10))
	_, obj := openTable(t, b, ReaderOptions{})
	if n := obj.reads.Load(); n != 1 {
		t.Fatalf("Open made %d reads, want 1", n)
	}
	if len(b) <= metaReadSize {
		t.Fatalf("table of %d bytes too small to test a partial tail read", len(b))
	}

	// Metadata larger than the first read costs exactly one more read.
	var big []entry
	for i := range 40000 {
		big = append(big, entry{key: Key{User: fmt.Appendf(nil, "k%07d", i), Seq: 1, Kind: KindSet}})
	}
	b, _ = buildTable(t, WriterOptions{BlockSize: 64}, big, nil)
	r, obj := openTable(t, b, ReaderOptions{})
	if n := obj.reads.Load(); n != 2 {
		t.Fatalf("Open of a table with large metadata made %d reads, want 2", n)
	}
	if got := collect(r.NewIter(context.Background())); len(got) != len(big) {
		t.Fatalf("iterated %d entries, want %d", len(got), len(big))
	}
}

func TestGetReadsOneBlock(t *testing.T) {
	rng := rand.New(rand.NewPCG(8, 9))
	es := randEntries(rng, 3000)
	b, _ := buildTable(t, WriterOptions{BlockSize: 128}, es, nil)
	r, obj := openTable(t, b, ReaderOptions{})
	// Sequential Gets read one block each: readahead is for iterators.
	for _, e := range es[:200] {
		before, bytesBefore := obj.reads.Load(), obj.bytes.Load()
		if _, _, _, ok, err := r.Get(context.Background(), e.key.User, e.key.Seq); !ok || err != nil {
			t.Fatalf("Get(%s): %t %v", e.key, ok, err)
		}
		if n := obj.reads.Load() - before; n != 1 {
			t.Fatalf("Get(%s) made %d reads", e.key, n)
		}
		h := r.index[blockOf(r, e)].h
		if n := obj.bytes.Load() - bytesBefore; n != int64(h.length+blockTrailerLen) {
			t.Fatalf("Get(%s) read %d bytes for a %d-byte block", e.key, n, h.length+blockTrailerLen)
		}
	}
}

func TestReadErrors(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	es := randEntries(rng, 500)
	b, _ := buildTable(t, WriterOptions{BlockSize: 256}, es, nil)
	r, _ := openTable(t, b, ReaderOptions{})

	// Cancellation surfaces the context error, not corruption, and the
	// iterator can be repositioned afterwards.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, _, _, _, err := r.Get(ctx, es[0].key.User, MaxSeq); !errors.Is(err, context.Canceled) || errors.Is(err, ErrCorrupt) {
		t.Fatalf("Get with canceled context: %v", err)
	}
	it := r.NewIter(ctx)
	if it.First() || !errors.Is(it.Err(), context.Canceled) {
		t.Fatalf("First with canceled context: %v", it.Err())
	}
	if err := it.Close(); !errors.Is(err, context.Canceled) {
		t.Fatalf("Close: %v", err)
	}

	// A short read is corruption.
	if _, err := Open(context.Background(), shortObject{newMemObject(b)}, ReaderOptions{}); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("Open over short reads: %v", err)
	}
}

// shortObject returns one byte fewer than asked.
type shortObject struct{ *memObject }

func (o shortObject) ReadAt(ctx context.Context, off, n int64) ([]byte, error) {
	b, err := o.memObject.ReadAt(ctx, off, n)
	if len(b) > 0 {
		b = b[:len(b)-1]
	}
	return b, err
}

func (o shortObject) ReadInto(ctx context.Context, off int64, bufs [][]byte) error {
	return readIntoVia(ctx, o.ReadAt, off, bufs)
}

func TestConcurrentReaders(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	es := randEntries(rng, 2000)
	b, _ := buildTable(t, WriterOptions{BlockSize: 256}, es, nil)
	r, _ := openTable(t, b, ReaderOptions{Cache: NewCache(8 << 10), CacheID: 3})
	errc := make(chan error, 8)
	for g := range 8 {
		go func() {
			rng := rand.New(rand.NewPCG(uint64(g), 0))
			for range 300 {
				e := es[rng.IntN(len(es))]
				k, _, v, ok, err := r.Get(context.Background(), e.key.User, e.key.Seq)
				if err != nil || !ok || Compare(k, e.key) != 0 || !bytes.Equal(v, e.value) {
					errc <- fmt.Errorf("Get(%s) = %s %q %t %v", e.key, k, v, ok, err)
					return
				}
			}
			it := r.NewIter(context.Background())
			if n := len(collect(it)); n != len(es) {
				errc <- fmt.Errorf("iterated %d of %d", n, len(es))
				return
			}
			errc <- it.Close()
		}()
	}
	for range 8 {
		if err := <-errc; err != nil {
			t.Fatal(err)
		}
	}
}
