package server

import (
	"errors"
	"fmt"
	"slices"
	"unicode/utf8"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/s2lite/s2lite/stream"
)

// Protobuf messages of package s2.v1 (API 11), hand-encoded with protowire:
// the handful of messages is small and stable, and this keeps protoc out of
// the build. Field numbers follow s2/v1/s2.proto.

var errProto = errors.New("invalid protobuf message")

func protoErrorf(format string, args ...any) error {
	return fmt.Errorf("%w: %s", errProto, fmt.Sprintf(format, args...))
}

// protoFields walks the fields of a message, calling fn for each; fn
// returns how many bytes of b it consumed, or a negative protowire error
// code. Unknown fields are skipped by fn returning skipField.
func protoFields(b []byte, fn func(num protowire.Number, typ protowire.Type, b []byte) (int, error)) error {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return protoErrorf("tag: %v", protowire.ParseError(n))
		}
		b = b[n:]
		m, err := fn(num, typ, b)
		if err != nil {
			return err
		}
		if m == skipField {
			m = protowire.ConsumeFieldValue(num, typ, b)
		}
		if m < 0 {
			return protoErrorf("field %d: %v", num, protowire.ParseError(m))
		}
		b = b[m:]
	}
	return nil
}

// skipField tells protoFields to skip the value of an unknown field.
const skipField = -1 << 30

func consumeVarint(typ protowire.Type, b []byte) (uint64, int, error) {
	if typ != protowire.VarintType {
		return 0, 0, protoErrorf("wire type %d, expected varint", typ)
	}
	v, n := protowire.ConsumeVarint(b)
	if n < 0 {
		return 0, 0, protoErrorf("varint: %v", protowire.ParseError(n))
	}
	return v, n, nil
}

func consumeBytes(typ protowire.Type, b []byte) ([]byte, int, error) {
	if typ != protowire.BytesType {
		return nil, 0, protoErrorf("wire type %d, expected length-delimited", typ)
	}
	v, n := protowire.ConsumeBytes(b)
	if n < 0 {
		return nil, 0, protoErrorf("bytes: %v", protowire.ParseError(n))
	}
	return v, n, nil
}

// fieldBytes is a bytes field as a slice of the message buffer, nil when
// empty, with its capacity ending at its length. It is not a copy: the
// stream layer copies an AppendInput's records into the batch it writes
// before Submit returns, so a request body or frame is never held longer
// (and none is reused while an input decoded from it is in use).
func fieldBytes(b []byte) []byte {
	if len(b) == 0 {
		return nil
	}
	return b[:len(b):len(b)]
}

// decodeAppendInput decodes an s2.v1.AppendInput.
// errBatchLimit is a batch found past the API's limits while it was being
// decoded (API 2.4): decoding stops there, before the rest of the input
// costs memory and time. It is a validation failure, 422 invalid.
type errBatchLimit struct{ msg string }

func (e *errBatchLimit) Error() string { return e.msg }

func batchLimitError(records int, metered uint64) error {
	switch {
	case records > stream.MaxBatchRecords:
		return &errBatchLimit{fmt.Sprintf("record batch must not exceed %d records", stream.MaxBatchRecords)}
	case metered > stream.MaxBatchBytes:
		return &errBatchLimit{"record batch must not exceed a metered size of 1 MiB"}
	}
	return nil
}

// recordLimitError reports one record past the record limit with the
// message validation gives it (it comes before the batch's).
func recordLimitError(r stream.AppendRecord) error {
	if r.MeteredBytes() > stream.MaxRecordBytes {
		return &errBatchLimit{"record must have metered size less than 1 MiB"}
	}
	return nil
}

func decodeAppendInput(b []byte) (stream.AppendInput, error) {
	var in stream.AppendInput
	var metered uint64
	err := protoFields(b, func(num protowire.Number, typ protowire.Type, b []byte) (int, error) {
		switch num {
		case 1:
			v, n, err := consumeBytes(typ, b)
			if err != nil {
				return 0, err
			}
			if err := batchLimitError(len(in.Records)+1, metered); err != nil {
				return 0, err
			}
			rec, err := decodeAppendRecord(v)
			if err != nil {
				return 0, err
			}
			if err := recordLimitError(rec); err != nil {
				return 0, err
			}
			metered += rec.MeteredBytes()
			if err := batchLimitError(len(in.Records)+1, metered); err != nil {
				return 0, err
			}
			in.Records = append(in.Records, rec)
			return n, nil
		case 2:
			v, n, err := consumeVarint(typ, b)
			if err != nil {
				return 0, err
			}
			in.MatchSeqNum = &v
			return n, nil
		case 3:
			v, n, err := consumeBytes(typ, b)
			if err != nil {
				return 0, err
			}
			if !utf8.Valid(v) {
				return 0, protoErrorf("fencing_token: invalid UTF-8")
			}
			s := string(v)
			in.FencingToken = &s
			return n, nil
		}
		return skipField, nil
	})
	return in, err
}

