package engine

import (
	"bytes"
	"context"
	"sort"

	"github.com/s2lite/s2lite/sst"
)

// levelIter is one sorted run's source for the merging iterator. The run's
// tables are key-disjoint and in key order, so it walks them one after
// another and positions only the table it is in.
//
// A source per table would position every table the bounds overlap at the
// first seek, and a scan iterator positioned in a table fetches its first
// readahead window: a catch-up over a long stream fetched several tables'
// first windows, one after another, before it could return its first
// entry, and then crossed every table boundary with nothing in flight.
// Here the next table's first window is fetched in the background once
// the current table has fetched (or is fetching) all it has left, so a
// long scan keeps a read in flight across table boundaries and holds at
// most one table's worth of windows ahead.
type levelIter struct {
	ctx       context.Context
	readers   []*sst.Reader // the run's tables within the bounds, in key order
	largest   [][]byte      // each table's Largest
	scanBytes int64

	i     int       // the table cur walks
	cur   *sst.Iter // nil before the first seek and once past the last table
	ok    bool      // cur is at an entry
	ahead *sst.Iter // on table i+1, fetching its first window; or nil
}

func newLevelIter(ctx context.Context, tables []*tableHandle, readers []*sst.Reader, scanBytes int64) *levelIter {
	l := &levelIter{ctx: ctx, readers: readers, scanBytes: scanBytes}
	for _, t := range tables {
		l.largest = append(l.largest, t.meta.Largest)
	}
	return l
}

func (l *levelIter) seekGE(key []byte) {
	// Largest bounds a table's keys from above (inclusively, or exclusively
	// for a range deletion clipped at the next table), so the first table
	// that may hold a key >= key is the first whose Largest is >= key.
	i := sort.Search(len(l.readers), func(i int) bool { return bytes.Compare(l.largest[i], key) >= 0 })
	l.enter(i)
	if l.cur == nil {
		return
	}
	l.ok = l.cur.SeekGE(key)
	l.settle()
}

func (l *levelIter) next() {
	l.ok = l.cur.Next()
	l.settle()
}

// settle moves on through the following tables while the current one is
// exhausted (not failed), then starts fetching the next table once the
// current one will read nothing more.
func (l *levelIter) settle() {
	for !l.ok {
		if l.cur.Err() != nil {
			return
		}
		l.enter(l.i + 1)
		if l.cur == nil {
			return
		}
		l.ok = l.cur.First()
	}
	if l.ahead == nil && l.i+1 < len(l.readers) && l.cur.FetchedToEnd() {
		l.ahead = l.readers[l.i+1].NewScanIter(l.ctx, l.scanBytes)
		l.ahead.PrefetchFirst()
	}
}

// enter makes table i current, unpositioned (or keeps it, positioned, if
// it already is). Past the last table it leaves cur nil.
func (l *levelIter) enter(i int) {
	if l.cur != nil && l.i == i {
		return
	}
	l.closeCur()
	ahead := l.ahead
	l.ahead = nil
	if ahead != nil && i != l.i+1 {
		ahead.Close()
		ahead = nil
	}
	l.i, l.ok = i, false
	switch {
	case i >= len(l.readers):
		if ahead != nil {
			ahead.Close()
		}
	case ahead != nil:
		l.cur = ahead
	default:
		l.cur = l.readers[i].NewScanIter(l.ctx, l.scanBytes)
	}
}

func (l *levelIter) closeCur() {
	if l.cur != nil {
		l.cur.Close()
		l.cur = nil
	}
}

func (l *levelIter) valid() bool   { return l.ok }
func (l *levelIter) key() sst.Key  { return l.cur.Key() }
func (l *levelIter) expiry() int64 { return l.cur.Expiry() }
func (l *levelIter) value() []byte { return l.cur.Value() }

func (l *levelIter) err() error {
	if l.cur == nil {
		return nil
	}
	return l.cur.Err()
}

func (l *levelIter) close() error {
	var err error
	if l.cur != nil {
		err = l.cur.Close()
		l.cur = nil
	}
	if l.ahead != nil {
		l.ahead.Close()
		l.ahead = nil
	}
	l.ok = false
	return err
}
