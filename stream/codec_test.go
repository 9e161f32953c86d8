package stream

import (
	"bytes"
	"math/rand/v2"
	"testing"
)

func TestRecordValueLen(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	field := func() []byte {
		// Lengths on both sides of every varint width up to 3 bytes.
		sizes := []int{0, 1, 127, 128, 16383, 16384, 20000}
		return bytes.Repeat([]byte{'h'}, sizes[r.IntN(len(sizes))])
	}
	for range 500 {
		var hs []Header
		for range r.IntN(4) {
			hs = append(hs, Header{Name: field(), Value: field()})
		}
		body := field()
		enc := appendRecordValue(nil, r.Uint64(), hs, body)
		if got := recordValueLen(hs, body); got != len(enc) {
			t.Fatalf("recordValueLen = %d, encoding is %d bytes (%d headers, body %d)", got, len(enc), len(hs), len(body))
		}
	}
}
