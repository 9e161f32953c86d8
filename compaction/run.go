package compaction

import (
	"bytes"
	"container/heap"
	"context"
	"errors"
	"fmt"

	"github.com/s2lite/s2lite/manifest"
	"github.com/s2lite/s2lite/sst"
)

// Opener opens an input table for reading.
type Opener func(ctx context.Context, t manifest.Table) (*sst.Reader, error)

// Writer uploads one finished output table and returns its manifest entry:
// the caller assigns its file number and epoch and fills the rest from
// props.
type Writer func(ctx context.Context, data []byte, props sst.Properties) (manifest.Table, error)

// Stats describe what Run did. Every point entry read is either written or
// counted in exactly one Dropped field:
// EntriesIn = EntriesOut + DroppedShadowed + DroppedRangeDeleted +
// DroppedExpired + DroppedDeleted.
type Stats struct {
	InputTables, OutputTables int
	// BytesRead is the total size of the input tables; BytesWritten of the
	// output tables.
	BytesRead, BytesWritten int64
	// EntriesIn and EntriesOut count point entries.
	EntriesIn, EntriesOut int64
	// DroppedShadowed counts versions older than the newest of their key.
	DroppedShadowed int64
	// DroppedRangeDeleted counts newest versions covered by a newer range
	// deletion of the window.
	DroppedRangeDeleted int64
	// DroppedExpired counts expired sets dropped at the bottom;
	// ExpiredToTombstone those written as deletes elsewhere.
	DroppedExpired, ExpiredToTombstone int64
	// DroppedDeleted counts point tombstones dropped at the bottom.
	DroppedDeleted int64
	// RangeDelsIn counts the input range deletions; RangeDelsOut the
	// fragments written.
	RangeDelsIn, RangeDelsOut int64
}

// Run executes a plan that is not a Move: a merge of the window's entries
// by internal key, following the rules in the package documentation, into
// output tables of about opts.TargetTableSize, which it hands to write in
// key order. It returns their manifest entries, to pass to Apply.
//
// m must be the manifest Pick saw, or a newer one that differs only by L0
// tables added at the front. now (Unix milliseconds) decides expiry; it
// must not be later than the clock of any read made after the output is
// installed, or a read could find deleted what it would have seen as live.
//
// If Run fails, the tables it already uploaded are referenced by no
// manifest and are left to garbage collection.
func Run(ctx context.Context, m *manifest.Manifest, p *Plan, open Opener, write Writer, now int64, opts Options) ([]manifest.Table, Stats, error) {
	var st Stats
	if p.Move {
		return nil, st, errors.New("compaction: run: a move plan is not rewritten; use MoveOutput")
	}
	l0Start, firstRun, err := p.locate(m)
	if err != nil {
		return nil, st, err
	}
	opts = opts.withDefaults()

	// Each L0 table is a source of its own; each run is one source.
	var sources [][]manifest.Table
	for i := range m.L0[l0Start:] {
		sources = append(sources, m.L0[l0Start+i:l0Start+i+1])
	}
	sources = append(sources, m.Levels[firstRun:firstRun+len(p.runs)]...)

	c := &compactor{
		ctx:    ctx,
		open:   open,
		now:    now,
		bottom: p.Bottom,
		stats:  &st,
	}
	c.out = output{
		ctx:           ctx,
		write:         write,
		opts:          opts,
		keepRangeDels: !p.Bottom,
		tombs:         &c.tombs,
		stats:         &st,
	}
	for _, src := range sources {
		for _, t := range src {
			st.InputTables++
			st.BytesRead += t.Size
		}
	}
	err = c.run(sources)
	if cerr := c.close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, st, fmt.Errorf("compaction: run: %w", err)
	}
	return c.out.tables, st, nil
}

// compactor is the state of one Run.
type compactor struct {
	ctx    context.Context
	open   Opener
	now    int64
	bottom bool
	stats  *Stats

	srcs  []*source
	heap  mergeHeap
	tombs tombstones
	out   output
}

// source reads one source of the window, a single L0 table or a run, with
// one table open at a time.
type source struct {
	tables []manifest.Table
	next   int       // index of the next table to open
	it     *sst.Iter // nil once exhausted
}

// checkEvery is how many entries pass between checks of ctx; reads check it
// anyway, but a window of cached or tiny blocks should still stop promptly.
const checkEvery = 1024

func (c *compactor) run(sources [][]manifest.Table) error {
	for _, tables := range sources {
		s := &source{tables: tables}
		c.srcs = append(c.srcs, s)
		ok, err := c.load(s)
		if err != nil {
			return err
		}
		if ok {
			c.heap = append(c.heap, s)
		}
	}
	heap.Init(&c.heap)

	var prev []byte // user key of the previous entry
	for n := 0; len(c.heap) > 0; n++ {
		if n%checkEvery == 0 {
			if err := c.ctx.Err(); err != nil {
				return err
			}
		}
		s := c.heap[0]
		k := s.it.Key()
		c.stats.EntriesIn++
		if n > 0 && bytes.Equal(k.User, prev) {
			c.stats.DroppedShadowed++
		} else {
			prev = append(prev[:0], k.User...)
			if err := c.emit(k, s.it.Expiry(), s.it.Value()); err != nil {
				return err
			}
		}
		ok, err := c.advance(s)
		if err != nil {
			return err
		}
		if ok {
			heap.Fix(&c.heap, 0)
		} else {
			heap.Pop(&c.heap)
		}
	}
	return c.out.finish(nil)
}

