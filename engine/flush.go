package engine

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/pingcap/failpoint"

	"github.com/s2lite/s2lite/compaction"
	"github.com/s2lite/s2lite/internal/crashtest/fault"
	"github.com/s2lite/s2lite/manifest"
	"github.com/s2lite/s2lite/objstore"
	"github.com/s2lite/s2lite/sst"
)

// flushLoop turns frozen memtables into L0 tables, oldest first, so that the
// manifest's replay start only ever moves forward.
func (db *DB) flushLoop() {
	defer db.bgWG.Done()
	backoff := 50 * time.Millisecond
	for {
		db.mu.Lock()
		var m *memtable
		if len(db.imm) > 0 {
			m = db.imm[0]
		}
		db.mu.Unlock()
		if m == nil {
			select {
			case <-db.flushKick:
				continue
			case <-db.bgCtx.Done():
				return
			}
		}
		if err := db.flushMemtable(db.bgCtx, m); err != nil {
			if db.bgCtx.Err() != nil {
				return
			}
			db.m.flushErrors.Add(1)
			if errors.Is(err, ErrFenced) {
				db.log.Warn("flush stopped: fenced", "err", err)
				return
			}
			db.log.Warn("flush failed; will retry", "err", err, "backoff", backoff)
			select {
			case <-time.After(backoff):
			case <-db.bgCtx.Done():
				return
			}
			backoff = min(2*backoff, 5*time.Second)
			continue
		}
		backoff = 50 * time.Millisecond
	}
}

// flushMemtable writes m as L0 tables (one, or one per large partition; see
// splitFlush) and installs a manifest that references them and moves the
// WAL replay start past them.
func (db *DB) flushMemtable(ctx context.Context, m *memtable) error {
	entries := m.all()
	rangeDels := m.rangeDelsAt(^uint64(0))
	var tables []manifest.Table
	if len(entries) > 0 || len(rangeDels) > 0 {
		var err error
		tables, err = db.writeFlushTables(ctx, entries, rangeDels)
		if err != nil {
			return fmt.Errorf("flush: %w", err)
		}
		// Failpoint: the tables are uploaded but no manifest references them.
		failpoint.Inject("flushAfterUpload", func(val failpoint.Value) { err = fault.Do(ctx, val) })
		if err != nil {
			db.releaseTables(tables)
			return fmt.Errorf("flush: %w", err)
		}
	}

	db.manMu.Lock()
	defer db.manMu.Unlock()
	next := db.man.Clone()
	next.LastSeq = m.lastSeq
	next.WALReplayFrom = m.walNext
	next.WALEpochFloor = m.epochFloor
	// The tables of one flush are key-disjoint, so their order among
	// themselves does not matter to reads.
	next.L0 = append(slices.Clone(tables), next.L0...)
	err := db.installLocked(ctx, next, func() {
		// Failpoint: the manifest references the table, and the memtable
		// is not dropped yet.
		failpoint.Inject("flushAfterManifest", func(val failpoint.Value) { _ = fault.Do(ctx, val) })
		db.imm = db.imm[1:]
	})
	if err != nil {
		db.releaseTables(tables) // a retry uploads new tables
		if errors.Is(err, errAdoptedOwnManifest) && db.man.WALReplayFrom >= m.walNext {
			// The adopted version is an earlier attempt of this very flush:
			// the memtable is in its table.
			db.mu.Lock()
			db.imm = db.imm[1:]
			db.mu.Unlock()
			db.m.flushes.Add(1)
			return nil
		}
		return fmt.Errorf("flush: %w", err)
	}
	db.m.flushes.Add(1)
	db.kickCompaction()
	return nil
}

