package sst

import (
	"encoding/binary"
	"hash/crc32"
	"sort"

	"github.com/golang/snappy"
)

// Block trailer: compression type (1 byte) then CRC32C (4 bytes, LE) over
// the stored block bytes followed by the type byte.
const (
	blockTrailerLen = 5

	compressionNone   byte = 0
	compressionSnappy byte = 1
)

// castagnoli is read-only after initialisation.
var castagnoli = crc32.MakeTable(crc32.Castagnoli)

func blockChecksum(stored []byte, typ byte) uint32 {
	c := crc32.Update(0, castagnoli, stored)
	return crc32.Update(c, castagnoli, []byte{typ})
}

// blockHandle locates a block. length excludes the 5-byte trailer, which
// always follows the block.
type blockHandle struct {
	offset, length uint64
}

// end is the offset just past the block's trailer.
func (h blockHandle) end() uint64 { return h.offset + h.length + blockTrailerLen }

// blockWriter builds one block: prefix-compressed entries followed by the
// restart array, exactly as LevelDB does.
type blockWriter struct {
	restartInterval int
	buf             []byte
	restarts        []uint32
	sinceRestart    int
	lastKey         []byte
	numEntries      int
}

func (w *blockWriter) add(key, value []byte) {
	shared := 0
	if w.numEntries == 0 || w.sinceRestart >= w.restartInterval {
		// Keys at restart points are stored whole so that a reader can
		// binary-search them without decoding the entries in between.
		w.restarts = append(w.restarts, uint32(len(w.buf)))
		w.sinceRestart = 0
	} else {
		shared = sharedPrefixLen(w.lastKey, key)
	}
	w.buf = binary.AppendUvarint(w.buf, uint64(shared))
	w.buf = binary.AppendUvarint(w.buf, uint64(len(key)-shared))
	w.buf = binary.AppendUvarint(w.buf, uint64(len(value)))
	w.buf = append(w.buf, key[shared:]...)
	w.buf = append(w.buf, value...)
	w.lastKey = append(w.lastKey[:0], key...)
	w.sinceRestart++
	w.numEntries++
}

// estimatedSize is the size finish would return.
func (w *blockWriter) estimatedSize() int {
	n := len(w.restarts)
	if n == 0 {
		n = 1
	}
	return len(w.buf) + 4*n + 4
}

// finish appends the restart array and returns the block. The result aliases
// the writer's buffer and is only valid until reset.
func (w *blockWriter) finish() []byte {
	if len(w.restarts) == 0 {
		// An empty block still has one restart so that every block has the
		// same shape.
		w.restarts = append(w.restarts, 0)
	}
	for _, r := range w.restarts {
		w.buf = binary.LittleEndian.AppendUint32(w.buf, r)
	}
	w.buf = binary.LittleEndian.AppendUint32(w.buf, uint32(len(w.restarts)))
	return w.buf
}

func (w *blockWriter) reset() {
	w.buf = w.buf[:0]
	w.restarts = w.restarts[:0]
	w.sinceRestart = 0
	w.lastKey = w.lastKey[:0]
	w.numEntries = 0
}

func sharedPrefixLen(a, b []byte) int {
	n := min(len(a), len(b))
	i := 0
	for i < n && a[i] == b[i] {
		i++
	}
	return i
}

// appendStoredBlock appends raw to dst, snappy-compressed when that saves at
// least 12.5%, followed by the block trailer. scratch is a reusable
// compression buffer; the (possibly grown) scratch is returned.
// compressed reports whether the block was stored compressed.
func appendStoredBlock(dst, raw, scratch []byte, compress bool) (out []byte, h blockHandle, scratchOut []byte, compressed bool) {
	stored, typ := raw, compressionNone
	if compress && len(raw) > 0 {
		scratch = snappy.Encode(scratch[:cap(scratch)], raw)
		// Below 12.5% savings, decompression cost on every cache miss is not
		// worth the bytes.
		if len(scratch) <= len(raw)-len(raw)/8 {
			stored, typ, compressed = scratch, compressionSnappy, true
		}
	}
	h = blockHandle{offset: uint64(len(dst)), length: uint64(len(stored))}
	dst = append(dst, stored...)
	dst = append(dst, typ)
	dst = binary.LittleEndian.AppendUint32(dst, blockChecksum(stored, typ))
	return dst, h, scratch, compressed
}

// maxSnappyExpansion bounds the decoded size of a snappy block relative to
// its stored size: the densest element, a 3-byte copy, yields 64 bytes.
// Checking it refuses absurd allocations before decoding anything.
const maxSnappyExpansion = 22

// decodeStoredBlock verifies the trailer of b (stored bytes plus trailer,
// read from offset off) and returns the uncompressed block. An uncompressed
// result aliases b.
func decodeStoredBlock(b []byte, off uint64) ([]byte, error) {
	if len(b) < blockTrailerLen {
		return nil, corruptf("block at offset %d: %d bytes is shorter than its trailer", off, len(b))
	}
	n := len(b) - blockTrailerLen
	stored, typ := b[:n], b[n]
	want := binary.LittleEndian.Uint32(b[n+1:])
	if got := blockChecksum(stored, typ); got != want {
		return nil, corruptf("block at offset %d: checksum mismatch (stored %#08x, computed %#08x)", off, want, got)
	}
	switch typ {
	case compressionNone:
		return stored, nil
	case compressionSnappy:
		dlen, err := snappy.DecodedLen(stored)
		if err != nil {
			return nil, corruptf("block at offset %d: snappy header: %v", off, err)
		}
		if dlen > maxSnappyExpansion*len(stored)+64 {
			return nil, corruptf("block at offset %d: implausible decoded length %d", off, dlen)
		}
		out, err := snappy.Decode(make([]byte, dlen), stored)
		if err != nil {
			return nil, corruptf("block at offset %d: snappy: %v", off, err)
		}
		return out, nil
	}
	return nil, corruptf("block at offset %d: unknown compression type %d", off, typ)
}

