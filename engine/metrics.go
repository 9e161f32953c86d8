package engine

import (
	"sync/atomic"
	"time"

	"github.com/s2lite/s2lite/sst"
)

type metrics struct {
	walObjects      atomic.Uint64
	walBytes        atomic.Uint64
	walPutNanos     atomic.Uint64
	walReplayed     atomic.Uint64
	writesCommitted atomic.Uint64
	writesFailed    atomic.Uint64
	groupsCommitted atomic.Uint64
	heals           atomic.Uint64
	flushes         atomic.Uint64
	flushTables     atomic.Uint64
	flushBytes      atomic.Uint64
	flushErrors     atomic.Uint64
	stalls          atomic.Uint64
	stallNanos      atomic.Uint64
	stalled         atomic.Int64

	compactions       atomic.Uint64
	compactionMoves   atomic.Uint64
	compactionDrops   atomic.Uint64
	compactionRead    atomic.Uint64
	compactionWritten atomic.Uint64
	gcDeleted         atomic.Uint64
	gcRuns            atomic.Uint64
}

// Metrics is a point-in-time snapshot of the engine's counters and gauges.
type Metrics struct {
	// Write-ahead log.
	WALObjectsWritten uint64        // WAL objects PUT (fences included)
	WALBytesWritten   uint64        // bytes in them
	WALPutTime        time.Duration // total time spent in WAL PUTs
	WALObjectsReplay  uint64        // WAL objects read back by Open and heals
	WritesCommitted   uint64        // batches acknowledged
	WritesFailed      uint64        // batches failed after submission
	GroupsCommitted   uint64        // WAL objects carrying writes
	Heals             uint64        // recoveries after a failed WAL write

	// Memtables and flushes.
	MemtableBytes      int64
	ImmutableMemtables int
	UnflushedBytes     int64
	Flushes            uint64
	FlushTables        uint64 // SSTs written by flushes (one or more per flush)
	FlushBytes         uint64 // SST bytes written by flushes
	FlushErrors        uint64

	// Write stalls: writers waiting for flushes to catch up.
	WriteStalls       uint64
	WriteStallTime    time.Duration
	WritersStalledNow int64

	// Tree shape.
	L0Tables   int
	L0Bytes    int64
	Tables     int
	TableBytes int64

	// Runs lists the sorted runs below L0, newest first: tables and bytes.
	RunTables []int
	RunBytes  []int64

	Compaction CompactionStats
	// GCRuns and GCDeleted count garbage collection passes and the objects
	// they deleted.
	GCRuns    uint64
	GCDeleted uint64

	BlockCache sst.CacheStats

	WriterEpoch     uint64
	ManifestVersion uint64
	VisibleSeq      uint64
}

// Metrics returns a snapshot of the engine's metrics.
func (db *DB) Metrics() Metrics {
	out := Metrics{
		WALObjectsWritten: db.m.walObjects.Load(),
		WALBytesWritten:   db.m.walBytes.Load(),
		WALPutTime:        time.Duration(db.m.walPutNanos.Load()),
		WALObjectsReplay:  db.m.walReplayed.Load(),
		WritesCommitted:   db.m.writesCommitted.Load(),
		WritesFailed:      db.m.writesFailed.Load(),
		GroupsCommitted:   db.m.groupsCommitted.Load(),
		Heals:             db.m.heals.Load(),
		Flushes:           db.m.flushes.Load(),
		FlushTables:       db.m.flushTables.Load(),
		FlushBytes:        db.m.flushBytes.Load(),
		FlushErrors:       db.m.flushErrors.Load(),
		WriteStalls:       db.m.stalls.Load(),
		WriteStallTime:    time.Duration(db.m.stallNanos.Load()),
		WritersStalledNow: db.m.stalled.Load(),
		BlockCache:        db.cache.Stats(),
		VisibleSeq:        db.visibleSeq.Load(),
	}
	db.mu.Lock()
	out.MemtableBytes = db.mem.approximateSize()
	out.ImmutableMemtables = len(db.imm)
	out.UnflushedBytes = db.unflushedLocked()
	v := db.current
	db.mu.Unlock()
	out.L0Tables = len(v.l0)
	for _, t := range v.l0 {
		out.L0Bytes += t.meta.Size
	}
	for _, t := range v.m.Tables() {
		out.Tables++
		out.TableBytes += t.Size
	}
	for _, run := range v.levels {
		var n int64
		for _, t := range run {
			n += t.meta.Size
		}
		out.RunTables = append(out.RunTables, len(run))
		out.RunBytes = append(out.RunBytes, n)
	}
	out.Compaction = CompactionStats{
		Compactions:  db.m.compactions.Load(),
		Moves:        db.m.compactionMoves.Load(),
		Drops:        db.m.compactionDrops.Load(),
		BytesRead:    db.m.compactionRead.Load(),
		BytesWritten: db.m.compactionWritten.Load(),
	}
	out.GCRuns, out.GCDeleted = db.m.gcRuns.Load(), db.m.gcDeleted.Load()
	out.WriterEpoch = v.m.WriterEpoch
	out.ManifestVersion = v.m.Version
	return out
}
