package sst

import (
	"context"
)

// Iter walks a table's point entries in Compare order, fetching data blocks
// as it reaches them. Range deletions are not applied. An Iter is not safe
// for concurrent use; create one per goroutine.
//
// Once an Iter has loaded two consecutive data blocks it reads ahead: it
// fetches the following blocks in one ranged read of a window that doubles,
// from 64 KiB up to ReaderOptions.MaxReadahead, with each window fetched in
// the background while the previous one is consumed. Every block is still
// verified on its own; a corrupt block is reported when the iterator
// reaches it, after the entries before it. Loading any block other than the
// current one, the next one or one already fetched ahead ends the run. Close
// the Iter to stop its readahead.
type Iter struct {
	r      *Reader
	ctx    context.Context
	idx    int  // index of the current data block
	loaded bool // bi holds block idx
	bi     blockIter
	ra     readahead
	seek   []byte // scratch for seek targets
	key    Key
	expiry int64
	value  []byte
	valid  bool
	closed bool
	err    error
}

// NewIter returns an unpositioned iterator. ctx governs the reads it makes.
func (r *Reader) NewIter(ctx context.Context) *Iter { return r.NewScanIter(ctx, 0) }

// NewScanIter is NewIter for a caller that expects to read about scanBytes
// in order: its readahead windows start at that size (at most
// ReaderOptions.MaxReadahead) instead of growing from 64 KiB, which saves a
// round trip per doubling when a long scan reaches each table. 0 is NewIter.
func (r *Reader) NewScanIter(ctx context.Context, scanBytes int64) *Iter {
	first := min(max(scanBytes, 0), r.readahead)
	return &Iter{r: r, ctx: ctx, ra: readahead{max: r.readahead, first: first, window: first / 2, last: -1}}
}

// First positions at the first entry. Like SeekGE it clears a previous
// error, so a failed read can be retried.
func (it *Iter) First() bool {
	if it.closed {
		return false
	}
	it.err = nil
	if !it.loadBlock(0) {
		return false
	}
	it.bi.first()
	return it.settle()
}

// SeekGE positions at the first entry whose User is >= user, at any Seq.
func (it *Iter) SeekGE(user []byte) bool {
	if it.closed {
		return false
	}
	it.err = nil
	// (user, MaxSeq, kindMax) sorts before every entry for user.
	it.seek = appendInternalKey(it.seek[:0], user, MaxSeq, kindMax)
	if !it.loadBlock(it.r.searchIndex(it.seek)) {
		return false
	}
	it.bi.seekGE(it.seek)
	return it.settle()
}

// Next moves to the following entry.
func (it *Iter) Next() bool {
	if !it.valid {
		return false
	}
	it.bi.next()
	return it.settle()
}

// loadBlock makes data block i current, leaving the block iterator
// unpositioned. Past the last block it invalidates the iterator.
func (it *Iter) loadBlock(i int) bool {
	it.valid = false
	if i == it.idx && it.loaded {
		// A seek within the current block needs no read, and keeps the
		// readahead run going.
		it.bi.init(it.bi.blk, it.bi.off)
		return true
	}
	it.idx, it.loaded = i, false
	if i >= len(it.r.index) {
		return false
	}
	blk, err := it.readBlock(i)
	if err != nil {
		it.err = err
		return false
	}
	it.bi.init(blk, it.r.index[i].h.offset)
	it.loaded = true
	return true
}

// settle decodes the block iterator's entry, moving on to the next block
// when the current one is exhausted.
func (it *Iter) settle() bool {
	for !it.bi.valid {
		if it.bi.err != nil {
			it.err, it.valid = it.bi.err, false
			return false
		}
		if !it.loadBlock(it.idx + 1) {
			return false
		}
		it.bi.first()
	}
	var err error
	it.key, it.expiry, it.value, err = decodeDataEntry(&it.bi)
	if err != nil {
		it.err, it.valid = err, false
		return false
	}
	it.valid = true
	return true
}

// Valid reports whether the iterator is positioned at an entry.
func (it *Iter) Valid() bool { return it.valid }

// Key returns the current key, valid until the next positioning call.
func (it *Iter) Key() Key { return it.key }

// Expiry returns the current entry's expiry in Unix milliseconds (0: never).
func (it *Iter) Expiry() int64 { return it.expiry }

// Value returns the current value, valid until the next positioning call.
// It must not be modified.
func (it *Iter) Value() []byte { return it.value }

// Err returns the error that stopped iteration, if any. Running off the end
// is not an error.
func (it *Iter) Err() error { return it.err }

// Close releases the iterator, cancelling and waiting for any readahead in
// flight, and returns Err. Later positioning calls return false.
func (it *Iter) Close() error {
	it.ra.reset()
	it.closed, it.valid, it.loaded = true, false, false
	it.bi = blockIter{}
	it.key, it.value = Key{}, nil
	return it.err
}
