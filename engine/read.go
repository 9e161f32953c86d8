package engine

import (
	"bytes"
	"container/heap"
	"context"
	"fmt"
	"sort"

	"github.com/s2lite/s2lite/sst"
)

// readState is a consistent snapshot: the memtables and tables that hold
// every sequence number up to seq, and nothing of later writes.
type readState struct {
	mems []*memtable // newest first
	v    *version
	seq  uint64
	now  int64 // Unix ms, for expiry
}

func (db *DB) snapshot() (*readState, error) {
	if db.closed.Load() {
		return nil, ErrClosed
	}
	db.mu.Lock()
	defer db.mu.Unlock()
	rs := &readState{v: db.current, seq: db.visibleSeq.Load(), now: db.opts.Now().UnixMilli()}
	rs.mems = append(rs.mems, db.mem)
	for i := len(db.imm) - 1; i >= 0; i-- {
		rs.mems = append(rs.mems, db.imm[i])
	}
	return rs, nil
}

func visible(kind sst.Kind, expiry, now int64) bool {
	return kind == sst.KindSet && (expiry == 0 || expiry > now)
}

// Get returns the value of key, or ErrNotFound if it is missing, deleted or
// expired. The returned slice is the caller's.
//
// Sources are searched newest first; their sequence ranges do not overlap,
// so the first source holding the key or a range deletion covering it
// decides the answer. (The L0 tables of one flush share a sequence range
// but are key-disjoint, and each holds only range deletions clipped to its
// own span, so at most one of them can hold the key or cover it.)
func (db *DB) Get(ctx context.Context, key []byte) ([]byte, error) {
	rs, err := db.snapshot()
	if err != nil {
		return nil, err
	}
	for _, m := range rs.mems {
		tomb := newTombstones(m.rangeDelsAt(rs.seq)).maxSeq(key)
		e, ok := m.get(key, rs.seq)
		if done, v, err := decide(ok, e.seq, e.kind, e.expiry, e.value, tomb, rs.now); done {
			return v, err
		}
	}
	for _, t := range rs.v.l0 {
		if done, v, err := db.getTable(ctx, t, key, rs); done || err != nil {
			return v, err
		}
	}
	for _, run := range rs.v.levels {
		if t := findInRun(run, key); t != nil {
			if done, v, err := db.getTable(ctx, t, key, rs); done || err != nil {
				return v, err
			}
		}
	}
	return nil, ErrNotFound
}

// decide turns what one source knows about a key into an answer, or says
// the search must go on to older sources.
func decide(found bool, seq uint64, kind sst.Kind, expiry int64, value []byte, tomb uint64, now int64) (bool, []byte, error) {
	switch {
	case found && tomb <= seq:
		if visible(kind, expiry, now) {
			return true, bytes.Clone(value), nil
		}
		return true, nil, ErrNotFound
	case found || tomb > 0:
		// Deleted by a range deletion newer than everything older sources
		// hold.
		return true, nil, ErrNotFound
	}
	return false, nil, nil
}

func (db *DB) getTable(ctx context.Context, t *tableHandle, key []byte, rs *readState) (bool, []byte, error) {
	if bytes.Compare(key, t.meta.Smallest) < 0 || bytes.Compare(key, t.meta.Largest) > 0 {
		return false, nil, nil
	}
	r, tombs, err := t.open(ctx)
	if err != nil {
		return true, nil, fmt.Errorf("engine: get: %w", err)
	}
	tomb := tombs.maxSeq(key)
	if tomb > rs.seq {
		tomb = 0 // cannot happen for a table in the snapshot; be safe
	}
	k, expiry, value, ok, err := r.Get(ctx, key, rs.seq)
	if err != nil {
		return true, nil, fmt.Errorf("engine: get: %w", err)
	}
	done, v, derr := decide(ok, k.Seq, k.Kind, expiry, value, tomb, rs.now)
	return done, v, derr
}

