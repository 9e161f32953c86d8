package engine

import (
	"bytes"
	"slices"
	"sort"

	"github.com/s2lite/s2lite/sst"
)

// tombstones answers "is key@seq deleted by a range deletion?" for one read
// snapshot. Overlapping deletions are fragmented into disjoint spans, each
// carrying the highest deleting sequence number, so a lookup is one binary
// search however many deletions overlap.
type tombstones struct {
	bounds [][]byte // sorted, distinct span boundaries
	seqs   []uint64 // seqs[i] covers [bounds[i], bounds[i+1]); 0 = none
}

func newTombstones(rds []sst.RangeDel) *tombstones {
	if len(rds) == 0 {
		return &tombstones{}
	}
	bounds := make([][]byte, 0, 2*len(rds))
	for _, rd := range rds {
		bounds = append(bounds, rd.Start, rd.End)
	}
	slices.SortFunc(bounds, bytes.Compare)
	bounds = slices.CompactFunc(bounds, bytes.Equal)
	seqs := make([]uint64, len(bounds))
	for _, rd := range rds {
		i, _ := slices.BinarySearchFunc(bounds, rd.Start, bytes.Compare)
		for ; i < len(bounds) && bytes.Compare(bounds[i], rd.End) < 0; i++ {
			seqs[i] = max(seqs[i], rd.Seq)
		}
	}
	return &tombstones{bounds: bounds, seqs: seqs}
}

// maxSeq returns the highest sequence number of a deletion covering key.
func (t *tombstones) maxSeq(key []byte) uint64 {
	if len(t.bounds) == 0 {
		return 0
	}
	// The span containing key starts at the last bound <= key.
	i := sort.Search(len(t.bounds), func(i int) bool { return bytes.Compare(t.bounds[i], key) > 0 }) - 1
	if i < 0 {
		return 0
	}
	return t.seqs[i]
}

// covers reports whether an entry key@seq is deleted.
func (t *tombstones) covers(key []byte, seq uint64) bool { return t.maxSeq(key) > seq }
