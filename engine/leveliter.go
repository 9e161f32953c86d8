package engine

import (
	"bytes"
	"context"
	"slices"
	"sort"

	"github.com/s2lite/s2lite/sst"
)

// levelIter is the merging iterator's source for a run of tables that are
// key-disjoint and in key order: a level, or a group of L0 tables (see
// disjointRuns). It walks them one after another and positions only the
// table it is in.
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
	tables    []runTable // key-disjoint, in key order
	scanBytes int64

	i     int       // the table cur walks
	cur   *sst.Iter // nil before the first seek and once past the last table
	ok    bool      // cur is at an entry
	ahead *sst.Iter // on table i+1, fetching its first window; or nil
}

// runTable is an opened table and its key bounds.
type runTable struct {
	smallest, largest []byte
	r                 *sst.Reader
}

func newLevelIter(ctx context.Context, tables []runTable, scanBytes int64) *levelIter {
	return &levelIter{ctx: ctx, tables: tables, scanBytes: scanBytes}
}

// disjointRuns partitions tables that may overlap (L0's) into as few runs
// of key-disjoint tables in key order as there can be: sorted by Smallest,
// each table joins the first run whose last table ends before it starts.
// The merging iterator orders entries across its sources by internal key,
// so which run a table joins does not change what it returns; what matters
// is that no two tables of a run can hold the same user key. L0 tables of
// append-only keys (a stream's records) rarely overlap, so they usually
// form one run and a long scan reads them one at a time, like a level.
func disjointRuns(tables []runTable) [][]runTable {
	sorted := slices.Clone(tables)
	slices.SortStableFunc(sorted, func(a, b runTable) int { return bytes.Compare(a.smallest, b.smallest) })
	var runs [][]runTable
next:
	for _, t := range sorted {
		for i, run := range runs {
			if bytes.Compare(run[len(run)-1].largest, t.smallest) < 0 {
				runs[i] = append(run, t)
				continue next
			}
		}
		runs = append(runs, []runTable{t})
	}
	return runs
}

func (l *levelIter) seekGE(key []byte) {
	// Largest bounds a table's keys from above (inclusively, or exclusively
	// for a range deletion clipped at the next table), so the first table
	// that may hold a key >= key is the first whose Largest is >= key.
	i := sort.Search(len(l.tables), func(i int) bool { return bytes.Compare(l.tables[i].largest, key) >= 0 })
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
	if l.ahead == nil && l.i+1 < len(l.tables) && l.cur.FetchedToEnd() {
		l.ahead = l.tables[l.i+1].r.NewScanIter(l.ctx, l.scanBytes)
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
	case ahead != nil: // only ever on a table that exists
		l.cur = ahead
	case i < len(l.tables):
		l.cur = l.tables[i].r.NewScanIter(l.ctx, l.scanBytes)
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
