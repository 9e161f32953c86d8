package compaction

import (
	"bytes"
	"slices"

	"github.com/s2lite/s2lite/manifest"
)

// Plan is one compaction: a contiguous window of sources to merge into one
// run, and tables to delete outright. A Plan is made by Pick.
type Plan struct {
	// The window, newest first: the L0Count oldest tables of L0 (a suffix
	// of m.L0) if L0Count > 0, then runs FirstRun..FirstRun+NumRuns-1 of
	// the manifest Pick saw. When L0Count > 0, FirstRun is 0.
	L0Count  int
	FirstRun int
	NumRuns  int
	// Move means every input table's key range is disjoint from every
	// other's: the output run is the inputs re-sorted by key (MoveOutput),
	// and nothing is rewritten.
	Move bool
	// Bottom means nothing older lies below the window, so tombstones,
	// expired entries and range deletions may be dropped.
	Bottom bool
	// Drop lists tables to delete without rewriting: all their entries
	// have expired and no older table overlaps their key range. Pick never
	// puts a table both in Drop and in the window.
	Drop []manifest.Table

	// The window's tables as Pick saw them, so that Apply can find them by
	// identity in a newer manifest.
	l0   []manifest.Table
	runs [][]manifest.Table
}

// Pick returns the next compaction for m, or nil if there is nothing to do.
// now (Unix milliseconds) decides which tables have expired. See the package
// documentation for the policy.
func Pick(m *manifest.Manifest, now int64, opts Options) *Plan {
	opts = opts.withDefaults()
	if drop := droppable(m, now); len(drop) > 0 {
		return &Plan{Drop: drop}
	}
	switch {
	case L0Depth(m.L0) >= opts.L0Trigger || len(m.L0) >= opts.L0MaxTables:
		var size int64
		for _, t := range m.L0 {
			size += t.Size
		}
		return newPlan(m, len(m.L0), 0, extend(m.Levels, 0, size, opts.SizeRatio))
	case len(m.Levels) > opts.MaxRuns:
		best, bestSize := 0, int64(-1)
		for i := 0; i+1 < len(m.Levels); i++ {
			if s := runSize(m.Levels[i]) + runSize(m.Levels[i+1]); bestSize < 0 || s < bestSize {
				best, bestSize = i, s
			}
		}
		return newPlan(m, 0, best, 2+extend(m.Levels, best+2, bestSize, opts.SizeRatio))
	}
	return nil
}

// L0Depth is the most L0 tables any one key falls in: what a point read may
// consult in L0, and how many flushes L0 holds when each flush spans the
// keyspace. The tables of one flush are key-disjoint, so a flush cut per
// partition adds one to the depth, not one per table. Key ranges are
// inclusive at both ends, so tables that touch count as overlapping.
func L0Depth(l0 []manifest.Table) int {
	type edge struct {
		key   []byte
		start bool
	}
	edges := make([]edge, 0, 2*len(l0))
	for _, t := range l0 {
		edges = append(edges, edge{t.Smallest, true}, edge{t.Largest, false})
	}
	// At equal keys starts go first, so that touching ranges overlap.
	slices.SortFunc(edges, func(a, b edge) int {
		if c := bytes.Compare(a.key, b.key); c != 0 {
			return c
		}
		switch {
		case a.start == b.start:
			return 0
		case a.start:
			return -1
		}
		return 1
	})
	depth, most := 0, 0
	for _, e := range edges {
		if e.start {
			depth++
			most = max(most, depth)
		} else {
			depth--
		}
	}
	return most
}

// extend returns how many runs from levels[from] on join a window of size
// bytes: each run joins while it is at most ratio times the window so far.
func extend(levels [][]manifest.Table, from int, size int64, ratio float64) int {
	n := 0
	for i := from; i < len(levels); i++ {
		s := runSize(levels[i])
		if float64(s) > ratio*float64(size) {
			break
		}
		size += s
		n++
	}
	return n
}

func runSize(run []manifest.Table) int64 {
	var n int64
	for _, t := range run {
		n += t.Size
	}
	return n
}

func newPlan(m *manifest.Manifest, l0Count, firstRun, numRuns int) *Plan {
	p := &Plan{
		L0Count:  l0Count,
		FirstRun: firstRun,
		NumRuns:  numRuns,
		Bottom:   firstRun+numRuns == len(m.Levels),
		l0:       slices.Clone(m.L0[len(m.L0)-l0Count:]),
	}
	for _, run := range m.Levels[firstRun : firstRun+numRuns] {
		p.runs = append(p.runs, slices.Clone(run))
	}
	p.Move = disjoint(p.l0, p.runs)
	return p
}