func decodeAppendRecord(b []byte) (stream.AppendRecord, error) {
	var r stream.AppendRecord
	err := protoFields(b, func(num protowire.Number, typ protowire.Type, b []byte) (int, error) {
		switch num {
		case 1:
			v, n, err := consumeVarint(typ, b)
			if err != nil {
				return 0, err
			}
			r.Timestamp = &v
			return n, nil
		case 2:
			v, n, err := consumeBytes(typ, b)
			if err != nil {
				return 0, err
			}
			h, err := decodeHeader(v)
			if err != nil {
				return 0, err
			}
			r.Headers = append(r.Headers, h)
			return n, nil
		case 3:
			v, n, err := consumeBytes(typ, b)
			if err != nil {
				return 0, err
			}
			r.Body = fieldBytes(v)
			return n, nil
		}
		return skipField, nil
	})
	return r, err
}

func decodeHeader(b []byte) (stream.Header, error) {
	var h stream.Header
	err := protoFields(b, func(num protowire.Number, typ protowire.Type, b []byte) (int, error) {
		switch num {
		case 1, 2:
			v, n, err := consumeBytes(typ, b)
			if err != nil {
				return 0, err
			}
			if num == 1 {
				h.Name = fieldBytes(v)
			} else {
				h.Value = fieldBytes(v)
			}
			return n, nil
		}
		return skipField, nil
	})
	return h, err
}

func appendPosition(b []byte, num protowire.Number, p stream.StreamPosition) []byte {
	var m []byte
	if p.SeqNum != 0 {
		m = protowire.AppendTag(m, 1, protowire.VarintType)
		m = protowire.AppendVarint(m, p.SeqNum)
	}
	if p.Timestamp != 0 {
		m = protowire.AppendTag(m, 2, protowire.VarintType)
		m = protowire.AppendVarint(m, p.Timestamp)
	}
	b = protowire.AppendTag(b, num, protowire.BytesType)
	return protowire.AppendBytes(b, m)
}

// encodeAppendAck encodes an s2.v1.AppendAck.
func encodeAppendAck(a stream.AppendAck) []byte {
	b := make([]byte, 0, 64)
	b = appendPosition(b, 1, a.Start)
	b = appendPosition(b, 2, a.End)
	return appendPosition(b, 3, a.Tail)
}

func appendBytesField(b []byte, num protowire.Number, v []byte) []byte {
	if len(v) == 0 {
		return b
	}
	b = protowire.AppendTag(b, num, protowire.BytesType)
	return protowire.AppendBytes(b, v)
}

func sizeBytesField(num protowire.Number, v []byte) int {
	if len(v) == 0 {
		return 0
	}
	return protowire.SizeTag(num) + protowire.SizeBytes(len(v))
}

func headerSize(h stream.Header) int {
	return sizeBytesField(1, h.Name) + sizeBytesField(2, h.Value)
}

func sequencedRecordSize(r stream.SequencedRecord) int {
	n := 0
	if r.SeqNum != 0 {
		n += protowire.SizeTag(1) + protowire.SizeVarint(r.SeqNum)
	}
	if r.Timestamp != 0 {
		n += protowire.SizeTag(2) + protowire.SizeVarint(r.Timestamp)
	}
	for _, h := range r.Headers {
		n += protowire.SizeTag(3) + protowire.SizeBytes(headerSize(h))
	}
	return n + sizeBytesField(4, r.Body)
}

// encodeReadBatch encodes an s2.v1.ReadBatch into a new buffer.
func encodeReadBatch(rb stream.ReadBatch) []byte { return appendReadBatch(nil, rb) }

// appendReadBatch appends an encoded s2.v1.ReadBatch to b. Sizes are
// computed first so that a 1 MiB batch is written without regrowing b; a
// session passes the same b for every batch, so it allocates none.
func appendReadBatch(b []byte, rb stream.ReadBatch) []byte {
	b = slices.Grow(b, protoReadBatchBound(rb))
	for _, r := range rb.Records {
		b = protowire.AppendTag(b, 1, protowire.BytesType)
		b = protowire.AppendVarint(b, uint64(sequencedRecordSize(r)))
		if r.SeqNum != 0 {
			b = protowire.AppendTag(b, 1, protowire.VarintType)
			b = protowire.AppendVarint(b, r.SeqNum)
		}
		if r.Timestamp != 0 {
			b = protowire.AppendTag(b, 2, protowire.VarintType)
			b = protowire.AppendVarint(b, r.Timestamp)
		}
		for _, h := range r.Headers {
			b = protowire.AppendTag(b, 3, protowire.BytesType)
			b = protowire.AppendVarint(b, uint64(headerSize(h)))
			b = appendBytesField(b, 1, h.Name)
			b = appendBytesField(b, 2, h.Value)
		}
		b = appendBytesField(b, 4, r.Body)
	}
	if rb.Tail != nil {
		b = appendPosition(b, 2, *rb.Tail)
	}
	return b
}

// protoReadBatchBound is an upper bound of len(appendReadBatch(nil, rb)).
func protoReadBatchBound(rb stream.ReadBatch) int {
	size := 32 // the tail
	for _, r := range rb.Records {
		size += protowire.SizeTag(1) + protowire.SizeBytes(sequencedRecordSize(r))
	}
	return size
}
