package engine

import (
	"bytes"
	"fmt"
	"testing"
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
