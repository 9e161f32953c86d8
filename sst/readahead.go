package sst

import (
	"context"
	"fmt"
)

// DefaultMaxReadahead is the largest readahead window when
// ReaderOptions.MaxReadahead is 0. A ranged read costs a round trip (about
// a millisecond on an object store) on top of its transfer time, so a
// sequential scan reading one 4 KiB block at a time would run far below the
// store's bandwidth; a 1 MiB read spends most of its time transferring,
// and a 4 MiB one more so (a cold 48 MiB catch-up read of the stream layer
// made 36 GETs instead of 69 with 1 MiB, at no loss of speed). An iterator
// holds at most two windows: the one it consumes and the one in flight.
const DefaultMaxReadahead = 4 << 20

// initialReadahead is the first window of a sequential run. Starting small
// limits what a short scan fetches in vain; doubling from there reaches the
// maximum within a few reads.
const initialReadahead = 64 << 10

// readahead is an Iter's sequential-read state.
//
// While the iterator consumes the blocks of one window, the next window is
// fetched by a single background goroutine, so the round trip overlaps
// decoding and the caller's work. At most one fetch is in flight per
// iterator; a non-sequential load cancels it and waits for it, as does
// Close, so no goroutine outlives the iterator.
type readahead struct {
	max    int64 // largest window in bytes; 0 disables readahead
	first  int64 // the first window of a run when larger than initialReadahead
	window int64 // size of the last window; first/2 before the first
	last   int   // index of the block loaded last; -1 if none
	run    int   // consecutive blocks loaded, ending at last

	// pending holds verified blocks [pendLo, pendLo+len(pending)) fetched
	// ahead and not yet consumed. pendErr, if set, is the error for the
	// block right after them: a window is decoded block by block, so a bad
	// block is reported only when the iterator reaches it, after the good
	// blocks before it. A failed read (including a short one) yields no
	// blocks, so its error is reported at the window's first block.
	pending []block
	pendLo  int
	pendErr error

	fetch *fetch // the window being fetched, if any
}

// fetch is one window read in the background.
type fetch struct {
	lo, hi int // data blocks [lo, hi)
	cancel context.CancelFunc
	done   chan struct{} // closed once blocks and err are set
	blocks []block
	err    error
}

// reset forgets the sequential run and everything fetched ahead.
func (ra *readahead) reset() {
	if f := ra.fetch; f != nil {
		f.cancel()
		<-f.done
		ra.fetch = nil
	}
	clear(ra.pending) // drop references to the window's buffer
	ra.pending, ra.pendLo, ra.pendErr = nil, 0, nil
	ra.window, ra.last, ra.run = ra.first/2, -1, 0
}

// advance records that block i was loaded; seq says whether that continues
// the run.
func (ra *readahead) advance(i int, seq bool) {
	if !seq {
		ra.reset()
	}
	ra.last = i
	ra.run++
}

// take returns block i if it was fetched ahead, discarding the blocks
// before it. It waits for the background fetch if that covers i.
func (ra *readahead) take(i int) (blk block, ok bool, err error) {
	if f := ra.fetch; f != nil && f.lo <= i && i < f.hi {
		<-f.done
		ra.fetch = nil
		clear(ra.pending)
		ra.pending, ra.pendLo, ra.pendErr = f.blocks, f.lo, f.err
	}
	end := ra.pendLo + len(ra.pending)
	switch {
	case ra.pendLo <= i && i < end:
		n := i - ra.pendLo
		blk = ra.pending[n]
		clear(ra.pending[:n+1])
		ra.pending, ra.pendLo = ra.pending[n+1:], i+1
		ra.advance(i, true)
		return blk, true, nil
	case i == end && ra.pendErr != nil:
		err = ra.pendErr
		// Forget the error so that a retry reads the block afresh.
		ra.reset()
		return block{}, false, err
	}
	return block{}, false, nil
}

// readBlock returns data block i for the iterator: from the blocks fetched
// ahead, else the cache, else one ranged read. It then starts fetching the
// next window if the iterator is reading sequentially.
func (it *Iter) readBlock(i int) (block, error) {
	ra := &it.ra
	blk, ok, err := ra.take(i)
	if err != nil {
		return block{}, err
	}
	if !ok {
		ra.advance(i, i == ra.last+1)
		if ra.first > 0 && ra.run == 1 && !it.r.cache.has(it.r.cacheID, it.r.index[i].h.offset) {
			blk, err = it.readFirstWindow(i)
		} else {
			blk, err = it.r.readDataBlock(it.ctx, it.r.index[i].h)
		}
		if err != nil {
			ra.reset()
			return block{}, err
		}
	}
	it.prefetch()
	return blk, nil
}

