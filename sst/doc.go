// Package sst implements s2lite's sorted string tables: immutable, sorted
// files of internal keys, written whole into memory and uploaded as a single
// object, then read back through ranged reads (GETs) of that object.
//
// The package knows nothing of the database: it stores point entries
// (KindSet and KindDelete, each with an expiry) and range deletions, and
// returns them as written. Applying range deletions, expiries and snapshot
// visibility across tables is the caller's job.
//
// # Keys
//
// An internal key is (User, Seq, Kind), ordered by User ascending
// (bytes.Compare), then Seq descending, then Kind descending. Encoded, it is
// User followed by an 8-byte trailer holding Seq<<8 | Kind as a little-endian
// uint64, so Seq is limited to 56 bits (MaxSeq). Kinds: 0 delete, 1 set,
// 15 range deletion (used only inside the range-deletion block).
//
// # Object layout
//
//	[data block 0][trailer] ... [data block n-1][trailer]
//	[range-deletion block][trailer]
//	[filter block][trailer]
//	[index block][trailer]
//	[properties block][trailer]
//	[footer]
//
// Data blocks start at offset 0 and are contiguous; the four metadata blocks
// follow back to back and end exactly where the 80-byte footer begins.
//
// # Block trailer and handles
//
// Every block, metadata included, is followed by a 5-byte trailer:
//
//	compression type  1 byte   0 = none, 1 = snappy (github.com/golang/snappy
//	                           block format; used only when it saves at
//	                           least 12.5% of the uncompressed size, and
//	                           tried on fewer data blocks while they keep
//	                           failing to compress: see Writer)
//	checksum          4 bytes  CRC32C (Castagnoli), uint32 little-endian,
//	                           over the stored (possibly compressed) block
//	                           bytes followed by the type byte
//
// A block handle is (offset, length) where length counts the stored block
// bytes only, not the trailer; the trailer occupies [offset+length,
// offset+length+5).
//
// # Block format
//
// Data, index and range-deletion blocks share LevelDB's block format. When
// uncompressed, a block is a sequence of entries followed by a restart
// array:
//
//	entry:    shared uvarint    bytes shared with the previous entry's key
//	          unshared uvarint  length of the key suffix
//	          valueLen uvarint  length of the value
//	          key[shared:]      unshared bytes
//	          value             valueLen bytes
//	restarts: uint32 LE offsets of the restart entries, then their count as
//	          a uint32 LE (at least 1; an empty block has one restart at 0)
//
// Every RestartInterval-th entry (the first included) is a restart point:
// it has shared = 0, so its key can be read without its predecessors and
// the restart array can be binary-searched. Keys are encoded internal keys
// in increasing order (strictly, except that two range deletions with the
// same Start and Seq share a key).
//
// Data block entries: key = encoded internal key (kind 0 or 1); value =
// uvarint expiry (Unix milliseconds, 0 = never) followed by the value bytes
// (empty for deletes). The writer cuts a block once its uncompressed size
// reaches BlockSize.
//
// Range-deletion block entries: key = Start followed by the trailer (Seq,
// 15); value = End. Entries are sorted by key (Start ascending, then Seq
// descending).
//
// Index block entries: one per data block, in order; key = the encoded last
// internal key of the block; value = uvarint offset then uvarint length of
// the block's handle.
//
// # Filter block
//
// A bloom filter (github.com/bits-and-blooms/bloom/v3) over the distinct
// user keys of point entries, serialized by its MarshalBinary: m, k and the
// bitset length in bits as big-endian uint64s, then the bitset's uint64
// words, big-endian. It has max(n*BloomBitsPerKey, 64) bits and
// round(BloomBitsPerKey*ln 2) probes (clamped to [1, 30]). An empty filter
// block means the table has no filter.
//
// # Properties block
//
// A uvarint version (1), then SmallestKey and LargestKey each as a uvarint
// length and bytes, then uvarints MinSeq, MaxSeq, NumEntries, NumDeletes,
// NumRangeDels, NumDataBlocks, MinExpiry, MaxExpiry, NumWithoutExpiry,
// RawKeyBytes, RawValueBytes. Readers ignore bytes after the last known
// field, leaving room for additions within version 1. LargestKey may be the
// exclusive End of a range deletion; see Properties.
//
// # Footer
//
// 80 bytes at the end of the object:
//
//	[ 0,16) range-deletion block handle  offset, length: uint64 LE each
//	[16,32) filter block handle
//	[32,48) index block handle
//	[48,64) properties block handle
//	[64,68) format version               uint32 LE, currently 1
//	[68,72) CRC32C of bytes [0,68)       uint32 LE
//	[72,80) magic                        "s2litSST"
//
// # Reading
//
// Open reads the last 64 KiB of the object (all of it if smaller). That
// covers the footer and the metadata of typical tables; only when the
// metadata is larger does Open make a second read for the rest. The index,
// filter, range deletions and properties are decoded into memory. Data
// blocks are then read when a Get or an Iter needs them, verified against
// their checksum, decompressed and kept in the optional Cache. A Get reads
// at most one block. An Iter that has loaded two consecutive blocks reads
// ahead: it fetches the next blocks, which are contiguous, with one ranged
// read of a window doubling from 64 KiB to ReaderOptions.MaxReadahead
// (4 MiB by default), in the background while it consumes the previous
// window; an Iter from NewScanIter starts at the size its caller announces. Each block of a window is still verified and cached on its own.
//
// Any checksum mismatch or malformed structure yields an error wrapping
// ErrCorrupt; the reader never returns data from a block that failed
// verification, and bounds-checks every length it decodes.
package sst
