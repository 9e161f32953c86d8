package engine

import (
	"bytes"
	"fmt"
	"testing"
	"time"
)

// TestBatchCopies: a batch owns copies of what it is given, packed into
// shared chunks without one copy ever reaching into another.
func TestBatchCopies(t *testing.T) {
	b := NewBatch()
	var want [][2][]byte
	src := make([]byte, 0, 64)
	for i := range 300 {
		key := fmt.Appendf(nil, "key-%03d", i)
		val := bytes.Repeat([]byte{byte(i)}, i%97)
		if i == 150 {
			val = bytes.Repeat([]byte{'L'}, batchChunkMax) // its own allocation
		}
		src = append(src[:0], val...)
		b.Set(key, src)
		if len(src) > 0 {
			src[0]++ // the caller reuses its buffer
		}
		want = append(want, [2][]byte{key, val})
	}
	b.Delete([]byte("gone"))
	for i, o := range b.ops[:300] {
		// Growing one copy must not overwrite the next.
		_ = append(o.key, 'X')
		_ = append(o.value, 'X')
		if o.value == nil {
			t.Fatalf("op %d: an empty value became nil", i)
		}
	}
	for i, o := range b.ops[:300] {
		if !bytes.Equal(o.key, want[i][0]) || !bytes.Equal(o.value, want[i][1]) {
			t.Fatalf("op %d: got %q = %d bytes, want %q = %d bytes", i, o.key, len(o.value), want[i][0], len(want[i][1]))
		}
	}
	if d := b.ops[300]; d.value != nil || string(d.key) != "gone" {
		t.Fatalf("delete op: key %q, value %v", d.key, d.value)
	}
	if cap(b.chunk) > batchChunkMax {
		t.Fatalf("chunk of %d bytes, at most %d", cap(b.chunk), batchChunkMax)
	}

	// Reset starts a new chunk: what was submitted keeps its bytes.
	kept := b.ops[0].key
	b.Reset()
	b.Set([]byte("zzzzzzz"), nil)
	if string(kept) != "key-000" {
		t.Fatalf("Reset let a new write overwrite an old one: %q", kept)
	}
}

// SetDeferred hands out the batch's own memory: what the caller writes
// there is the value, with no copy, and no two operations share bytes.
func TestBatchSetDeferred(t *testing.T) {
	b, plain := NewBatch(), NewBatch()
	exp := time.UnixMilli(1_700_000_000_000)
	var got [][]byte
	for i := range 200 {
		key := fmt.Appendf(nil, "key-%03d", i)
		n := 9 + i%50
		if i%40 == 7 {
			n = batchChunkMax // its own allocation
		}
		val := bytes.Repeat([]byte{byte(i)}, n)
		if i%3 == 0 {
			b.Set(key, val)
		} else {
			dst := b.SetDeferred(key, n, exp)
			if len(dst) != n || cap(dst) != n {
				t.Fatalf("op %d: %d bytes of capacity %d, want %d", i, len(dst), cap(dst), n)
			}
			copy(dst, val)
			got = append(got, dst)
		}
		plain.SetWithExpiry(key, val, exp)
		if i%3 == 0 {
			plain.ops[i].expiry = 0
		}
	}
	if b.Size() != plain.Size() || b.Len() != plain.Len() {
		t.Fatalf("size %d, %d ops; the same operations through Set: %d, %d", b.Size(), b.Len(), plain.Size(), plain.Len())
	}
	for i, o := range b.ops {
		_ = append(o.value, 'X') // growing one value must not reach the next
		p := plain.ops[i]
		if !bytes.Equal(o.key, p.key) || !bytes.Equal(o.value, p.value) || o.expiry != p.expiry {
			t.Fatalf("op %d: %q = %d bytes (expiry %d); want %q = %d bytes (expiry %d)", i, o.key, len(o.value), o.expiry, p.key, len(p.value), p.expiry)
		}
	}
	// The returned slices are the values themselves.
	got[0][0] ^= 0xff
	if b.ops[1].value[0] != got[0][0] {
		t.Fatal("the value SetDeferred returned is not the one the batch holds")
	}
}
