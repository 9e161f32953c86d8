package sst

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"math"
	"sort"

	"github.com/bits-and-blooms/bloom/v3"
)

// ReadableObject is how a Reader fetches bytes: in practice a ranged GET on
// an object store key. ReadAt must return exactly length bytes in a buffer
// the caller may keep; the Reader never modifies it. ReadInto reads the
// bytes from offset on into bufs, filling each in order, or fails: it
// lets readahead put each block of a window in a buffer of its own, so
// that a cached block pins only itself, without copying it out of one
// big buffer.
type ReadableObject interface {
	ReadAt(ctx context.Context, offset, length int64) ([]byte, error)
	ReadInto(ctx context.Context, offset int64, bufs [][]byte) error
	Size() int64
}

// ReaderOptions configure Open.
type ReaderOptions struct {
	// Cache holds decoded data blocks; nil disables caching.
	Cache *Cache
	// CacheID identifies the table in Cache and must be unique among the
	// tables sharing it.
	CacheID uint64
	// MaxReadahead bounds, in bytes, the single read an Iter makes to fetch
	// data blocks ahead of a sequential scan. 0 means DefaultMaxReadahead;
	// a negative value disables readahead, so that an Iter reads one block
	// at a time.
	MaxReadahead int64
}

// metaReadSize is how much of the object's tail Open reads first. It covers
// the footer and all metadata blocks of typical tables, so Open costs one
// ranged read.
const metaReadSize = 64 << 10

// Reader reads one table. Metadata (index, filter, range deletions,
// properties) is decoded into memory by Open; data blocks are fetched on
// demand. A Reader is safe for concurrent use and holds no resources beyond
// memory, so it needs no Close.
type Reader struct {
	obj       ReadableObject
	cache     *Cache
	cacheID   uint64
	readahead int64 // MaxReadahead resolved; 0 disables readahead
	props     Properties
	rangeDels []RangeDel
	filter    *bloom.BloomFilter // nil when the table has none
	index     []indexEntry
}

type indexEntry struct {
	lastKey []byte // encoded internal key of the block's last entry
	h       blockHandle
}

// Open reads and validates the table's metadata.
func Open(ctx context.Context, obj ReadableObject, opts ReaderOptions) (*Reader, error) {
	size := obj.Size()
	if size < footerLen {
		return nil, corruptf("object is %d bytes, smaller than the %d-byte footer", size, footerLen)
	}
	tailOff := max(size-metaReadSize, 0)
	tail, err := readExact(ctx, obj, tailOff, size-tailOff)
	if err != nil {
		return nil, err
	}
	f, err := decodeFooter(tail[len(tail)-footerLen:], size)
	if err != nil {
		return nil, err
	}
	// The metadata blocks are contiguous from the range-deletion block to
	// the footer (decodeFooter checked it); fetch whatever the first read
	// missed.
	meta, metaOff := tail, uint64(tailOff)
	if f.rangeDel.offset < metaOff {
		head, err := readExact(ctx, obj, int64(f.rangeDel.offset), int64(metaOff-f.rangeDel.offset))
		if err != nil {
			return nil, err
		}
		meta, metaOff = append(head, tail...), f.rangeDel.offset
	}
	metaBlock := func(h blockHandle) ([]byte, error) {
		return decodeStoredBlock(meta[h.offset-metaOff:h.end()-metaOff], h.offset)
	}

	r := &Reader{obj: obj, cache: opts.Cache, cacheID: opts.CacheID, readahead: opts.MaxReadahead}
	if r.readahead == 0 {
		r.readahead = DefaultMaxReadahead
	}
	r.readahead = max(r.readahead, 0)
	b, err := metaBlock(f.props)
	if err != nil {
		return nil, err
	}
	if r.props, err = decodeProperties(b); err != nil {
		return nil, err
	}
	if b, err = metaBlock(f.filter); err != nil {
		return nil, err
	}
	if r.filter, err = decodeFilter(b); err != nil {
		return nil, err
	}
	if b, err = metaBlock(f.index); err != nil {
		return nil, err
	}
	if r.index, err = decodeIndex(b, f.index.offset, f.rangeDel.offset); err != nil {
		return nil, err
	}
	if b, err = metaBlock(f.rangeDel); err != nil {
		return nil, err
	}
	if r.rangeDels, err = decodeRangeDels(b, f.rangeDel.offset); err != nil {
		return nil, err
	}
	if uint64(len(r.index)) != r.props.NumDataBlocks || uint64(len(r.rangeDels)) != r.props.NumRangeDels {
		return nil, corruptf("properties claim %d data blocks and %d range deletions, found %d and %d",
			r.props.NumDataBlocks, r.props.NumRangeDels, len(r.index), len(r.rangeDels))
	}
	return r, nil
}

