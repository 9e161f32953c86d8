package compaction

import (
	"bytes"
	"container/heap"
	"slices"
	"sort"

	"github.com/s2lite/s2lite/sst"
)

// fragment returns the parts of rds inside [lo, hi) (nil bounds are
// unbounded) as disjoint spans sorted by Start, each carrying the highest
// Seq of the deletions covering it; adjacent spans with the same Seq are
// joined. For any key and sequence number the result deletes exactly what
// rds deletes within [lo, hi), since a deletion only ever asks whether the
// highest covering Seq exceeds an entry's.
//
// It sweeps the span boundaries with a heap of the open deletions, so
// nested deletions (repeated trims of one stream share a Start) cost
// O(n log n), not O(n²). The result's keys alias rds, lo and hi.
func fragment(rds []sst.RangeDel, lo, hi []byte) []sst.RangeDel {
	clipped := ClipRangeDels(rds, lo, hi)
	if len(clipped) == 0 {
		return nil
	}
	bounds := make([][]byte, 0, 2*len(clipped))
	for _, rd := range clipped {
		bounds = append(bounds, rd.Start, rd.End)
	}
	slices.SortFunc(clipped, func(a, b sst.RangeDel) int { return bytes.Compare(a.Start, b.Start) })
	slices.SortFunc(bounds, bytes.Compare)
	bounds = slices.CompactFunc(bounds, bytes.Equal)

	var (
		open openDels
		out  []sst.RangeDel
		next int // first deletion of clipped not yet open
	)
	for i := 0; i+1 < len(bounds); i++ {
		b := bounds[i]
		for ; next < len(clipped) && bytes.Compare(clipped[next].Start, b) <= 0; next++ {
			heap.Push(&open, clipped[next])
		}
		// Deletions that ended are removed only once they reach the top:
		// the top is then the highest Seq among those still open, and an
		// open deletion spans at least to the next boundary.
		for len(open) > 0 && bytes.Compare(open[0].End, b) <= 0 {
			heap.Pop(&open)
		}
		if len(open) == 0 {
			continue
		}
		seq := open[0].Seq
		if n := len(out); n > 0 && out[n-1].Seq == seq && bytes.Equal(out[n-1].End, b) {
			out[n-1].End = bounds[i+1]
			continue
		}
		out = append(out, sst.RangeDel{Start: b, End: bounds[i+1], Seq: seq})
	}
	return out
}

// ClipRangeDels returns the parts of rds inside [lo, hi) (nil bounds are
// unbounded), dropping those left empty. Overlapping deletions stay
// overlapping; keys alias rds, lo and hi.
func ClipRangeDels(rds []sst.RangeDel, lo, hi []byte) []sst.RangeDel {
	out := make([]sst.RangeDel, 0, len(rds))
	for _, rd := range rds {
		if lo != nil && bytes.Compare(rd.Start, lo) < 0 {
			rd.Start = lo
		}
		if hi != nil && bytes.Compare(rd.End, hi) > 0 {
			rd.End = hi
		}
		if bytes.Compare(rd.Start, rd.End) < 0 {
			out = append(out, rd)
		}
	}
	return out
}

// openDels is a max-heap of range deletions by Seq.
type openDels []sst.RangeDel

func (h openDels) Len() int           { return len(h) }
func (h openDels) Less(i, j int) bool { return h[i].Seq > h[j].Seq }
func (h openDels) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *openDels) Push(x any)        { *h = append(*h, x.(sst.RangeDel)) }
func (h *openDels) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

// tombstones holds the range deletions of the input tables opened so far
// and answers, for the key being merged, the highest Seq deleting it.
//
// A run's tables are opened only as the merge reaches them, and that is
// soon enough: a table not yet opened starts after every key of its run's
// current table, one of which is at or after the merge position, so none of
// its deletions can cover a key the merge has reached.
type tombstones struct {
	rds   []sst.RangeDel // may still matter at or after the merge position
	frags []sst.RangeDel // fragment(rds), rebuilt when rds changes
	dirty bool
}

func (t *tombstones) add(rds []sst.RangeDel) {
	if len(rds) > 0 {
		t.rds = append(t.rds, rds...)
		t.dirty = true
	}
}

// maxSeq returns the highest Seq of a deletion covering key, 0 if none.
func (t *tombstones) maxSeq(key []byte) uint64 {
	if len(t.rds) == 0 {
		return 0
	}
	t.build()
	i := sort.Search(len(t.frags), func(i int) bool { return bytes.Compare(t.frags[i].Start, key) > 0 }) - 1
	if i >= 0 && bytes.Compare(key, t.frags[i].End) < 0 {
		return t.frags[i].Seq
	}
	return 0
}

// overlaps reports whether a deletion covers any key in [lo, hi].
func (t *tombstones) overlaps(lo, hi []byte) bool {
	if len(t.rds) == 0 {
		return false
	}
	t.build()
	// The fragments are disjoint and sorted, so their Ends are sorted too.
	i := sort.Search(len(t.frags), func(i int) bool { return bytes.Compare(t.frags[i].End, lo) > 0 })
	return i < len(t.frags) && bytes.Compare(t.frags[i].Start, hi) <= 0
}

func (t *tombstones) build() {
	if t.dirty {
		t.frags, t.dirty = fragment(t.rds, nil, nil), false
	}
}

// prune forgets the deletions ending at or before pos, which can cover
// nothing the merge has yet to reach, so that memory and rebuilds stay
// proportional to the deletions still open.
func (t *tombstones) prune(pos []byte) {
	n := len(t.rds)
	t.rds = slices.DeleteFunc(t.rds, func(rd sst.RangeDel) bool { return bytes.Compare(rd.End, pos) <= 0 })
	if len(t.rds) != n {
		t.dirty = true
	}
}
