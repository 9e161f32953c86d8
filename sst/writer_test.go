package sst

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"testing"
)

func TestWriterRejects(t *testing.T) {
	k := func(user string, seq uint64, kind Kind) Key { return Key{User: []byte(user), Seq: seq, Kind: kind} }
	w := NewWriter(WriterOptions{})
	if err := w.Add(k("b", 5, KindSet), 0, []byte("v")); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		key    Key
		expiry int64
		value  []byte
	}{
		{"equal key", k("b", 5, KindSet), 0, nil},
		{"smaller user key", k("a", 9, KindSet), 0, nil},
		{"same user, higher seq", k("b", 6, KindSet), 0, nil},
		{"same user and seq, higher kind", Key{User: []byte("b"), Seq: 5, Kind: 2}, 0, nil},
		{"unknown kind", k("c", 1, 7), 0, nil},
		{"seq too large", k("c", MaxSeq+1, KindSet), 0, nil},
		{"negative expiry", k("c", 1, KindSet), -1, nil},
		{"delete with value", k("c", 1, KindDelete), 0, []byte("x")},
	} {
		if err := w.Add(tc.key, tc.expiry, tc.value); err == nil {
			t.Errorf("%s: Add(%s) accepted", tc.name, tc.key)
		}
	}
	// Rejections leave the writer usable.
	for _, key := range []Key{k("b", 5, KindDelete), k("b", 4, KindSet), k("c", MaxSeq, KindDelete)} {
		if err := w.Add(key, 0, nil); err != nil {
			t.Fatalf("Add(%s): %v", key, err)
		}
	}

	for _, rd := range []RangeDel{
		{Start: []byte("a"), End: []byte("a"), Seq: 1},
		{Start: []byte("b"), End: []byte("a"), Seq: 1},
		{Start: nil, End: nil, Seq: 1},
		{Start: []byte("a"), End: []byte("b"), Seq: MaxSeq + 1},
	} {
		if err := w.AddRangeDel(rd); err == nil {
			t.Errorf("AddRangeDel(%q, %q, %d) accepted", rd.Start, rd.End, rd.Seq)
		}
	}
	if err := w.AddRangeDel(RangeDel{Start: nil, End: []byte{0}, Seq: 1}); err != nil {
		t.Fatal(err)
	}

	est := w.EstimatedSize()
	b, p, err := w.Finish()
	if err != nil {
		t.Fatal(err)
	}
	if p.NumEntries != 4 || p.NumRangeDels != 1 || p.MaxSeq != MaxSeq {
		t.Fatalf("properties: %s", p)
	}
	if est < len(b)/2 || est > 2*len(b) {
		t.Errorf("EstimatedSize %d for a %d-byte table", est, len(b))
	}
	if err := w.Add(k("d", 1, KindSet), 0, nil); err == nil {
		t.Error("Add after Finish accepted")
	}
	if err := w.AddRangeDel(RangeDel{Start: []byte("x"), End: []byte("y")}); err == nil {
		t.Error("AddRangeDel after Finish accepted")
	}
	if _, _, err := w.Finish(); err == nil {
		t.Error("second Finish accepted")
	}
}

func TestWriterDeterministic(t *testing.T) {
	build := func() []byte {
		w := NewWriter(WriterOptions{BlockSize: 64})
		for i := range 100 {
			if err := w.Add(Key{User: []byte{byte(i)}, Seq: 1, Kind: KindSet}, 0, bytes.Repeat([]byte{'x'}, i)); err != nil {
				t.Fatal(err)
			}
		}
		b, _, err := w.Finish()
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	if !bytes.Equal(build(), build()) {
		t.Fatal("same input produced different tables")
	}
}

func TestCompare(t *testing.T) {
	keys := []Key{
		{User: nil, Seq: 5, Kind: KindSet},
		{User: []byte("a"), Seq: 9, Kind: KindSet},
		{User: []byte("a"), Seq: 9, Kind: KindDelete},
		{User: []byte("a"), Seq: 2, Kind: KindSet},
		{User: []byte("a\x00"), Seq: MaxSeq, Kind: KindSet},
		{User: []byte("b"), Seq: 0, Kind: KindDelete},
	}
	for i := range keys {
		for j := range keys {
			want := 0
			if i < j {
				want = -1
			} else if i > j {
				want = 1
			}
			if got := Compare(keys[i], keys[j]); got != want {
				t.Errorf("Compare(%s, %s) = %d, want %d", keys[i], keys[j], got, want)
			}
			a := appendInternalKey(nil, keys[i].User, keys[i].Seq, keys[i].Kind)
			b := appendInternalKey(nil, keys[j].User, keys[j].Seq, keys[j].Kind)
			if got := compareInternal(a, b); got != want {
				t.Errorf("compareInternal(%s, %s) = %d, want %d", keys[i], keys[j], got, want)
			}
		}
	}
}

// TestCompressionSkip checks the writer's backoff on incompressible data:
// such blocks are stored raw, compressible blocks that follow are
// compressed again within maxCompressionSkip blocks, compressible data
// alone is always compressed, and every entry reads back.
func TestCompressionSkip(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 5))
	random := func(n int) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(rng.Uint32())
		}
		return b
	}
	var es []entry
	add := func(n int, value func() []byte) {
		for range n {
			es = append(es, entry{key: Key{User: fmt.Appendf(nil, "k%07d", len(es)), Seq: 1, Kind: KindSet}, value: value()})
		}
	}
	// About 4 entries per 4 KiB block.
	add(400, func() []byte { return random(1000) })                    // incompressible
	add(400, func() []byte { return bytes.Repeat([]byte("ab"), 500) }) // compressible
	add(400, func() []byte { return random(1000) })
	b, _ := buildTable(t, WriterOptions{}, es, nil)
	r, _ := openTable(t, b, ReaderOptions{})
	checkEntries(t, collect(r.NewIter(context.Background())), es)

	phase := func(i int) int { return blockFirstEntry(r, es, i) / 400 }
	var types [3][]byte
	for i, e := range r.index {
		p := phase(i)
		types[p] = append(types[p], b[e.h.end()-blockTrailerLen])
	}
	for _, p := range []int{0, 2} {
		for i, typ := range types[p] {
			if typ != compressionNone {
				t.Fatalf("phase %d block %d: random data stored with compression %d", p, i, typ)
			}
		}
	}
	// The compressible phase starts after up to maxCompressionSkip raw
	// blocks, then every block is compressed.
	first := bytes.IndexByte(types[1], compressionSnappy)
	if first < 0 || first > maxCompressionSkip+1 {
		t.Fatalf("compressible blocks first compressed at block %d of %d", first, len(types[1]))
	}
	for i := first; i < len(types[1])-1; i++ { // the last may mix phases
		if types[1][i] != compressionSnappy {
			t.Fatalf("compressible block %d stored raw after compression resumed at %d", i, first)
		}
	}

	// Compressible data alone: every data block compressed.
	b, _ = buildTable(t, WriterOptions{}, es[400:800], nil)
	r, _ = openTable(t, b, ReaderOptions{})
	for i, e := range r.index {
		if typ := b[e.h.end()-blockTrailerLen]; typ != compressionSnappy {
			t.Fatalf("block %d of compressible data stored with type %d", i, typ)
		}
	}
}

// blockFirstEntry returns the index in es of the first entry of block i.
func blockFirstEntry(r *Reader, es []entry, i int) int {
	for j, e := range es {
		if blockOf(r, e) == i {
			return j
		}
	}
	return -1
}
