package server

import (
	"bytes"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/s2lite/s2lite/stream"
)

// readBatchJSON is the reference for appendReadBatchJSON: the batch as the
// jsonReadBatch that encoding/json renders.
func readBatchJSON(b stream.ReadBatch, f recordFormat) jsonReadBatch {
	out := jsonReadBatch{Records: make([]jsonSequencedRecord, len(b.Records)), Tail: optPositionJSON(b.Tail)}
	for i, r := range b.Records {
		rec := jsonSequencedRecord{SeqNum: r.SeqNum, Timestamp: r.Timestamp, Body: f.encode(r.Body)}
		if len(r.Headers) > 0 {
			rec.Headers = make([][2]string, len(r.Headers))
			for j, h := range r.Headers {
				rec.Headers[j] = [2]string{f.encode(h.Name), f.encode(h.Value)}
			}
		}
		out.Records[i] = rec
	}
	return out
}

// TestAppendReadBatchJSON holds the hand-written encoder to encoding/json's
// output, byte for byte, on records built from the characters JSON treats
// specially: quotes, backslashes, every control character, DEL, HTML
// characters, U+2028/U+2029, U+FFFD itself and invalid UTF-8 runs.
func TestAppendReadBatchJSON(t *testing.T) {
	pieces := [][]byte{
		[]byte("a"), []byte("Zz09"), []byte(`"`), []byte(`\`), []byte("<>&"), []byte("\x7f"),
		[]byte("\u2028"), []byte("\u2029"), []byte("\uFFFD"), []byte("é"), []byte("日本"), []byte("😀"),
		{0xff}, {0xe2, 0x82}, {0xc0, 0xaf}, {0xed, 0xa0, 0x80}, {0x80, 0x80},
	}
	for c := byte(0); c < 0x20; c++ {
		pieces = append(pieces, []byte{c})
	}
	r := rand.New(rand.NewPCG(1, 2))
	field := func() []byte {
		var b []byte
		for n := r.IntN(8); n > 0; n-- {
			b = append(b, pieces[r.IntN(len(pieces))]...)
		}
		return b
	}
	for i := range 2000 {
		var rb stream.ReadBatch
		for n := r.IntN(4); n > 0; n-- {
			rec := stream.SequencedRecord{SeqNum: r.Uint64() >> r.IntN(64), Timestamp: r.Uint64() >> r.IntN(64), Body: field()}
			for h := r.IntN(3); h > 0; h-- {
				rec.Headers = append(rec.Headers, stream.Header{Name: field(), Value: field()})
			}
			rb.Records = append(rb.Records, rec)
		}
		if r.IntN(2) == 0 {
			rb.Tail = &stream.StreamPosition{SeqNum: r.Uint64(), Timestamp: r.Uint64() >> 20}
		}
		for _, f := range []recordFormat{formatRaw, formatBase64} {
			want, err := marshalJSON(readBatchJSON(rb, f))
			if err != nil {
				t.Fatal(err)
			}
			if got := appendReadBatchJSON([]byte("prefix"), rb, f); !bytes.Equal(got[len("prefix"):], want) {
				t.Fatalf("case %d, format %v:\n got  %s\n want %s\n records %s", i, f, got[len("prefix"):], want, fmt.Sprint(rb.Records))
			}
		}
	}
}

// TestJSONReadBatchBound: the bound the memory budget reserves is never
// below what the encoder writes, for text, control bytes, invalid UTF-8,
// line separators and base64.
func TestJSONReadBatchBound(t *testing.T) {
	bodies := [][]byte{
		nil, []byte("plain text"), make([]byte, 1000), []byte("\"\\\n\r\t\b\f\x01\x7f"),
		{0xff, 0xfe, 0x80, 'a', 0xc3}, []byte("\u2028\u2029 héllo 日本"), bytes.Repeat([]byte{0xe2, 0x80, 0xa8}, 300),
	}
	for _, f := range []recordFormat{formatRaw, formatBase64} {
		var rb stream.ReadBatch
		for i, body := range bodies {
			rb.Records = append(rb.Records, stream.SequencedRecord{SeqNum: math.MaxUint64 - uint64(i), Timestamp: math.MaxUint64,
				Headers: []stream.Header{{Name: body, Value: body}}, Body: body})
			for _, tail := range []*stream.StreamPosition{nil, {SeqNum: math.MaxUint64, Timestamp: math.MaxUint64}} {
				rb.Tail = tail
				if got, bound := len(appendReadBatchJSON(nil, rb, f)), jsonReadBatchBound(rb, f); got > bound {
					t.Fatalf("format %v, %d records: encoded %d bytes, bound %d", f, len(rb.Records), got, bound)
				}
				if got, bound := len(appendReadBatch(nil, rb)), protoReadBatchBound(rb); got > bound {
					t.Fatalf("protobuf, %d records: encoded %d bytes, bound %d", len(rb.Records), got, bound)
				}
			}
		}
	}
}