// readExact reads [off, off+n) and insists on getting all of it: a short
// read means the object is not the size it claims to be.
func readExact(ctx context.Context, obj ReadableObject, off, n int64) ([]byte, error) {
	b, err := obj.ReadAt(ctx, off, n)
	if err != nil {
		return nil, fmt.Errorf("sst: reading %d bytes at offset %d: %w", n, off, err)
	}
	if int64(len(b)) != n {
		return nil, corruptf("short read at offset %d: got %d of %d bytes", off, len(b), n)
	}
	return b, nil
}

// decodeIndex decodes the index block into entries whose keys are copied
// into one arena. It checks that the data blocks tile [0, dataEnd) in order,
// so every handle used later is in bounds.
func decodeIndex(b []byte, off, dataEnd uint64) ([]indexEntry, error) {
	blk, err := parseBlock(b, off)
	if err != nil {
		return nil, err
	}
	var (
		it      blockIter
		entries []indexEntry
		ends    []int
		arena   []byte
		next    uint64
	)
	it.init(blk, off)
	for ok := it.first(); ok; ok = it.next() {
		var h blockHandle
		v := it.val
		var n int
		if h.offset, n = binary.Uvarint(v); n > 0 {
			v = v[n:]
			h.length, n = binary.Uvarint(v)
		}
		if n <= 0 || n != len(v) {
			return nil, corruptf("index block at offset %d: bad handle for entry %d", off, len(entries))
		}
		if h.offset != next || h.length > dataEnd || h.end() > dataEnd {
			return nil, corruptf("index block at offset %d: entry %d handle (%d, %d) does not follow %d within %d",
				off, len(entries), h.offset, h.length, next, dataEnd)
		}
		if n := len(ends); n > 0 && compareInternal(arena[idxStart(ends, n-1):], it.key) >= 0 {
			return nil, corruptf("index block at offset %d: keys out of order at entry %d", off, len(entries))
		}
		next = h.end()
		arena = append(arena, it.key...)
		ends = append(ends, len(arena))
		entries = append(entries, indexEntry{h: h})
	}
	if it.err != nil {
		return nil, it.err
	}
	if next != dataEnd {
		return nil, corruptf("index block at offset %d: data blocks end at %d, want %d", off, next, dataEnd)
	}
	for i := range entries {
		entries[i].lastKey = arena[idxStart(ends, i):ends[i]:ends[i]]
	}
	return entries, nil
}

func idxStart(ends []int, i int) int {
	if i == 0 {
		return 0
	}
	return ends[i-1]
}

// decodeRangeDels decodes the range-deletion block into copies sorted by
// Start.
func decodeRangeDels(b []byte, off uint64) ([]RangeDel, error) {
	blk, err := parseBlock(b, off)
	if err != nil {
		return nil, err
	}
	var (
		it  blockIter
		out []RangeDel
	)
	it.init(blk, off)
	for ok := it.first(); ok; ok = it.next() {
		k, _ := splitInternalKey(it.key) // blockIter guarantees the trailer
		if k.Kind != kindRangeDel || bytes.Compare(k.User, it.val) >= 0 {
			return nil, corruptf("range-deletion block at offset %d: bad entry %d", off, len(out))
		}
		if n := len(out); n > 0 && bytes.Compare(out[n-1].Start, k.User) > 0 {
			return nil, corruptf("range-deletion block at offset %d: entry %d out of order", off, n)
		}
		out = append(out, RangeDel{
			Start: append([]byte(nil), k.User...),
			End:   append([]byte(nil), it.val...),
			Seq:   k.Seq,
		})
	}
	if it.err != nil {
		return nil, it.err
	}
	return out, nil
}

