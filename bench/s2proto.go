package main

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/s2lite/s2lite/client"
	"google.golang.org/protobuf/encoding/protowire"
)

// The protobuf and S2S framing the benchmark's raw paths need (API 10.2,
// 11), written from the API document: encoding batches before a run,
// reading acks, and counting the records of a read batch without copying
// them. Why those paths are raw is said in s2client.go.

// encodeAppendInput encodes an s2.v1.AppendInput of records with the given
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

// walk calls fn for each field of a message: v for bytes fields, x for
// varints.
func walk(b []byte, fn func(num protowire.Number, typ protowire.Type, v []byte, x uint64)) error {
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
		fn(num, typ, v, x)
	}
	return nil
}

// decodeAppendAck decodes an s2.v1.AppendAck: start, end and tail (1, 2,
// 3), each an s2.v1.StreamPosition (seq_num = 1, timestamp = 2).
func decodeAppendAck(b []byte) (client.AppendAck, error) {
	var a client.AppendAck
	var perr error
	err := walk(b, func(num protowire.Number, typ protowire.Type, v []byte, _ uint64) {
		if typ != protowire.BytesType || num < 1 || num > 3 {
			return
		}
		p := [...]*client.Position{&a.Start, &a.End, &a.Tail}[num-1]
		if err := walk(v, func(num protowire.Number, typ protowire.Type, _ []byte, x uint64) {
			switch {
			case num == 1 && typ == protowire.VarintType:
				p.SeqNum = x
			case num == 2 && typ == protowire.VarintType:
				p.Timestamp = x
			}
		}); err != nil {
			perr = err
		}
	})
	if err == nil {
		err = perr
	}
	return a, err
}

// countReadBatch counts the records of an s2.v1.ReadBatch (records = 1)
// and the bytes of their bodies (SequencedRecord.body = 4).
func countReadBatch(b []byte) (records, bodyBytes int64, err error) {
	var rerr error
	err = walk(b, func(num protowire.Number, typ protowire.Type, v []byte, _ uint64) {
		if num != 1 || typ != protowire.BytesType {
			return
		}
		records++
		if err := walk(v, func(num protowire.Number, typ protowire.Type, v []byte, _ uint64) {
			if num == 4 && typ == protowire.BytesType {
				bodyBytes += int64(len(v))
			}
		}); err != nil {
			rerr = err
		}
	})
	if err == nil {
		err = rerr
	}
	return records, bodyBytes, err
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

// frameReader reads S2S frames.
type frameReader struct {
	br  *bufio.Reader
	buf []byte
}

// next returns the next message; io.EOF at the normal end of the session, a
// *terminalError for a terminal message. The returned slice is valid until
// the next call.
func (f *frameReader) next() ([]byte, error) {
	var hdr [3]byte
	if _, err := io.ReadFull(f.br, hdr[:]); err != nil {
		return nil, err
	}
	n := int(hdr[0])<<16 | int(hdr[1])<<8 | int(hdr[2])
	if n < 1 || n > s2sMaxFrame {
		return nil, fmt.Errorf("s2s frame length %d", n)
	}
	if cap(f.buf) < n {
		f.buf = make([]byte, n)
	}
	buf := f.buf[:n]
	if _, err := io.ReadFull(f.br, buf); err != nil {
		return nil, fmt.Errorf("s2s frame body: %w", err)
	}
	flag, body := buf[0], buf[1:]
	if flag&s2sFlagTerminal != 0 {
		if len(body) < 2 {
			return nil, errors.New("s2s terminal message too short")
		}
		return nil, &terminalError{Status: int(binary.BigEndian.Uint16(body)), Body: string(body[2:])}
	}
	if flag&s2sFlagCompression != 0 {
		return nil, errors.New("s2s: compressed frame (compression was not requested)")
	}
	return body, nil
}

// terminalError is the error carried by an S2S terminal message.
type terminalError struct {
	Status int
	Body   string
}

func (e *terminalError) Error() string { return fmt.Sprintf("s2s terminal %d: %s", e.Status, e.Body) }
