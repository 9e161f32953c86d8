package sst

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
)

// ErrCorrupt is wrapped by every error that reports a checksum mismatch or a
// malformed table. Callers test for it with errors.Is.
var ErrCorrupt = errors.New("sst: corrupt table")

// corruptf returns an error wrapping ErrCorrupt with a description of what
// failed and where.
func corruptf(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrCorrupt}, args...)...)
}

// Kind is the type of a point entry.
type Kind uint8

const (
	// KindDelete is a point tombstone.
	KindDelete Kind = 0
	// KindSet is a point value.
	KindSet Kind = 1

	// kindRangeDel tags the keys of the range-deletion block. It never
	// appears in a data block and is not visible through the API.
	kindRangeDel Kind = 15
	// kindMax is the largest encodable kind. Because kinds sort descending,
	// (user, seq, kindMax) sorts before every real key at (user, seq), which
	// makes it the natural seek target.
	kindMax Kind = 255
)

func (k Kind) String() string {
	switch k {
	case KindDelete:
		return "DEL"
	case KindSet:
		return "SET"
	case kindRangeDel:
		return "RANGEDEL"
	}
	return fmt.Sprintf("Kind(%d)", uint8(k))
}

// MaxSeq is the largest sequence number a table can store: the trailer packs
// the sequence number into its upper 56 bits.
const MaxSeq uint64 = 1<<56 - 1

// Key is an internal key. Keys order by User ascending (bytes.Compare), then
// Seq descending, then Kind descending, so that the newest version of a user
// key comes first.
type Key struct {
	User []byte
	Seq  uint64
	Kind Kind
}

// Compare orders internal keys; see Key.
func Compare(a, b Key) int {
	if c := bytes.Compare(a.User, b.User); c != 0 {
		return c
	}
	switch {
	case a.Seq > b.Seq:
		return -1
	case a.Seq < b.Seq:
		return 1
	case a.Kind > b.Kind:
		return -1
	case a.Kind < b.Kind:
		return 1
	}
	return 0
}

func (k Key) String() string {
	return fmt.Sprintf("%q#%d,%s", k.User, k.Seq, k.Kind)
}

// RangeDel deletes every key in [Start, End) whose Seq is lower than Seq.
type RangeDel struct {
	Start, End []byte
	Seq        uint64
}

// trailerLen is the size of the (Seq<<8 | Kind) suffix of an encoded key.
const trailerLen = 8

// appendInternalKey appends User followed by the little-endian trailer
// Seq<<8 | Kind. Encoded keys compare with compareInternal.
func appendInternalKey(dst, user []byte, seq uint64, kind Kind) []byte {
	dst = append(dst, user...)
	return binary.LittleEndian.AppendUint64(dst, seq<<8|uint64(kind))
}

// splitInternalKey decodes an encoded key without copying User. ok is false
// when b is too short to hold a trailer.
func splitInternalKey(b []byte) (k Key, ok bool) {
	if len(b) < trailerLen {
		return Key{}, false
	}
	n := len(b) - trailerLen
	t := binary.LittleEndian.Uint64(b[n:])
	return Key{User: b[:n:n], Seq: t >> 8, Kind: Kind(t)}, true
}

// compareInternal orders two encoded keys exactly like Compare orders the
// decoded ones. A larger trailer means a larger Seq, or an equal Seq and a
// larger Kind, so trailers compare in reverse. Both keys must be at least
// trailerLen bytes, which block decoding guarantees.
func compareInternal(a, b []byte) int {
	na, nb := len(a)-trailerLen, len(b)-trailerLen
	if c := bytes.Compare(a[:na], b[:nb]); c != 0 {
		return c
	}
	ta, tb := binary.LittleEndian.Uint64(a[na:]), binary.LittleEndian.Uint64(b[nb:])
	switch {
	case ta > tb:
		return -1
	case ta < tb:
		return 1
	}
	return 0
}
