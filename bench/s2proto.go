package main

import (
	"errors"
	"fmt"

	"google.golang.org/protobuf/encoding/protowire"
)

// The few s2.v1 protobuf messages the benchmark client needs (API 11),
// hand-encoded with protowire. Written from the API document, not from the
// server's code.

// position is an s2.v1.StreamPosition.
type position struct {
	SeqNum    uint64 `json:"seq_num"`
	Timestamp uint64 `json:"timestamp"`
}

// appendAck is an s2.v1.AppendAck.
type appendAck struct {
	Start position `json:"start"`
	End   position `json:"end"`
	Tail  position `json:"tail"`
}

// readBatchInfo is what the benchmark keeps of an s2.v1.ReadBatch: the
// sequence numbers and body sizes of its records, and the tail if set.
type readBatchInfo struct {
	Seqs      []uint64
	BodyBytes int64
	HasTail   bool
	Tail      position
}

// encodeAppendInput encodes an AppendInput of records with the given
// bodies (no headers, no timestamps, no match_seq_num, no fencing token).
func encodeAppendInput(bodies [][]byte) []byte {
	size := 0
	for _, b := range bodies {
		rec := recordSize(b)
		size += protowire.SizeTag(1) + protowire.SizeBytes(rec)
	}
	out := make([]byte, 0, size)
	for _, b := range bodies {
		out = protowire.AppendTag(out, 1, protowire.BytesType)
		out = protowire.AppendVarint(out, uint64(recordSize(b)))
		if len(b) > 0 {
			out = protowire.AppendTag(out, 3, protowire.BytesType) // AppendRecord.body
			out = protowire.AppendBytes(out, b)
		}
	}
	return out
}

func recordSize(body []byte) int {
	if len(body) == 0 {
		return 0
	}
	return protowire.SizeTag(3) + protowire.SizeBytes(len(body))
}

var errBadProto = errors.New("bad protobuf")

// walk calls fn for each field of a message.
func walk(b []byte, fn func(num protowire.Number, typ protowire.Type, v []byte, x uint64) error) error {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return errBadProto
		}
		b = b[n:]
		var v []byte
		var x uint64
		switch typ {
		case protowire.VarintType:
			x, n = protowire.ConsumeVarint(b)
		case protowire.BytesType:
			v, n = protowire.ConsumeBytes(b)
		default:
			n = protowire.ConsumeFieldValue(num, typ, b)
		}
		if n < 0 {
			return errBadProto
		}
		b = b[n:]
		if err := fn(num, typ, v, x); err != nil {
			return err
		}
	}
	return nil
}

func decodePosition(b []byte) (position, error) {
	var p position
	err := walk(b, func(num protowire.Number, typ protowire.Type, _ []byte, x uint64) error {
		switch {
		case num == 1 && typ == protowire.VarintType:
			p.SeqNum = x
		case num == 2 && typ == protowire.VarintType:
			p.Timestamp = x
		}
		return nil
	})
	return p, err
}

func decodeAppendAck(b []byte) (appendAck, error) {
	var a appendAck
	err := walk(b, func(num protowire.Number, typ protowire.Type, v []byte, _ uint64) error {
		if typ != protowire.BytesType {
			return nil
		}
		p, err := decodePosition(v)
		if err != nil {
			return err
		}
		switch num {
		case 1:
			a.Start = p
		case 2:
			a.End = p
		case 3:
			a.Tail = p
		}
		return nil
	})
	return a, err
}

// decodeReadBatch decodes a ReadBatch, keeping sequence numbers and body
// sizes only.
func decodeReadBatch(b []byte, rb *readBatchInfo) error {
	rb.Seqs = rb.Seqs[:0]
	rb.BodyBytes = 0
	rb.HasTail = false
	return walk(b, func(num protowire.Number, typ protowire.Type, v []byte, _ uint64) error {
		if typ != protowire.BytesType {
			return nil
		}
		switch num {
		case 1: // SequencedRecord
			var seq uint64
			err := walk(v, func(num protowire.Number, typ protowire.Type, v []byte, x uint64) error {
				switch {
				case num == 1 && typ == protowire.VarintType:
					seq = x
				case num == 4 && typ == protowire.BytesType:
					rb.BodyBytes += int64(len(v))
				}
				return nil
			})
			if err != nil {
				return err
			}
			rb.Seqs = append(rb.Seqs, seq)
		case 2:
			p, err := decodePosition(v)
			if err != nil {
				return err
			}
			rb.HasTail, rb.Tail = true, p
		}
		return nil
	})
}

// S2S framing (API 10.2): 3-byte length (flag + body), 1-byte flag, body.
const (
	s2sFlagTerminal    = 0x80
	s2sFlagCompression = 0x60
	s2sMaxFrame        = 2 << 20
)

func s2sFrame(msg []byte) []byte {
	n := len(msg) + 1
	f := make([]byte, 4, 4+len(msg))
	f[0], f[1], f[2], f[3] = byte(n>>16), byte(n>>8), byte(n), 0
	return append(f, msg...)
}

// terminalError is the error carried by an S2S terminal message.
type terminalError struct {
	Status int
	Body   string
}

func (e *terminalError) Error() string { return fmt.Sprintf("s2s terminal %d: %s", e.Status, e.Body) }
