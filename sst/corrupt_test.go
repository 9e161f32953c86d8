package sst

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"
)

// readAll opens b and reads everything a caller could: a cold full scan
// (read ahead), properties, range deletions, gets, and a scan partly served
// by the blocks the gets cached. It fails the test if any result
// differs from the model es/rds or any error does not wrap ErrCorrupt, and
// returns whether corruption was reported.
func readAll(t *testing.T, b []byte, es []entry, rds []RangeDel, wantProps Properties, desc string) (corrupt bool) {
	t.Helper()
	ctx := context.Background()
	check := func(err error) bool {
		t.Helper()
		if err != nil && !errors.Is(err, ErrCorrupt) {
			t.Fatalf("%s: error does not wrap ErrCorrupt: %v", desc, err)
		}
		return err != nil
	}
	// scan compares a full scan with the model up to the first error.
	scan := func(r *Reader) bool {
		t.Helper()
		it := r.NewIter(ctx)
		i := 0
		for ok := it.First(); ok; ok = it.Next() {
			if i >= len(es) || !sameEntry(iterEntry(it), es[i]) {
				t.Fatalf("%s: entry %d is %s", desc, i, iterEntry(it))
			}
			i++
		}
		if check(it.Close()) {
			return true
		}
		if i != len(es) {
			t.Fatalf("%s: scan ended after %d of %d entries without error", desc, i, len(es))
		}
		return false
	}

	// A cold scan without a cache first, so that readahead rather than the
	// Gets below fetches the blocks.
	r, err := Open(ctx, newMemObject(b), ReaderOptions{})
	if check(err) {
		return true
	}
	corrupt = scan(r)

	r, err = Open(ctx, newMemObject(b), ReaderOptions{Cache: NewCache(1 << 20)})
	if check(err) {
		return true
	}
	if r.Properties().String() != wantProps.String() {
		t.Fatalf("%s: properties differ: %s", desc, r.Properties())
	}
	if got := r.RangeDels(); len(got) != len(rds) {
		t.Fatalf("%s: %d range dels, want %d", desc, len(got), len(rds))
	} else {
		for i := range got {
			if !bytes.Equal(got[i].Start, rds[i].Start) || !bytes.Equal(got[i].End, rds[i].End) || got[i].Seq != rds[i].Seq {
				t.Fatalf("%s: range del %d differs", desc, i)
			}
		}
	}

	// Gets first, so they meet blocks before the scan caches them.
	for i := 0; i < len(es); i += 3 {
		e := es[i]
		k, exp, v, ok, err := r.Get(ctx, e.key.User, e.key.Seq)
		if check(err) {
			corrupt = true
			continue
		}
		if !ok || !sameEntry(entry{k, exp, v}, e) {
			t.Fatalf("%s: Get(%s) = %t %s", desc, e.key, ok, entry{k, exp, v})
		}
	}

	return scan(r) || corrupt
}

// corruptionTable builds a small table with every kind of block populated.
func corruptionTable(t *testing.T, rng *rand.Rand, n int, opts WriterOptions) ([]byte, []entry, []RangeDel, Properties) {
	es := randEntries(rng, n)
	rds := randRangeDels(rng, 5)
	b, p := buildTable(t, opts, es, rds)
	r, _ := openTable(t, b, ReaderOptions{})
	return b, es, r.RangeDels(), p
}

func TestCorruptionByteFlips(t *testing.T) {
	for _, tc := range []struct {
		n      int
		opts   WriterOptions
		sample int // positions to try; 0 means all
	}{
		{n: 40, opts: WriterOptions{BlockSize: 128}},
		{n: 40, opts: WriterOptions{BlockSize: 128, DisableCompression: true}},
		{n: 2000, opts: WriterOptions{BlockSize: 1024}, sample: 1000},
	} {
		t.Run(fmt.Sprintf("n=%d/nocompress=%t", tc.n, tc.opts.DisableCompression), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(uint64(tc.n), 1))
			orig, es, rds, p := corruptionTable(t, rng, tc.n, tc.opts)
			if readAll(t, orig, es, rds, p, "original") {
				t.Fatal("original table reported corrupt")
			}
			// The cold scans of readAll must exercise readahead.
			r, obj := openTable(t, orig, ReaderOptions{})
			opened := obj.reads.Load()
			collect(r.NewIter(context.Background()))
			if n := obj.reads.Load() - opened; n >= int64(len(r.index)) || len(r.index) < 10 {
				t.Fatalf("cold scan made %d reads for %d blocks", n, len(r.index))
			}
			positions := make([]int, len(orig))
			for i := range positions {
				positions[i] = i
			}
			if tc.sample > 0 {
				rng.Shuffle(len(positions), func(i, j int) { positions[i], positions[j] = positions[j], positions[i] })
				positions = positions[:tc.sample]
			}
			t.Logf("%d-byte table, %d positions", len(orig), len(positions))
			b := make([]byte, len(orig))
			for _, pos := range positions {
				copy(b, orig)
				b[pos] ^= byte(1 + rng.IntN(255))
				// Every byte is covered by a checksum or the magic, so a
				// full read must notice.
				if !readAll(t, b, es, rds, p, fmt.Sprintf("flip at %d", pos)) {
					t.Fatalf("flip at %d went unnoticed", pos)
				}
			}
		})
	}
}

