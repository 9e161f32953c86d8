package engine

import (
	"bytes"
	"sync"

	"github.com/google/btree"

	"github.com/s2lite/s2lite/sst"
)

// memEntry is one point entry in a memtable.
type memEntry struct {
	key    []byte
	seq    uint64
	kind   sst.Kind
	expiry int64
	value  []byte
}

func memLess(a, b memEntry) bool {
	if c := bytes.Compare(a.key, b.key); c != 0 {
		return c < 0
	}
	return a.seq > b.seq // newest first within a key
}

// memEntryOverhead approximates per-entry bookkeeping in the B-tree.
const memEntryOverhead = 48

// memtable holds committed operations that are not yet in an SST. Entries
// are only inserted after their WAL object is durable, so everything in a
// memtable is acknowledged-durable (or about to be acknowledged). Entries are
// never removed: readers filter by sequence number, which is what lets them
// scan under a read lock in chunks without cloning the tree.
type memtable struct {
	mu        sync.RWMutex
	tree      *btree.BTreeG[memEntry]
	rangeDels []sst.RangeDel
	size      int64

	// Set when the memtable is frozen: the log position it covers.
	walNext    uint64 // first WAL id whose operations are not in it
	lastSeq    uint64 // last sequence number in it (or before it)
	epochFloor uint64 // WAL epoch floor at walNext
	walObjects int    // WAL objects applied, to bound replay length
}

func newMemtable() *memtable {
	return &memtable{tree: btree.NewG(32, memLess)}
}

// apply inserts a WAL object's operations, numbered from firstSeq.
func (m *memtable) apply(firstSeq uint64, ops []op) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for i, o := range ops {
		seq := firstSeq + uint64(i)
		switch o.kind {
		case opDeleteRange:
			m.rangeDels = append(m.rangeDels, sst.RangeDel{Start: o.key, End: o.value, Seq: seq})
		case opDelete:
			m.tree.ReplaceOrInsert(memEntry{key: o.key, seq: seq, kind: sst.KindDelete})
		default:
			m.tree.ReplaceOrInsert(memEntry{key: o.key, seq: seq, kind: sst.KindSet, expiry: o.expiry, value: o.value})
		}
		m.size += int64(len(o.key) + len(o.value) + memEntryOverhead)
	}
}

// countWALObject records that one more WAL object (possibly empty) is
// covered and returns the total.
func (m *memtable) countWALObject() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.walObjects++
	return m.walObjects
}

func (m *memtable) walObjectCount() int {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.walObjects
}

func (m *memtable) approximateSize() int64 {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.size
}

func (m *memtable) empty() bool {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.tree.Len() == 0 && len(m.rangeDels) == 0
}

// get returns the newest entry for key with seq <= snap.
func (m *memtable) get(key []byte, snap uint64) (memEntry, bool) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	var out memEntry
	found := false
	m.tree.AscendGreaterOrEqual(memEntry{key: key, seq: snap}, func(e memEntry) bool {
		if bytes.Equal(e.key, key) {
			out, found = e, true
		}
		return false
	})
	return out, found
}

// rangeDelsAt returns the range deletions visible at snap.
func (m *memtable) rangeDelsAt(snap uint64) []sst.RangeDel {
	m.mu.RLock()
	defer m.mu.RUnlock()
	var out []sst.RangeDel
	for _, rd := range m.rangeDels {
		if rd.Seq <= snap {
			out = append(out, rd)
		}
	}
	return out
}

// collect appends up to limit entries with key >= from (strictly after
// (fromKey, fromSeq) when after is set) and seq <= snap.
func (m *memtable) collect(dst []memEntry, from memEntry, after bool, snap uint64, limit int) []memEntry {
	m.mu.RLock()
	defer m.mu.RUnlock()
	m.tree.AscendGreaterOrEqual(from, func(e memEntry) bool {
		if after && !memLess(from, e) {
			return true
		}
		if e.seq <= snap {
			dst = append(dst, e)
		}
		return len(dst) < limit
	})
	return dst
}

// all returns every entry in order; used by flush on a frozen memtable.
func (m *memtable) all() []memEntry {
	m.mu.RLock()
	defer m.mu.RUnlock()
	out := make([]memEntry, 0, m.tree.Len())
	m.tree.Ascend(func(e memEntry) bool {
		out = append(out, e)
		return true
	})
	return out
}

// memIter walks a memtable at a snapshot in chunks, taking the read lock only
// while refilling.
type memIter struct {
	m     *memtable
	snap  uint64
	buf   []memEntry
	pos   int
	done  bool // the tree has nothing after buf
	valid bool
}

const memIterChunk = 128

func (it *memIter) fill(from memEntry, after bool) {
	it.buf = it.m.collect(it.buf[:0], from, after, it.snap, memIterChunk)
	it.pos = 0
	it.done = len(it.buf) < memIterChunk
	it.valid = len(it.buf) > 0
}

func (it *memIter) seekGE(key []byte) {
	it.fill(memEntry{key: key, seq: ^uint64(0)}, false)
}

func (it *memIter) next() {
	if !it.valid {
		return
	}
	it.pos++
	if it.pos < len(it.buf) {
		return
	}
	if it.done {
		it.valid = false
		return
	}
	last := it.buf[len(it.buf)-1]
	it.fill(last, true)
}

func (it *memIter) entry() memEntry { return it.buf[it.pos] }