// readFirstWindow starts a scan iterator's run at block i with one read of
// a whole first window, instead of two single-block round trips before
// readahead starts: a catch-up read opens a fresh iterator on every table
// it crosses, and each paid those round trips with nothing in flight.
func (it *Iter) readFirstWindow(i int) (block, error) {
	ra, r := &it.ra, it.r
	ra.window = ra.first
	blocks, err := r.readBlocks(it.ctx, i, r.windowEnd(i, ra.first))
	if len(blocks) == 0 {
		return block{}, err
	}
	ra.pending, ra.pendLo, ra.pendErr = blocks[1:], i+1, err
	return blocks[0], nil
}

// prefetch starts fetching the window after the last loaded block and the
// blocks already fetched ahead, unless a fetch is under way, the run is too
// short, or the window would start at a cached block (a warm scan must not
// read anything).
func (it *Iter) prefetch() {
	ra, r := &it.ra, it.r
	if ra.max <= 0 || (ra.run < 2 && ra.first == 0) || ra.fetch != nil || ra.pendErr != nil {
		return
	}
	lo := ra.last + 1
	if len(ra.pending) > 0 {
		lo = ra.pendLo + len(ra.pending)
	}
	if lo >= len(r.index) || r.cache.has(r.cacheID, r.index[lo].h.offset) {
		return
	}
	ra.window = min(max(2*ra.window, initialReadahead), ra.max)
	it.startFetch(lo, r.windowEnd(lo, ra.window))
}

// startFetch reads data blocks [lo, hi) in the background.
func (it *Iter) startFetch(lo, hi int) {
	r := it.r
	ctx, cancel := context.WithCancel(it.ctx)
	f := &fetch{lo: lo, hi: hi, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(f.done)
		defer cancel()
		f.blocks, f.err = r.readBlocks(ctx, lo, hi)
	}()
	it.ra.fetch = f
}

// PrefetchFirst starts fetching a scan iterator's first window, from the
// table's first data block, in the background. It is for a caller that
// will soon position the iterator at the table's start (First, or SeekGE
// to a key at or before its first entry): a scan about to cross from one
// table into the next, which would otherwise wait for that window with
// nothing in flight. The positioning call takes the window as if it had
// read it itself; positioning anywhere else cancels the fetch. It does
// nothing for an iterator that is not a scan iterator, has been
// positioned, or whose table's first block is cached.
func (it *Iter) PrefetchFirst() {
	ra, r := &it.ra, it.r
	if it.closed || ra.first == 0 || ra.fetch != nil || ra.last >= 0 || len(ra.pending) > 0 ||
		len(r.index) == 0 || r.cache.has(r.cacheID, r.index[0].h.offset) {
		return
	}
	ra.window = ra.first
	it.startFetch(0, r.windowEnd(0, ra.first))
}

// FetchedToEnd reports whether every data block after the current one has
// been fetched ahead or is being fetched, so that the iterator will make
// no further reads while it walks forward to the end of its table.
func (it *Iter) FetchedToEnd() bool {
	ra := &it.ra
	end := it.idx + 1
	if len(ra.pending) > 0 {
		end = max(end, ra.pendLo+len(ra.pending))
	}
	if ra.fetch != nil {
		end = max(end, ra.fetch.hi)
	}
	return end >= len(it.r.index)
}

// windowEnd returns hi such that data blocks [lo, hi) span at most size
// bytes (but at least one block), stopping before a cached block. Blocks
// come from the index, so the window never extends past the data region.
func (r *Reader) windowEnd(lo int, size int64) int {
	start := r.index[lo].h.offset
	hi := lo + 1
	for hi < len(r.index) && int64(r.index[hi].h.end()-start) <= size &&
		!r.cache.has(r.cacheID, r.index[hi].h.offset) {
		hi++
	}
	return hi
}

// readBlocks reads the contiguous data blocks [lo, hi) in one ranged read,
// verifies and decodes each and adds it to the cache. It returns the blocks
// decoded before the first failure along with that failure.
func (r *Reader) readBlocks(ctx context.Context, lo, hi int) ([]block, error) {
	// Each block is read straight into a buffer of its own (the index
	// checked that blocks tile the data region, so they are contiguous):
	// a cached block must not pin a whole window in memory, and copying
	// blocks out of one window buffer cost a pass over every byte.
	raws := make([][]byte, hi-lo)
	for i, e := range r.index[lo:hi] {
		raws[i] = make([]byte, e.h.length+blockTrailerLen)
	}
	start, end := r.index[lo].h.offset, r.index[hi-1].h.end()
	if err := r.obj.ReadInto(ctx, int64(start), raws); err != nil {
		return nil, fmt.Errorf("sst: reading %d bytes at offset %d: %w", end-start, start, err)
	}
	blocks := make([]block, 0, hi-lo)
	for i, e := range r.index[lo:hi] {
		blk, err := r.decodeDataBlock(raws[i], e.h)
		if err != nil {
			return blocks, err
		}
		blocks = append(blocks, blk)
	}
	return blocks, nil
}