// findInRun returns the table of a sorted run that may hold key: the last
// one whose Smallest is <= key. (A table's Largest may be the exclusive end
// of a range deletion clipped at the next table's Smallest, so Largest is
// not a reliable divider.)
func findInRun(run []*tableHandle, key []byte) *tableHandle {
	i := sort.Search(len(run), func(i int) bool { return bytes.Compare(run[i].meta.Smallest, key) > 0 }) - 1
	if i < 0 || bytes.Compare(key, run[i].meta.Largest) > 0 {
		return nil
	}
	return run[i]
}

// IterOptions bound an iterator to [LowerBound, UpperBound); nil means
// unbounded.
type IterOptions struct {
	LowerBound []byte
	UpperBound []byte
	// ScanBytes, when positive, says the caller expects to read about this
	// many bytes in order: table readahead then starts at that window (up
	// to its maximum) instead of growing from 64 KiB in every table the
	// scan reaches. Leave it zero for short or unknown scans.
	ScanBytes int64
}

// internalIter is one sorted source of entries for the merging iterator.
type internalIter interface {
	seekGE(key []byte)
	next()
	valid() bool
	key() sst.Key
	expiry() int64
	value() []byte
	err() error
	close() error
}

type memSource struct{ it memIter }

func (s *memSource) seekGE(key []byte) { s.it.seekGE(key) }
func (s *memSource) next()             { s.it.next() }
func (s *memSource) valid() bool       { return s.it.valid }
func (s *memSource) key() sst.Key {
	e := s.it.entry()
	return sst.Key{User: e.key, Seq: e.seq, Kind: e.kind}
}
func (s *memSource) expiry() int64 { return s.it.entry().expiry }
func (s *memSource) value() []byte { return s.it.entry().value }
func (s *memSource) err() error    { return nil }
func (s *memSource) close() error  { return nil }

type mergeHeap []internalIter