// block is a parsed, uncompressed block.
type block struct {
	data        []byte // the entries
	restarts    []byte // numRestarts little-endian uint32 offsets into data
	numRestarts int
}

// parseBlock splits b into entries and restart array and checks the restart
// offsets, so that iteration can trust them. off is used in errors only.
func parseBlock(b []byte, off uint64) (block, error) {
	if len(b) < 4 {
		return block{}, corruptf("block at offset %d: %d bytes cannot hold a restart count", off, len(b))
	}
	n := uint64(binary.LittleEndian.Uint32(b[len(b)-4:]))
	if n == 0 || n > uint64(len(b)-4)/4 {
		return block{}, corruptf("block at offset %d: bad restart count %d for %d bytes", off, n, len(b))
	}
	rs := len(b) - 4 - 4*int(n)
	blk := block{data: b[:rs], restarts: b[rs : len(b)-4], numRestarts: int(n)}
	prev := -1
	for i := 0; i < blk.numRestarts; i++ {
		r := blk.restart(i)
		ok := r > prev && r < len(blk.data)
		if i == 0 {
			ok = r == 0
		}
		if !ok {
			return block{}, corruptf("block at offset %d: bad restart %d at index %d", off, r, i)
		}
		prev = r
	}
	return blk, nil
}

func (b *block) restart(i int) int {
	return int(binary.LittleEndian.Uint32(b.restarts[4*i:]))
}

// blockIter walks the entries of one block. Every length read from the block
// is checked against its bounds: a checksum collision or a writer bug must
// produce ErrCorrupt, not a panic.
type blockIter struct {
	blk     block
	off     uint64 // block offset in the table, for errors
	nextOff int    // offset of the entry after the current one
	key     []byte // current full key; reused across entries
	val     []byte // aliases blk.data
	valid   bool
	err     error
}

func (it *blockIter) init(blk block, off uint64) {
	it.blk, it.off = blk, off
	it.nextOff = 0
	it.key = it.key[:0]
	it.val = nil
	it.valid = false
	it.err = nil
}

// decodeEntry reads the entry at pos, whose predecessor's key is in it.key.
func (it *blockIter) decodeEntry(pos int) bool {
	it.valid = false
	data := it.blk.data
	if pos >= len(data) {
		return false
	}
	p := pos
	var hdr [3]uint64
	for i := range hdr {
		v, n := binary.Uvarint(data[p:])
		if n <= 0 {
			it.err = corruptf("block at offset %d: bad entry header at %d", it.off, pos)
			return false
		}
		hdr[i], p = v, p+n
	}
	shared, unshared, vlen := hdr[0], hdr[1], hdr[2]
	rest := uint64(len(data) - p)
	if shared > uint64(len(it.key)) || unshared > rest || vlen > rest-unshared {
		it.err = corruptf("block at offset %d: entry at %d overruns block", it.off, pos)
		return false
	}
	if shared+unshared < trailerLen {
		it.err = corruptf("block at offset %d: entry at %d has a %d-byte key", it.off, pos, shared+unshared)
		return false
	}
	kEnd := p + int(unshared)
	it.key = append(it.key[:shared], data[p:kEnd]...)
	it.val = data[kEnd : kEnd+int(vlen) : kEnd+int(vlen)]
	it.nextOff = kEnd + int(vlen)
	it.valid = true
	return true
}

// restartKey returns the (whole) key stored at restart point i.
func (it *blockIter) restartKey(i int) ([]byte, bool) {
	data := it.blk.data
	p := it.blk.restart(i)
	var hdr [3]uint64
	for j := range hdr {
		v, n := binary.Uvarint(data[p:])
		if n <= 0 {
			return nil, false
		}
		hdr[j], p = v, p+n
	}
	if hdr[0] != 0 || hdr[1] < trailerLen || hdr[1] > uint64(len(data)-p) {
		return nil, false
	}
	return data[p : p+int(hdr[1])], true
}

func (it *blockIter) first() bool {
	it.key = it.key[:0]
	return it.decodeEntry(0)
}

func (it *blockIter) next() bool {
	if !it.valid {
		return false
	}
	return it.decodeEntry(it.nextOff)
}

// seekGE positions at the first entry whose key is >= target.
func (it *blockIter) seekGE(target []byte) bool {
	bad := false
	// The first restart whose key is > target; the answer lies in the
	// restart interval before it.
	i := sort.Search(it.blk.numRestarts, func(i int) bool {
		k, ok := it.restartKey(i)
		if !ok {
			bad = true
			return true
		}
		return compareInternal(k, target) > 0
	})
	if bad {
		it.valid = false
		it.err = corruptf("block at offset %d: bad restart key", it.off)
		return false
	}
	if i > 0 {
		i--
	}
	it.key = it.key[:0]
	if !it.decodeEntry(it.blk.restart(i)) {
		return false
	}
	for compareInternal(it.key, target) < 0 {
		if !it.next() {
			return false
		}
	}
	return true
}
