package engine

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
)

// A WAL object holds the operations of one commit group. Its layout:
//
//	magic "S2LW" | format version (1 byte)
//	epoch uvarint | id uvarint | firstSeq uvarint | numOps uvarint
//	numOps × ( kind byte | key len uvarint | key | value len uvarint | value | expiry uvarint )
//	CRC32C (4 bytes, little-endian) over everything before it
//
// Operation i gets sequence number firstSeq+i. An object with no operations
// is a fence: it occupies its id so that a writer of a lower epoch cannot
// fill it, and raises the epoch floor for the rest of the log.
const (
	walMagic         = "S2LW"
	walFormatVersion = 1
	walPrefix        = "wal/"
)

// ErrCorruptWAL is wrapped by every WAL decoding failure.
var ErrCorruptWAL = errors.New("engine: corrupt WAL object")

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

func walKey(id uint64) string { return fmt.Sprintf("%s%020d", walPrefix, id) }

type walObject struct {
	epoch    uint64
	id       uint64
	firstSeq uint64
	ops      []op
}

func encodeWAL(w *walObject, batches []*Batch) []byte {
	n := 0
	size := 64
	for _, b := range batches {
		n += len(b.ops)
		size += b.size
	}
	buf := make([]byte, 0, size)
	buf = append(buf, walMagic...)
	buf = append(buf, walFormatVersion)
	buf = binary.AppendUvarint(buf, w.epoch)
	buf = binary.AppendUvarint(buf, w.id)
	buf = binary.AppendUvarint(buf, w.firstSeq)
	buf = binary.AppendUvarint(buf, uint64(n))
	for _, b := range batches {
		for _, o := range b.ops {
			buf = append(buf, byte(o.kind))
			buf = binary.AppendUvarint(buf, uint64(len(o.key)))
			buf = append(buf, o.key...)
			buf = binary.AppendUvarint(buf, uint64(len(o.value)))
			buf = append(buf, o.value...)
			buf = binary.AppendUvarint(buf, uint64(o.expiry))
		}
	}
	return binary.LittleEndian.AppendUint32(buf, crc32.Checksum(buf, castagnoli))
}

// walReader decodes with bounds checks; the first failure sticks.
type walReader struct {
	buf []byte
	err error
}

func (r *walReader) uvarint(what string) uint64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.buf)
	if n <= 0 {
		r.err = fmt.Errorf("%w: bad %s", ErrCorruptWAL, what)
		return 0
	}
	r.buf = r.buf[n:]
	return v
}

func (r *walReader) bytes(what string) []byte {
	n := r.uvarint(what + " length")
	if r.err != nil {
		return nil
	}
	if n > uint64(len(r.buf)) {
		r.err = fmt.Errorf("%w: %s length %d exceeds the object", ErrCorruptWAL, what, n)
		return nil
	}
	out := r.buf[:n:n]
	r.buf = r.buf[n:]
	return out
}

func decodeWAL(data []byte) (*walObject, error) {
	hdr := len(walMagic) + 1
	if len(data) < hdr+4 {
		return nil, fmt.Errorf("%w: %d bytes is too short", ErrCorruptWAL, len(data))
	}
	if !bytes.Equal(data[:len(walMagic)], []byte(walMagic)) {
		return nil, fmt.Errorf("%w: bad magic", ErrCorruptWAL)
	}
	end := len(data) - 4
	if want, got := binary.LittleEndian.Uint32(data[end:]), crc32.Checksum(data[:end], castagnoli); want != got {
		return nil, fmt.Errorf("%w: checksum mismatch (stored %08x, computed %08x)", ErrCorruptWAL, want, got)
	}
	if v := data[len(walMagic)]; v != walFormatVersion {
		return nil, fmt.Errorf("%w: unknown format version %d", ErrCorruptWAL, v)
	}
	r := &walReader{buf: data[hdr:end]}
	w := &walObject{
		epoch:    r.uvarint("epoch"),
		id:       r.uvarint("id"),
		firstSeq: r.uvarint("first sequence number"),
	}
	n := r.uvarint("operation count")
	if r.err == nil && n > uint64(len(r.buf)) {
		return nil, fmt.Errorf("%w: %d operations cannot fit in %d bytes", ErrCorruptWAL, n, len(r.buf))
	}
	w.ops = make([]op, 0, n)
	for i := uint64(0); i < n && r.err == nil; i++ {
		if len(r.buf) == 0 {
			r.err = fmt.Errorf("%w: truncated at operation %d", ErrCorruptWAL, i)
			break
		}
		o := op{kind: opKind(r.buf[0])}
		r.buf = r.buf[1:]
		if o.kind > opDeleteRange {
			return nil, fmt.Errorf("%w: operation %d has unknown kind %d", ErrCorruptWAL, i, o.kind)
		}
		o.key = r.bytes("key")
		o.value = r.bytes("value")
		o.expiry = int64(r.uvarint("expiry"))
		w.ops = append(w.ops, o)
	}
	if r.err != nil {
		return nil, r.err
	}
	if len(r.buf) != 0 {
		return nil, fmt.Errorf("%w: %d trailing bytes", ErrCorruptWAL, len(r.buf))
	}
	return w, nil
}