func TestCorruptionTruncation(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 9))
	orig, es, rds, p := corruptionTable(t, rng, 40, WriterOptions{BlockSize: 128})
	for n := 0; n < len(orig); n++ {
		desc := fmt.Sprintf("truncated to %d", n)
		if !readAll(t, orig[:n], es, rds, p, desc) {
			t.Fatalf("%s: went unnoticed", desc)
		}
		// Junk prepended keeps the footer intact but shifts every offset.
		if n > 0 && n < 200 {
			grown := append(bytes.Repeat([]byte{0}, n), orig...)
			if !readAll(t, grown, es, rds, p, fmt.Sprintf("%d bytes prepended", n)) {
				t.Fatalf("%d bytes prepended: went unnoticed", n)
			}
		}
	}
}

func FuzzOpen(f *testing.F) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, opts := range []WriterOptions{{BlockSize: 64}, {BlockSize: 64, DisableCompression: true}} {
		es := randEntries(rng, 20)
		b, _ := buildTable(f, opts, es, randRangeDels(rng, 2))
		f.Add(b)
	}
	empty, _ := buildTable(f, WriterOptions{}, nil, nil)
	f.Add(empty)
	f.Add([]byte(footerMagic))
	f.Fuzz(func(t *testing.T, b []byte) {
		ctx := context.Background()
		check := func(err error) {
			if err != nil && !errors.Is(err, ErrCorrupt) {
				t.Fatalf("error does not wrap ErrCorrupt: %v", err)
			}
		}
		r, err := Open(ctx, newMemObject(b), ReaderOptions{Cache: NewCache(1 << 20)})
		if err != nil {
			check(err)
			return
		}
		_ = r.Properties()
		_ = r.RangeDels()
		it := r.NewIter(ctx)
		var users [][]byte
		for ok := it.First(); ok; ok = it.Next() {
			users = append(users, bytes.Clone(it.Key().User))
		}
		check(it.Close())
		for _, u := range append(users, []byte("zz"), nil) {
			_, _, _, _, err := r.Get(ctx, u, MaxSeq)
			check(err)
			it := r.NewIter(ctx)
			it.SeekGE(u)
			check(it.Close())
		}
	})
}

// FuzzDecodeBlocks feeds arbitrary bytes to the decoders that run after a
// checksum has been verified. A checksum collision or a writer bug must
// still yield ErrCorrupt rather than a panic; FuzzOpen cannot reach these
// decoders because random input never passes the checksums.
func FuzzDecodeBlocks(f *testing.F) {
	bw := blockWriter{restartInterval: 2}
	for i := range 5 {
		bw.add(appendInternalKey(nil, []byte{'a' + byte(i)}, 1, KindSet), []byte{0, 'v'})
	}
	f.Add(bytes.Clone(bw.finish()))
	p := Properties{SmallestKey: []byte("a"), LargestKey: []byte("z"), NumEntries: 3}
	f.Add(p.encode(nil))
	filter, err := buildFilter([][]byte{[]byte("a")}, 10)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(filter)
	f.Fuzz(func(t *testing.T, b []byte) {
		check := func(err error) {
			if err != nil && !errors.Is(err, ErrCorrupt) {
				t.Fatalf("error does not wrap ErrCorrupt: %v", err)
			}
		}
		if blk, err := parseBlock(b, 0); err != nil {
			check(err)
		} else {
			var it blockIter
			it.init(blk, 0)
			for ok := it.first(); ok; ok = it.next() {
				_, _, _, err := decodeDataEntry(&it)
				check(err)
			}
			check(it.err)
			for _, u := range []string{"", "a", "c", "zz"} {
				it.init(blk, 0)
				it.seekGE(appendInternalKey(nil, []byte(u), 5, kindMax))
				check(it.err)
			}
		}
		_, err := decodeIndex(b, 0, 1000)
		check(err)
		_, err = decodeRangeDels(b, 0)
		check(err)
		_, err = decodeProperties(b)
		check(err)
		if fl, err := decodeFilter(b); err != nil {
			check(err)
		} else if fl != nil {
			fl.Test([]byte("a"))
		}
		_, err = decodeStoredBlock(b, 0)
		check(err)
	})
}
