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
// props. data is valid only during the call: Run builds the next table in
// the same buffer, so that writing many tables never regrows one.
type Writer func(ctx context.Context, data []byte, props sst.Properties) (manifest.Table, error)

// Stats describe what Run did. Every point entry read is either written or
// counted in exactly one Dropped field:
// EntriesIn = EntriesOut + DroppedShadowed + DroppedRangeDeleted +
// DroppedExpired + DroppedDeleted.
type Stats struct {
	// InputTables counts the window's tables; OutputTables the output
	// run's, passthrough tables included.
	InputTables, OutputTables int
	// BytesRead is the total size of the input tables merged; BytesWritten
	// of the output tables uploaded. Passthrough tables count in neither.
	BytesRead, BytesWritten int64
	// PassthroughTables counts input tables handed on unchanged as output
	// tables: none of their data blocks is read and nothing is uploaded.
	// PassthroughBytes is their total size.
	PassthroughTables int
	PassthroughBytes  int64
	// EntriesIn and EntriesOut count point entries; a passthrough table's
	// entries count in both.
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
// output tables of about opts.TargetTableSize (cut at partition boundaries
// too when opts.Partition is set), which it hands to write in key order.
// Input tables that the merge would write unchanged are passed through
// instead. It returns the output run's manifest entries, to pass to Apply.
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
		st.InputTables += len(src)
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

// source reads one source of the window, a single L0 table or a run. Its
// head table is read only once the merge reaches it, and not at all when
// it is passed through; so at most one table per source is open.
type source struct {
	tables []manifest.Table
	cur    int         // index of the head table; len(tables) once exhausted
	r      *sst.Reader // the head table, opened for its properties only
	it     *sst.Iter   // iterates the head table; nil until it is read
}

func (s *source) done() bool { return s.cur == len(s.tables) }

// headUser is the user key where s stands in the merge: its current entry,
// or the Smallest of a head table not yet read, which bounds its entries
// and range deletions from below.
func (s *source) headUser() []byte {
	if s.it != nil {
		return s.it.Key().User
	}
	return s.tables[s.cur].Smallest
}

// before orders sources by head. A table not yet read goes before entries
// of its Smallest, since it may hold newer versions of it.
func (s *source) before(o *source) bool {
	if c := bytes.Compare(s.headUser(), o.headUser()); c != 0 {
		return c < 0
	}
	if s.it == nil || o.it == nil {
		return s.it == nil && o.it != nil
	}
	return sst.Compare(s.it.Key(), o.it.Key()) < 0
}

// checkEvery is how many steps pass between checks of ctx; reads check it
// anyway, but a window of cached or tiny blocks should still stop promptly.
const checkEvery = 1024

func (c *compactor) run(sources [][]manifest.Table) error {
	for _, tables := range sources {
		s := &source{tables: tables}
		c.srcs = append(c.srcs, s)
		if !s.done() {
			c.heap = append(c.heap, s)
		}
	}
	heap.Init(&c.heap)

	var (
		prev    []byte // user key of the previous entry merged
		hasPrev bool
	)
	for n := 0; len(c.heap) > 0; n++ {
		if n%checkEvery == 0 {
			if err := c.ctx.Err(); err != nil {
				return err
			}
		}
		s := c.heap[0]
		if s.it == nil {
			// The merge reached a table not yet read.
			t := s.tables[s.cur]
			passed, err := c.passThrough(s)
			if err != nil {
				return err
			}
			if passed {
				prev, hasPrev = append(prev[:0], t.Largest...), true
			} else if err := c.read(s); err != nil {
				return err
			}
			c.settle()
			continue
		}
		k := s.it.Key()
		c.stats.EntriesIn++
		if hasPrev && bytes.Equal(k.User, prev) {
			c.stats.DroppedShadowed++
		} else {
			prev, hasPrev = append(prev[:0], k.User...), true
			if err := c.emit(k, s.it.Expiry(), s.it.Value()); err != nil {
				return err
			}
		}
		if err := c.advance(s); err != nil {
			return err
		}
		c.settle()
	}
	return c.out.finish(nil)
}

// settle restores the heap after its top source moved, dropping it once
// exhausted.
func (c *compactor) settle() {
	if c.heap[0].done() {
		heap.Pop(&c.heap)
	} else {
		heap.Fix(&c.heap, 0)
	}
}

// passThrough hands s's head table T, which the merge has reached but not
// read, to the output unchanged when the merge would write it exactly as
// it is, and moves s past it. That holds when:
//
//   - nothing else in the window lies within T's key range: every other
//     source's head is after T's last key, and so is everything that
//     source holds further on (a run's tables follow one another). What
//     was merged already is before T's first key, since a table not yet
//     read goes before the entries of its Smallest;
//   - no range deletion seen so far (those of every table opened) overlaps
//     T. Those of tables not yet opened start after their source's head;
//   - T itself has nothing the rules rewrite: no range deletion, no entry
//     expired at now and, at the bottom, no point tombstone.
//
// Only older versions of a key inside T itself, which a flushed table can
// hold, survive where a rewrite would drop them: reads take the newest
// version, so what is visible is the same.
func (c *compactor) passThrough(s *source) (bool, error) {
	t := s.tables[s.cur]
	if c.out.opts.noPassthrough || t.NumEntries == 0 || t.NumRangeDels > 0 || (t.MaxExpiry != 0 && t.MinExpiry <= c.now) {
		return false, nil
	}
	// s is the top of the heap, so its children hold the other heads.
	for _, i := range []int{1, 2} {
		if i < len(c.heap) && bytes.Compare(c.heap[i].headUser(), t.Largest) <= 0 {
			return false, nil
		}
	}
	if c.tombs.overlaps(t.Smallest, t.Largest) {
		return false, nil
	}
	if c.bottom {
		// The manifest does not count point tombstones; the properties,
		// read with the index in one request, do. The reader is kept for
		// the merge if T has some.
		r, err := c.openTable(t)
		if err != nil {
			return false, err
		}
		if p := r.Properties(); p.NumDeletes > 0 || p.NumRangeDels > 0 {
			s.r = r
			return false, nil
		}
	}
	if err := c.out.passThrough(t); err != nil {
		return false, err
	}
	c.stats.EntriesIn += int64(t.NumEntries)
	c.stats.EntriesOut += int64(t.NumEntries)
	c.stats.PassthroughTables++
	c.stats.PassthroughBytes += t.Size
	s.cur++
	return true, nil
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

func (c *compactor) openTable(t manifest.Table) (*sst.Reader, error) {
	r, err := c.open(c.ctx, t)
	if err != nil {
		return nil, fmt.Errorf("open table %s: %w", t.ObjectKey(), err)
	}
	return r, nil
}

// read starts merging s's head table: it records the table's range
// deletions and positions at its first entry. A table without point
// entries is done with at once.
func (c *compactor) read(s *source) error {
	t := s.tables[s.cur]
	r := s.r
	s.r = nil
	if r == nil {
		var err error
		if r, err = c.openTable(t); err != nil {
			return err
		}
	}
	c.tombs.add(r.RangeDels())
	c.stats.RangeDelsIn += int64(len(r.RangeDels()))
	c.stats.BytesRead += t.Size
	s.it = r.NewIter(c.ctx)
	if s.it.First() {
		return nil
	}
	return c.nextTable(s)
}

// advance moves s to its next entry, or past its head table at the end.
func (c *compactor) advance(s *source) error {
	if s.it.Next() {
		return nil
	}
	return c.nextTable(s)
}

// nextTable closes the head table's iterator and moves s to its next table.
func (c *compactor) nextTable(s *source) error {
	err := c.closeIter(s)
	s.cur++
	return err
}

func (c *compactor) closeIter(s *source) error {
	err := s.it.Close()
	s.it = nil
	if err != nil {
		return fmt.Errorf("read table %s: %w", s.tables[s.cur].ObjectKey(), err)
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

// mergeHeap orders sources by head.
type mergeHeap []*source

func (h mergeHeap) Len() int           { return len(h) }
func (h mergeHeap) Less(i, j int) bool { return h[i].before(h[j]) }
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
	buf           []byte // the last table's buffer, reused for the next
	ctx           context.Context
	write         Writer
	opts          Options
	keepRangeDels bool
	tombs         *tombstones
	stats         *Stats

	w      *sst.Writer // the table being built, nil between tables
	part   []byte      // partition of the current table's entries
	lo     []byte      // where the current table's span starts; nil: unbounded
	tables []manifest.Table
}

// add appends a point entry, first finishing the current table if it has
// reached the target size or k starts another partition. Every entry added
// has a new user key, so any point between two entries is a user-key
// boundary.
func (o *output) add(k sst.Key, expiry int64, value []byte) error {
	// o.w holds at least one point entry: it is created here.
	if o.w != nil && (int64(o.w.EstimatedSize()) >= o.opts.TargetTableSize ||
		o.opts.Partition != nil && !bytes.Equal(o.opts.Partition(k.User), o.part)) {
		if err := o.finish(k.User); err != nil {
			return err
		}
	}
	if o.w == nil {
		o.w = sst.NewWriter(o.tableOptions())
		if o.opts.Partition != nil {
			o.part = append(o.part[:0], o.opts.Partition(k.User)...)
		}
	}
	if err := o.w.Add(k, expiry, value); err != nil {
		return fmt.Errorf("build table: %w", err)
	}
	return nil
}

// passThrough finishes the current table at t's first key and appends t
// as the next output table, whose span ends at t's last key. The caller has
// checked that no range deletion overlaps t: those ending before t go to
// the table finished here, those starting after t to the next.
func (o *output) passThrough(t manifest.Table) error {
	// A nil bound would mean unbounded: every deletion known, however far
	// beyond t, would go to the table before it.
	hi := t.Smallest
	if hi == nil {
		hi = []byte{}
	}
	if err := o.finish(hi); err != nil {
		return err
	}
	o.tables = append(o.tables, t)
	o.lo = append([]byte{}, t.Largest...)
	o.stats.OutputTables++
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
				o.w = sst.NewWriter(o.tableOptions())
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
	o.buf = data[:0] // the next table is built in the same memory
	o.tables = append(o.tables, t)
	o.stats.OutputTables++
	o.stats.BytesWritten += int64(len(data))
	o.stats.EntriesOut += int64(props.NumEntries)
	return nil
}

func (o *output) tableOptions() sst.WriterOptions {
	t := o.opts.Table
	t.Buffer = o.buf
	return t
}
