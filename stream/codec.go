package stream

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// Value encodings of per-stream state and records. Both are private to
// this package; every field is fixed-width or length-prefixed so decoding
// never guesses.

// errCorrupt marks a stored value that does not decode.
var errCorrupt = errors.New("stream: corrupt stored value")

// streamState is the per-stream state written with every append batch.
type streamState struct {
	// next is the next sequence number to assign (the tail).
	next uint64
	// lastTimestamp is the timestamp of the last record (0 if none).
	lastTimestamp uint64
	// trimPoint: records with seq_num below it are deleted.
	trimPoint uint64
	// lastAppendMillis is the wall time of the last append, for
	// delete-on-empty.
	lastAppendMillis uint64
	// token is the fencing token ("" initially).
	token string
}

func (s streamState) tail() StreamPosition {
	return StreamPosition{SeqNum: s.next, Timestamp: s.lastTimestamp}
}

const stateFixedLen = 32

func encodeState(s streamState) []byte {
	b := make([]byte, 0, stateFixedLen+len(s.token))
	b = binary.BigEndian.AppendUint64(b, s.next)
	b = binary.BigEndian.AppendUint64(b, s.lastTimestamp)
	b = binary.BigEndian.AppendUint64(b, s.trimPoint)
	b = binary.BigEndian.AppendUint64(b, s.lastAppendMillis)
	return append(b, s.token...)
}

func decodeState(b []byte) (streamState, error) {
	if len(b) < stateFixedLen {
		return streamState{}, fmt.Errorf("%w: stream state of %d bytes", errCorrupt, len(b))
	}
	return streamState{
		next:             binary.BigEndian.Uint64(b[0:]),
		lastTimestamp:    binary.BigEndian.Uint64(b[8:]),
		trimPoint:        binary.BigEndian.Uint64(b[16:]),
		lastAppendMillis: binary.BigEndian.Uint64(b[24:]),
		token:            string(b[32:]),
	}, nil
}

// encodeRecord stores timestamp, headers and body; the sequence number is
// in the key.
func encodeRecord(ts uint64, headers []Header, body []byte) []byte {
	size := 8 + binary.MaxVarintLen64 + len(body)
	for _, h := range headers {
		size += 2*binary.MaxVarintLen64 + len(h.Name) + len(h.Value)
	}
	return appendRecordValue(make([]byte, 0, size), ts, headers, body)
}

// appendRecordValue appends encodeRecord's encoding to dst.
// recordValueLen is the length of appendRecordValue's encoding.
func recordValueLen(headers []Header, body []byte) int {
	n := 8 + uvarintLen(uint64(len(headers)))
	for _, h := range headers {
		n += uvarintLen(uint64(len(h.Name))) + len(h.Name) + uvarintLen(uint64(len(h.Value))) + len(h.Value)
	}
	return n + len(body)
}

func uvarintLen(x uint64) int {
	n := 1
	for x >= 0x80 {
		x >>= 7
		n++
	}
	return n
}

func appendRecordValue(dst []byte, ts uint64, headers []Header, body []byte) []byte {
	dst = binary.BigEndian.AppendUint64(dst, ts)
	dst = binary.AppendUvarint(dst, uint64(len(headers)))
	for _, h := range headers {
		dst = binary.AppendUvarint(dst, uint64(len(h.Name)))
		dst = append(dst, h.Name...)
		dst = binary.AppendUvarint(dst, uint64(len(h.Value)))
		dst = append(dst, h.Value...)
	}
	return append(dst, body...)
}

// decodeRecord decodes a stored record in plain form (an encrypted one is
// corrupt here: see decodeStored). The result aliases b: pass a copy when b
// is only valid for a while (an engine iterator's value).
func decodeRecord(seq uint64, b []byte) (SequencedRecord, error) {
	if len(b) < 8 {
		return SequencedRecord{}, fmt.Errorf("%w: record %d of %d bytes", errCorrupt, seq, len(b))
	}
	if isSealed(b) {
		return SequencedRecord{}, fmt.Errorf("%w: record %d is encrypted", errCorrupt, seq)
	}
	return decodeRecordPayload(seq, binary.BigEndian.Uint64(b), b[8:])
}

// decodeRecordPayload decodes what follows the timestamp of a plain record
// (and what an encrypted one opens to). The result aliases b.
func decodeRecordPayload(seq, ts uint64, b []byte) (SequencedRecord, error) {
	r := SequencedRecord{SeqNum: seq, Timestamp: ts}
	n, k := binary.Uvarint(b)
	if k <= 0 || n > uint64(len(b)) {
		return SequencedRecord{}, fmt.Errorf("%w: record %d header count", errCorrupt, seq)
	}
	b = b[k:]
	if n > 0 {
		r.Headers = make([]Header, n)
	}
	field := func() ([]byte, bool) {
		l, k := binary.Uvarint(b)
		if k <= 0 || l > uint64(len(b)-k) {
			return nil, false
		}
		f := b[k : k+int(l) : k+int(l)]
		b = b[k+int(l):]
		return f, true
	}
	for i := range r.Headers {
		name, ok1 := field()
		value, ok2 := field()
		if !ok1 || !ok2 {
			return SequencedRecord{}, fmt.Errorf("%w: record %d header %d", errCorrupt, seq, i)
		}
		r.Headers[i] = Header{Name: name, Value: value}
	}
	r.Body = b
	return r, nil
}