// Inputs returns the window's tables, newest source first, located in m by
// position. m must be the manifest Pick saw, or a newer one that differs
// only by L0 tables added at the front.
func (p *Plan) Inputs(m *manifest.Manifest) []manifest.Table {
	var out []manifest.Table
	if n := len(m.L0); p.L0Count > 0 && p.L0Count <= n {
		out = append(out, m.L0[n-p.L0Count:]...)
	}
	for i := p.FirstRun; i < p.FirstRun+p.NumRuns && i < len(m.Levels); i++ {
		out = append(out, m.Levels[i]...)
	}
	return out
}

// disjoint reports whether the window's tables can be re-filed as one run
// without rewriting: sorted by Smallest, each must end before the next
// begins. Two tables of the same run may touch, since a table's Largest may
// be the exclusive end of a range deletion clipped at the next table's
// Smallest; tables of different sources must not, since their Largest may
// be a real key.
func disjoint(l0 []manifest.Table, runs [][]manifest.Table) bool {
	type item struct {
		t   *manifest.Table
		src int
	}
	var items []item
	for i := range l0 {
		items = append(items, item{&l0[i], i})
	}
	for r := range runs {
		for i := range runs[r] {
			items = append(items, item{&runs[r][i], len(l0) + r})
		}
	}
	slices.SortFunc(items, func(a, b item) int { return bytes.Compare(a.t.Smallest, b.t.Smallest) })
	for i := 1; i < len(items); i++ {
		prev, cur := items[i-1], items[i]
		c := bytes.Compare(prev.t.Largest, cur.t.Smallest)
		if c > 0 || (c == 0 && prev.src != cur.src) {
			return false
		}
	}
	return true
}

// expired reports whether every entry of t has expired by now. Range
// deletions count as entries without expiry, so a table holding one never
// qualifies. A table with entries but no expiry at all cannot have
// NumWithoutExpiry == 0 unless its metadata is incomplete; it is kept, as
// losing live data is the one mistake a drop must never make.
func expired(t manifest.Table, now int64) bool {
	if t.NumWithoutExpiry > 0 {
		return false
	}
	if t.MaxExpiry == 0 {
		return t.NumEntries == 0 && t.NumRangeDels == 0
	}
	return t.MaxExpiry <= now
}

func overlaps(a, b manifest.Table) bool {
	return bytes.Compare(a.Smallest, b.Largest) <= 0 && bytes.Compare(b.Smallest, a.Largest) <= 0
}

// droppable returns the tables whose entries have all expired and whose key
// range no older kept table overlaps. Deleting such a table changes no
// read: its entries are invisible, and since nothing older holds its keys
// it hides nothing either. Sources are visited oldest first, so a table
// only has to avoid older tables that stay, and a stack of expired tables
// overlapping only one another goes in one plan.
func droppable(m *manifest.Manifest, now int64) []manifest.Table {
	var drop []manifest.Table
	dropped := make([][]bool, len(m.Levels))
	for r := range m.Levels {
		dropped[r] = make([]bool, len(m.Levels[r]))
	}
	// olderKept reports whether a kept table of a run after r, or of
	// L0 after l0, overlaps t.
	olderKept := func(t manifest.Table, r int, l0 []manifest.Table, l0Dropped []bool) bool {
		for i, u := range l0 {
			if !l0Dropped[i] && overlaps(t, u) {
				return true
			}
		}
		for rr := r; rr < len(m.Levels); rr++ {
			run := m.Levels[rr]
			// Largest is non-decreasing along a run, so the tables that
			// overlap t are a contiguous slice.
			lo, _ := slices.BinarySearchFunc(run, t.Smallest, func(u manifest.Table, k []byte) int {
				return bytes.Compare(u.Largest, k)
			})
			for i := lo; i < len(run) && bytes.Compare(run[i].Smallest, t.Largest) <= 0; i++ {
				if !dropped[rr][i] {
					return true
				}
			}
		}
		return false
	}
	for r := len(m.Levels) - 1; r >= 0; r-- {
		for i, t := range m.Levels[r] {
			if expired(t, now) && !olderKept(t, r+1, nil, nil) {
				dropped[r][i] = true
				drop = append(drop, t)
			}
		}
	}
	l0Dropped := make([]bool, len(m.L0))
	for i := len(m.L0) - 1; i >= 0; i-- {
		t := m.L0[i]
		if expired(t, now) && !olderKept(t, 0, m.L0[i+1:], l0Dropped[i+1:]) {
			l0Dropped[i] = true
			drop = append(drop, t)
		}
	}
	return drop
}