// Properties returns the table's properties.
func (r *Reader) Properties() Properties { return r.props }

// RangeDels returns every range deletion, sorted by Start. Get and the
// iterator do not apply them; that is the caller's job. The slice is shared
// and must not be modified.
func (r *Reader) RangeDels() []RangeDel { return r.rangeDels }

// MayContain reports whether the table may hold a point entry for user.
// False is definite.
func (r *Reader) MayContain(user []byte) bool {
	return r.filter == nil || r.filter.Test(user)
}

// Get returns the newest point entry for user with Seq <= seq, tombstones
// included (k.Kind tells which). Expired entries are returned like any
// other: expiry is for the caller to judge. It consults the bloom filter
// before reading any data block and reads at most one. The returned value
// must not be modified.
func (r *Reader) Get(ctx context.Context, user []byte, seq uint64) (k Key, expiry int64, value []byte, found bool, err error) {
	if !r.MayContain(user) {
		return Key{}, 0, nil, false, nil
	}
	var buf [64]byte
	target := appendInternalKey(buf[:0], user, min(seq, MaxSeq), kindMax)
	i := r.searchIndex(target)
	if i == len(r.index) {
		return Key{}, 0, nil, false, nil
	}
	blk, err := r.readDataBlock(ctx, r.index[i].h)
	if err != nil {
		return Key{}, 0, nil, false, err
	}
	// The block's last key is >= target, so the entry we want, if any, is
	// in this block.
	var it blockIter
	it.init(blk, r.index[i].h.offset)
	if !it.seekGE(target) {
		if it.err != nil {
			return Key{}, 0, nil, false, it.err
		}
		return Key{}, 0, nil, false, corruptf("block at offset %d: ends before its index key", it.off)
	}
	k, expiry, value, err = decodeDataEntry(&it)
	if err != nil || !bytes.Equal(k.User, user) {
		return Key{}, 0, nil, false, err
	}
	k.User = append([]byte(nil), k.User...)
	return k, expiry, value, true, nil
}

// searchIndex returns the first data block whose last key is >= target, or
// len(r.index).
func (r *Reader) searchIndex(target []byte) int {
	return sort.Search(len(r.index), func(i int) bool {
		return compareInternal(r.index[i].lastKey, target) >= 0
	})
}

// readDataBlock returns a verified, uncompressed, parsed data block, from
// the cache when possible, else with one ranged read.
func (r *Reader) readDataBlock(ctx context.Context, h blockHandle) (block, error) {
	if b, ok := r.cache.get(r.cacheID, h.offset); ok {
		return parseBlock(b, h.offset)
	}
	raw, err := readExact(ctx, r.obj, int64(h.offset), int64(h.length+blockTrailerLen))
	if err != nil {
		return block{}, err
	}
	return r.decodeDataBlock(raw, h)
}

// decodeDataBlock verifies, decompresses and parses the data block stored
// in raw (block bytes and trailer, in a buffer of its own, which an
// uncompressed block aliases) and adds it to the cache.
func (r *Reader) decodeDataBlock(raw []byte, h blockHandle) (block, error) {
	b, err := decodeStoredBlock(raw, h.offset)
	if err != nil {
		return block{}, err
	}
	blk, err := parseBlock(b, h.offset)
	if err != nil {
		return block{}, err
	}
	// Only verified blocks enter the cache.
	r.cache.set(r.cacheID, h.offset, b)
	return blk, nil
}

// decodeDataEntry decodes the blockIter's current entry as a point entry.
// k.User aliases the iterator's key buffer and value the block.
func decodeDataEntry(it *blockIter) (k Key, expiry int64, value []byte, err error) {
	k, _ = splitInternalKey(it.key) // blockIter guarantees the trailer
	if k.Kind != KindSet && k.Kind != KindDelete {
		return Key{}, 0, nil, corruptf("block at offset %d: entry %s has a bad kind", it.off, k)
	}
	e, n := binary.Uvarint(it.val)
	if n <= 0 || e > math.MaxInt64 {
		return Key{}, 0, nil, corruptf("block at offset %d: entry %s has a bad expiry", it.off, k)
	}
	return k, int64(e), it.val[n:], nil
}