// writeFlushTables builds and uploads the tables of one flush, a few at a
// time, and returns their manifest entries in key order.
func (db *DB) writeFlushTables(ctx context.Context, entries []memEntry, rangeDels []sst.RangeDel) ([]manifest.Table, error) {
	pieces := splitFlush(entries, db.opts.Compaction.Partition, db.opts.FlushPartitionMinBytes)
	tables := make([]manifest.Table, len(pieces))
	errs := make([]error, len(pieces))
	sem := make(chan struct{}, flushUploadConcurrency)
	var wg sync.WaitGroup
	for i, piece := range pieces {
		// Piece i spans [its first key, the next piece's first key); the
		// first and last are unbounded, so every range deletion lands in
		// some table, clipped to that table's span.
		var lo, hi []byte
		if i > 0 {
			lo = piece[0].key
		}
		if i+1 < len(pieces) {
			hi = pieces[i+1][0].key
		}
		// Tables are built one at a time here and only their uploads run
		// in parallel: building is CPU work, and several builders at once
		// would take every core from the goroutines that complete WAL PUTs
		// and acknowledge writes, which then wait for a time slice.
		data, props, err := buildFlushTable(db.opts.Table, piece, compaction.ClipRangeDels(rangeDels, lo, hi))
		if err != nil {
			errs[i] = err
			break
		}
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			tables[i], errs[i] = db.uploadTable(ctx, data, props)
			if errs[i] == nil {
				db.m.flushTables.Add(1)
				db.m.flushBytes.Add(uint64(len(data)))
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		db.releaseTables(tables)
		return nil, err
	}
	return tables, nil
}

// flushUploadConcurrency bounds the table PUTs one flush has in flight.
const flushUploadConcurrency = 4

func buildFlushTable(topts sst.WriterOptions, entries []memEntry, rangeDels []sst.RangeDel) ([]byte, sst.Properties, error) {
	size := 0
	for _, e := range entries {
		size += len(e.key) + len(e.value) + memEntryOverhead
	}
	topts.SizeHint = size // an upper bound: entries plus overhead
	w := sst.NewWriter(topts)
	for _, e := range entries {
		if err := w.Add(sst.Key{User: e.key, Seq: e.seq, Kind: e.kind}, e.expiry, e.value); err != nil {
			return nil, sst.Properties{}, fmt.Errorf("build table: %w", err)
		}
	}
	for _, rd := range rangeDels {
		if err := w.AddRangeDel(rd); err != nil {
			return nil, sst.Properties{}, fmt.Errorf("build table: %w", err)
		}
	}
	data, props, err := w.Finish()
	if err != nil {
		return nil, sst.Properties{}, fmt.Errorf("build table: %w", err)
	}
	return data, props, nil
}

// releaseTables ends the upload protection of tables a flush gave up on.
func (db *DB) releaseTables(tables []manifest.Table) {
	for _, t := range tables {
		if t.Size > 0 {
			db.releaseUploads(t.ObjectKey())
		}
	}
}

// splitFlush cuts a memtable's entries, sorted by key, into the tables of
// one flush. Without a partition function, or with minBytes < 0, that is one
// table. Otherwise each partition holding at least minBytes gets a table of
// its own, and runs of smaller partitions share one.
//
// Why: with many append-only partitions written at once (the streams of the
// stream layer), a single flushed table spans every partition and overlaps
// every other flushed table, so compaction must rewrite each flushed byte
// once more to cut it per partition. A partition's own tables from
// successive flushes hold successive key ranges instead, so compaction
// files them into a run without rewriting (a move, or a passthrough). Small
// partitions are packed together so that many quiet streams do not turn
// one flush into thousands of tiny objects; they are rewritten as before.
func splitFlush(entries []memEntry, partition func([]byte) []byte, minBytes int64) [][]memEntry {
	if partition == nil || minBytes < 0 || len(entries) == 0 {
		return [][]memEntry{entries}
	}
	var (
		pieces [][]memEntry
		small  = -1 // start of the pending run of small partitions; -1: none
	)
	for start := 0; start < len(entries); {
		part := partition(entries[start].key)
		end, size := start, int64(0)
		for ; end < len(entries) && bytes.Equal(partition(entries[end].key), part); end++ {
			size += int64(len(entries[end].key) + len(entries[end].value) + memEntryOverhead)
		}
		if size >= minBytes {
			if small >= 0 {
				pieces = append(pieces, entries[small:start])
				small = -1
			}
			pieces = append(pieces, entries[start:end])
		} else if small < 0 {
			small = start
		}
		start = end
	}
	if small >= 0 {
		pieces = append(pieces, entries[small:])
	}
	return pieces
}

// installLocked writes next as the following manifest version and makes it
// the read view. andThen runs under the read-state lock in the same step,
// so readers never see the new tables and the memtable they came from
// missing (or both present) at once. manMu must be held.
func (db *DB) installLocked(ctx context.Context, next *manifest.Manifest, andThen func()) error {
	next.Version = db.man.Version + 1
	next.WriterEpoch = db.man.WriterEpoch
	next.NextFileNum = db.nextFileNum
	next.Writer = db.writerID
	if err := db.manifests.Write(ctx, next); err != nil {
		if !errors.Is(err, manifest.ErrConflict) {
			return err
		}
		landed, own, lerr := db.loadOwn(ctx, next.Version)
		if lerr != nil {
			return lerr
		}
		if !own {
			db.fenced.Store(true)
			return fmt.Errorf("%w: %v", ErrFenced, err)
		}
		// An earlier install of ours landed though its reply was lost:
		// that version is the truth now, and the caller must re-plan on it.
		db.publishLocked(landed, nil)
		return fmt.Errorf("%w: version %d", errAdoptedOwnManifest, landed.Version)
	}
	db.publishLocked(next, andThen)
	return nil
}

// errAdoptedOwnManifest means a manifest write conflicted with our own
// earlier attempt, which is now the current version.
var errAdoptedOwnManifest = errors.New("engine: adopted our own manifest version whose write reply was lost")

// publishLocked makes m the current manifest and read view. andThen runs
// under the read-state lock in the same step. manMu must be held.
func (db *DB) publishLocked(m *manifest.Manifest, andThen func()) {
	db.man = m
	db.nextFileNum = max(db.nextFileNum, m.NextFileNum)
	var installed []string
	for _, t := range m.Tables() {
		installed = append(installed, t.ObjectKey())
	}
	db.releaseUploads(installed...)
	v := db.tables.version(m)
	db.mu.Lock()
	db.current = v
	if andThen != nil {
		andThen()
	}
	close(db.progress)
	db.progress = make(chan struct{})
	db.mu.Unlock()
}

// uploadTable stores a finished table under a fresh name of the current
// epoch and returns its manifest entry.
func (db *DB) uploadTable(ctx context.Context, data []byte, props sst.Properties) (manifest.Table, error) {
	db.manMu.Lock()
	fileNum, epoch := db.nextFileNum, db.epoch
	db.nextFileNum++
	db.manMu.Unlock()
	t := manifest.Table{
		FileNum: fileNum, Epoch: epoch, Size: int64(len(data)),
		Smallest: props.SmallestKey, Largest: props.LargestKey,
		MinSeq: props.MinSeq, MaxSeq: props.MaxSeq,
		NumEntries: props.NumEntries, NumRangeDels: props.NumRangeDels,
		MinExpiry: props.MinExpiry, MaxExpiry: props.MaxExpiry,
		NumWithoutExpiry: props.NumWithoutExpiry,
	}
	// Until a manifest references it (or its flush or compaction gives up
	// and garbage collection may have it), this table must survive garbage
	// collection however long the upload and install take.
	db.protectUpload(t.ObjectKey())
	// Put-if-absent: the name is unique to this epoch, so a conflict can
	// only be our own earlier attempt, which we verify.
	if _, err := db.objs.PutIfAbsent(ctx, t.ObjectKey(), data); err != nil {
		if !errors.Is(err, objstore.ErrPreconditionFailed) {
			db.releaseUploads(t.ObjectKey()) // no manifest will reference it
			return manifest.Table{}, fmt.Errorf("upload %s: %w", t.ObjectKey(), err)
		}
		existing, _, gerr := db.objs.Get(ctx, t.ObjectKey())
		if gerr != nil || string(existing) != string(data) {
			db.releaseUploads(t.ObjectKey())
			return manifest.Table{}, fmt.Errorf("upload %s: the name is taken by other content", t.ObjectKey())
		}
	}
	return t, nil
}

// Flush freezes the active memtable and waits until every memtable frozen
// so far is in an SST referenced by the manifest.
func (db *DB) Flush(ctx context.Context) error {
	if err := db.writable(); err != nil {
		return err
	}
	db.cmu.Lock()
	db.mu.Lock()
	empty := db.mem.empty() && db.mem.walObjectCount() == 0
	db.mu.Unlock()
	if !empty {
		db.freezeLocked()
	}
	db.mu.Lock()
	var target *memtable
	if len(db.imm) > 0 {
		target = db.imm[len(db.imm)-1]
	}
	db.mu.Unlock()
	db.cmu.Unlock()
	if target == nil {
		return nil
	}
	for {
		db.mu.Lock()
		pending := false
		for _, m := range db.imm {
			pending = pending || m == target
		}
		ch := db.progress
		db.mu.Unlock()
		if !pending {
			return nil
		}
		if db.fenced.Load() {
			return ErrFenced
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// protectUpload keeps GC from deleting a table this process is uploading
// and about to install.
func (db *DB) protectUpload(key string) {
	db.uploadsMu.Lock()
	db.uploads[key] = true
	db.uploadsMu.Unlock()
}

// releaseUploads ends the protection of the given tables: once installed
// they are protected by the manifest that references them, and what a failed
// flush or compaction uploaded may be collected.
func (db *DB) releaseUploads(keys ...string) {
	db.uploadsMu.Lock()
	for _, k := range keys {
		delete(db.uploads, k)
	}
	db.uploadsMu.Unlock()
}

func (db *DB) uploadProtected(key string) bool {
	db.uploadsMu.Lock()
	defer db.uploadsMu.Unlock()
	return db.uploads[key]
}
