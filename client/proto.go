package client

import (
	"errors"
	"fmt"

	"google.golang.org/protobuf/encoding/protowire"
)

// The s2.v1 protobuf messages (API 11) the client sends and receives,
// encoded with protowire: four small stable messages do not justify
// generated code and protoc in the build.

var errBadProto = errors.New("client: malformed protobuf message")

// appendProtoInput encodes an AppendInput.
func appendProtoInput(b []byte, in *AppendInput) []byte {
	for i := range in.Records {
		r := &in.Records[i]
		b = protowire.AppendTag(b, 1, protowire.BytesType)
		b = protowire.AppendVarint(b, uint64(protoRecordSize(r)))
		b = appendProtoRecord(b, r)
	}
	if in.MatchSeqNum != nil {
		b = protowire.AppendTag(b, 2, protowire.VarintType)
		b = protowire.AppendVarint(b, *in.MatchSeqNum)
	}
	if in.FencingToken != nil {
		b = protowire.AppendTag(b, 3, protowire.BytesType)
		b = protowire.AppendString(b, *in.FencingToken)
	}
	return b
}

func protoRecordSize(r *AppendRecord) int {
	n := 0
	if r.Timestamp != nil {
		n += protowire.SizeTag(1) + protowire.SizeVarint(*r.Timestamp)
	}
	for _, h := range r.Headers {
		n += protowire.SizeTag(2) + protowire.SizeBytes(protoHeaderSize(h))
	}
	if len(r.Body) > 0 {
		n += protowire.SizeTag(3) + protowire.SizeBytes(len(r.Body))
	}
	return n
}

func protoHeaderSize(h Header) int {
	// Both fields are written even when empty: an empty name marks a
	// command record, and writing it keeps the encoding unambiguous.
	return protowire.SizeTag(1) + protowire.SizeBytes(len(h.Name)) + protowire.SizeTag(2) + protowire.SizeBytes(len(h.Value))
}

func appendProtoRecord(b []byte, r *AppendRecord) []byte {
	if r.Timestamp != nil {
		b = protowire.AppendTag(b, 1, protowire.VarintType)
		b = protowire.AppendVarint(b, *r.Timestamp)
	}
	for _, h := range r.Headers {
		b = protowire.AppendTag(b, 2, protowire.BytesType)
		b = protowire.AppendVarint(b, uint64(protoHeaderSize(h)))
		b = protowire.AppendTag(b, 1, protowire.BytesType)
		b = protowire.AppendBytes(b, h.Name)
		b = protowire.AppendTag(b, 2, protowire.BytesType)
		b = protowire.AppendBytes(b, h.Value)
	}
	if len(r.Body) > 0 {
		b = protowire.AppendTag(b, 3, protowire.BytesType)
		b = protowire.AppendBytes(b, r.Body)
	}
	return b
}

// protoFields calls fn for each field of a message. fn gets the raw value
// for bytes fields and the number for varints.
func protoFields(b []byte, fn func(num protowire.Number, v []byte, x uint64) error) error {
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
			num = 0 // skipped
		}
		if n < 0 {
			return errBadProto
		}
		b = b[n:]
		if num == 0 {
			continue
		}
		if err := fn(num, v, x); err != nil {
			return err
		}
	}
	return nil
}

func decodeProtoPosition(b []byte) (Position, error) {
	var p Position
	err := protoFields(b, func(num protowire.Number, _ []byte, x uint64) error {
		switch num {
		case 1:
			p.SeqNum = x
		case 2:
			p.Timestamp = x
		}
		return nil
	})
	return p, err
}

func decodeProtoAppendAck(b []byte) (AppendAck, error) {
	var a AppendAck
	err := protoFields(b, func(num protowire.Number, v []byte, _ uint64) error {
		var err error
		switch num {
		case 1:
			a.Start, err = decodeProtoPosition(v)
		case 2:
			a.End, err = decodeProtoPosition(v)
		case 3:
			a.Tail, err = decodeProtoPosition(v)
		}
		return err
	})
	if err != nil {
		return AppendAck{}, fmt.Errorf("decoding AppendAck: %w", err)
	}
	return a, nil
}

// decodeProtoReadBatch decodes a ReadBatch. The records' bytes are copied
// out of b, so b may be reused.
func decodeProtoReadBatch(b []byte) (ReadBatch, error) {
	var rb ReadBatch
	err := protoFields(b, func(num protowire.Number, v []byte, _ uint64) error {
		switch num {
		case 1:
			r, err := decodeProtoRecord(v)
			if err != nil {
				return err
			}
			rb.Records = append(rb.Records, r)
		case 2:
			p, err := decodeProtoPosition(v)
			if err != nil {
				return err
			}
			rb.Tail = &p
		}
		return nil
	})
	if err != nil {
		return ReadBatch{}, fmt.Errorf("decoding ReadBatch: %w", err)
	}
	return rb, nil
}

func decodeProtoRecord(b []byte) (SequencedRecord, error) {
	var r SequencedRecord
	err := protoFields(b, func(num protowire.Number, v []byte, x uint64) error {
		switch num {
		case 1:
			r.SeqNum = x
		case 2:
			r.Timestamp = x
		case 3:
			var h Header
			err := protoFields(v, func(num protowire.Number, v []byte, _ uint64) error {
				switch num {
				case 1:
					h.Name = append([]byte{}, v...)
				case 2:
					h.Value = append([]byte{}, v...)
				}
				return nil
			})
			if err != nil {
				return err
			}
			if h.Name == nil {
				h.Name = []byte{}
			}
			if h.Value == nil {
				h.Value = []byte{}
			}
			r.Headers = append(r.Headers, h)
		case 4:
			r.Body = append([]byte{}, v...)
		}
		return nil
	})
	return r, err
}
