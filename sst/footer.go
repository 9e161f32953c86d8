package sst

import (
	"encoding/binary"
	"hash/crc32"
)

// Footer layout (footerLen bytes, at the very end of the object):
//
//	[ 0,16) range-deletion block handle: offset, length (uint64 LE each)
//	[16,32) filter block handle
//	[32,48) index block handle
//	[48,64) properties block handle
//	[64,68) format version, uint32 LE
//	[68,72) CRC32C of bytes [0,68), uint32 LE
//	[72,80) magic
const (
	footerLen     = 80
	formatVersion = 1
	footerMagic   = "s2litSST"
)

type footer struct {
	rangeDel, filter, index, props blockHandle
}

func (f *footer) encode(dst []byte) []byte {
	start := len(dst)
	for _, h := range []blockHandle{f.rangeDel, f.filter, f.index, f.props} {
		dst = binary.LittleEndian.AppendUint64(dst, h.offset)
		dst = binary.LittleEndian.AppendUint64(dst, h.length)
	}
	dst = binary.LittleEndian.AppendUint32(dst, formatVersion)
	dst = binary.LittleEndian.AppendUint32(dst, crc32c(dst[start:]))
	return append(dst, footerMagic...)
}

// decodeFooter parses and validates the footer of an object of size bytes.
// Besides the checksum it checks that the four metadata blocks are laid out
// back to back and end where the footer starts, so every later slice of the
// metadata is in bounds.
func decodeFooter(b []byte, size int64) (footer, error) {
	var f footer
	if len(b) != footerLen {
		return f, corruptf("footer is %d bytes, want %d", len(b), footerLen)
	}
	footerOff := uint64(size) - footerLen
	if string(b[72:]) != footerMagic {
		return f, corruptf("footer at offset %d: bad magic %q", footerOff, b[72:])
	}
	if got, want := crc32c(b[:68]), binary.LittleEndian.Uint32(b[68:]); got != want {
		return f, corruptf("footer at offset %d: checksum mismatch (stored %#08x, computed %#08x)", footerOff, want, got)
	}
	if v := binary.LittleEndian.Uint32(b[64:]); v != formatVersion {
		return f, corruptf("footer at offset %d: unsupported format version %d", footerOff, v)
	}
	hs := []*blockHandle{&f.rangeDel, &f.filter, &f.index, &f.props}
	for i, h := range hs {
		h.offset = binary.LittleEndian.Uint64(b[16*i:])
		h.length = binary.LittleEndian.Uint64(b[16*i+8:])
		// Bounding both halves first keeps end() from overflowing.
		if h.offset > footerOff || h.length > footerOff {
			return f, corruptf("footer at offset %d: block handle %d (%d, %d) out of range", footerOff, i, h.offset, h.length)
		}
	}
	for i := 0; i < len(hs); i++ {
		next := footerOff
		if i+1 < len(hs) {
			next = hs[i+1].offset
		}
		if hs[i].end() != next {
			return f, corruptf("footer at offset %d: block handle %d (%d, %d) does not end at %d", footerOff, i, hs[i].offset, hs[i].length, next)
		}
	}
	return f, nil
}

func crc32c(b []byte) uint32 { return crc32.Checksum(b, castagnoli) }