// emit applies the merge rules to the newest version of a user key.
func (c *compactor) emit(k sst.Key, expiry int64, value []byte) error {
	switch {
	case c.tombs.maxSeq(k.User) > k.Seq:
		c.stats.DroppedRangeDeleted++
		return nil
	case k.Kind == sst.KindSet && expiry != 0 && expiry <= c.now:
		if c.bottom {
			c.stats.DroppedExpired++
			return nil
		}
		c.stats.ExpiredToTombstone++
		return c.out.add(sst.Key{User: k.User, Seq: k.Seq, Kind: sst.KindDelete}, expiry, nil)
	case k.Kind == sst.KindDelete && c.bottom:
		c.stats.DroppedDeleted++
		return nil
	}
	return c.out.add(k, expiry, value)
}

// load opens s's tables from s.next on until one has a point entry, and
// records the range deletions of each. It reports whether s has an entry.
func (c *compactor) load(s *source) (bool, error) {
	for s.next < len(s.tables) {
		t := s.tables[s.next]
		s.next++
		r, err := c.open(c.ctx, t)
		if err != nil {
			return false, fmt.Errorf("open table %s: %w", t.ObjectKey(), err)
		}
		c.tombs.add(r.RangeDels())
		c.stats.RangeDelsIn += int64(len(r.RangeDels()))
		s.it = r.NewIter(c.ctx)
		if s.it.First() {
			return true, nil
		}
		if err := c.closeIter(s); err != nil {
			return false, err
		}
	}
	return false, nil
}

// advance moves s to its next entry, opening its next table if need be.
func (c *compactor) advance(s *source) (bool, error) {
	if s.it.Next() {
		return true, nil
	}
	if err := c.closeIter(s); err != nil {
		return false, err
	}
	return c.load(s)
}

func (c *compactor) closeIter(s *source) error {
	err := s.it.Close()
	s.it = nil
	if err != nil {
		return fmt.Errorf("read table %s: %w", s.tables[s.next-1].ObjectKey(), err)
	}
	return nil
}

// close closes every iterator still open, stopping their readahead.
func (c *compactor) close() error {
	var err error
	for _, s := range c.srcs {
		if s.it != nil {
			err = errors.Join(err, c.closeIter(s))
		}
	}
	return err
}

// mergeHeap orders sources by their current internal key.
type mergeHeap []*source

func (h mergeHeap) Len() int           { return len(h) }
func (h mergeHeap) Less(i, j int) bool { return sst.Compare(h[i].it.Key(), h[j].it.Key()) < 0 }
func (h mergeHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *mergeHeap) Push(x any)        { *h = append(*h, x.(*source)) }
func (h *mergeHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

// output builds the output tables in key order.
type output struct {
	ctx           context.Context
	write         Writer
	opts          Options
	keepRangeDels bool
	tombs         *tombstones
	stats         *Stats

	w      *sst.Writer // the table being built, nil between tables
	lo     []byte      // where the current table's span starts; nil: unbounded
	tables []manifest.Table
}

// add appends a point entry, first finishing the current table if it has
// reached the target size. Every entry added has a new user key, so any
// point between two entries is a user-key boundary.
func (o *output) add(k sst.Key, expiry int64, value []byte) error {
	if o.w != nil && int64(o.w.EstimatedSize()) >= o.opts.TargetTableSize {
		if err := o.finish(k.User); err != nil {
			return err
		}
	}
	if o.w == nil {
		o.w = sst.NewWriter(o.opts.Table)
	}
	if err := o.w.Add(k, expiry, value); err != nil {
		return fmt.Errorf("build table: %w", err)
	}
	return nil
}

// finish completes the current table, whose span is [o.lo, hi) (hi nil:
// unbounded), with the range deletions clipped to that span, and uploads
// it. hi is the next table's first user key. With no point entries and no
// range deletions in the span, nothing is written.
func (o *output) finish(hi []byte) error {
	if o.keepRangeDels {
		for _, rd := range fragment(o.tombs.rds, o.lo, hi) {
			if o.w == nil {
				o.w = sst.NewWriter(o.opts.Table)
			}
			if err := o.w.AddRangeDel(rd); err != nil {
				return fmt.Errorf("build table: %w", err)
			}
			o.stats.RangeDelsOut++
		}
	}
	if hi != nil {
		o.lo = bytes.Clone(hi)
		// The merge is at hi: deletions ending by then are done with.
		o.tombs.prune(hi)
	}
	if o.w == nil {
		return nil
	}
	data, props, err := o.w.Finish()
	o.w = nil
	if err != nil {
		return fmt.Errorf("build table: %w", err)
	}
	t, err := o.write(o.ctx, data, props)
	if err != nil {
		return fmt.Errorf("write table: %w", err)
	}
	o.tables = append(o.tables, t)
	o.stats.OutputTables++
	o.stats.BytesWritten += int64(len(data))
	o.stats.EntriesOut += int64(props.NumEntries)
	return nil
}