func (h mergeHeap) Len() int           { return len(h) }
func (h mergeHeap) Less(i, j int) bool { return sst.Compare(h[i].key(), h[j].key()) < 0 }
func (h mergeHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *mergeHeap) Push(x any)        { *h = append(*h, x.(internalIter)) }
func (h *mergeHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

// Iterator walks the visible keys of a snapshot in order. Key is valid
// until the next positioning call; Value may be retained (see Value). An
// Iterator is not safe for concurrent use; Close it when done.
type Iterator struct {
	rs      *readState
	opts    IterOptions
	sources []internalIter
	heap    mergeHeap
	tomb    *tombstones
	key     []byte
	value   []byte
	valid   bool
	err     error
}

// NewIter returns an iterator over a snapshot taken now. ctx is used for
// every object store read the iterator makes.
func (db *DB) NewIter(ctx context.Context, opts *IterOptions) (*Iterator, error) {
	rs, err := db.snapshot()
	if err != nil {
		return nil, err
	}
	it := &Iterator{rs: rs}
	if opts != nil {
		it.opts = *opts
	}
	var rds []sst.RangeDel
	for _, m := range rs.mems {
		it.sources = append(it.sources, &memSource{it: memIter{m: m, snap: rs.seq}})
		rds = append(rds, m.rangeDelsAt(rs.seq)...)
	}
	// Every table within the bounds is opened up front (its metadata is
	// usually cached) because the iterator needs all range deletions before
	// it can decide what is visible; data blocks are read only as sources
	// are positioned.
	open := func(tables []*tableHandle) ([]runTable, error) {
		var in []runTable
		for _, t := range tables {
			if !it.overlaps(t.meta.Smallest, t.meta.Largest) {
				continue
			}
			r, _, err := t.open(ctx)
			if err != nil {
				return nil, fmt.Errorf("engine: new iterator: %w", err)
			}
			rds = append(rds, r.RangeDels()...)
			in = append(in, runTable{smallest: t.meta.Smallest, largest: t.meta.Largest, r: r})
		}
		return in, nil
	}
	l0, err := open(rs.v.l0)
	if err != nil {
		it.Close()
		return nil, err
	}
	runs := disjointRuns(l0)
	for _, run := range rs.v.levels {
		tables, err := open(run)
		if err != nil {
			it.Close()
			return nil, err
		}
		if len(tables) > 0 {
			runs = append(runs, tables)
		}
	}
	for _, run := range runs {
		it.sources = append(it.sources, newLevelIter(ctx, run, it.opts.ScanBytes))
	}
	it.tomb = newTombstones(rds)
	return it, nil
}

func (it *Iterator) overlaps(smallest, largest []byte) bool {
	if it.opts.UpperBound != nil && bytes.Compare(smallest, it.opts.UpperBound) >= 0 {
		return false
	}
	if it.opts.LowerBound != nil && bytes.Compare(largest, it.opts.LowerBound) < 0 {
		return false
	}
	return true
}

// First moves to the first visible key.
func (it *Iterator) First() bool { return it.SeekGE(it.opts.LowerBound) }

// SeekGE moves to the first visible key >= key.
func (it *Iterator) SeekGE(key []byte) bool {
	if it.opts.LowerBound != nil && bytes.Compare(key, it.opts.LowerBound) < 0 {
		key = it.opts.LowerBound
	}
	it.heap = it.heap[:0]
	for _, s := range it.sources {
		s.seekGE(key)
		if !it.check(s) {
			return false
		}
		if s.valid() {
			it.heap = append(it.heap, s)
		}
	}
	heap.Init(&it.heap)
	return it.findVisible()
}

// Next moves to the next visible key.
func (it *Iterator) Next() bool {
	if !it.valid {
		return false
	}
	return it.findVisible()
}

func (it *Iterator) check(s internalIter) bool {
	if err := s.err(); err != nil {
		it.err, it.valid = fmt.Errorf("engine: iterator: %w", err), false
		return false
	}
	return true
}

// findVisible settles on the next user key whose newest version in the
// snapshot is a live value, consuming every version of each key it passes.
func (it *Iterator) findVisible() bool {
	for len(it.heap) > 0 {
		top := it.heap[0].key()
		if it.opts.UpperBound != nil && bytes.Compare(top.User, it.opts.UpperBound) >= 0 {
			break
		}
		if top.Seq > it.rs.seq {
			if !it.advanceTop() {
				return false
			}
			continue
		}
		src := it.heap[0]
		live := visible(top.Kind, src.expiry(), it.rs.now) && !it.tomb.covers(top.User, top.Seq)
		it.key = append(it.key[:0], top.User...)
		if live {
			// No copy: the value aliases a table block or a memtable entry,
			// and neither is ever modified (see Value).
			it.value = src.value()
		}
		// Skip the older versions of this key.
		for len(it.heap) > 0 && bytes.Equal(it.heap[0].key().User, it.key) {
			if !it.advanceTop() {
				return false
			}
		}
		if live {
			it.valid = true
			return true
		}
	}
	it.valid = false
	return false
}

func (it *Iterator) advanceTop() bool {
	s := it.heap[0]
	s.next()
	if !it.check(s) {
		return false
	}
	if s.valid() {
		heap.Fix(&it.heap, 0)
	} else {
		heap.Pop(&it.heap)
	}
	return true
}

// Valid reports whether the iterator is at a key.
func (it *Iterator) Valid() bool { return it.valid }

// Key returns the current key.
func (it *Iterator) Key() []byte { return it.key }

// Value returns the current value. Unlike the key, it stays valid after
// the iterator moves on and may be retained: it aliases a table block
// (decoded once, shared through the block cache) or a memtable entry (a
// Batch's copy), and the engine never modifies or reuses either, so a
// caller gathering many values needs no copies. It must not be modified.
func (it *Iterator) Value() []byte { return it.value }

// Error returns the first error the iterator met.
func (it *Iterator) Error() error { return it.err }

// Close releases the iterator.
func (it *Iterator) Close() error {
	for _, s := range it.sources {
		if err := s.close(); err != nil && it.err == nil {
			it.err = err
		}
	}
	it.sources, it.valid = nil, false
	return it.err
}
