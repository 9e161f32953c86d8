package engine

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/pingcap/failpoint"

	"github.com/s2lite/s2lite/internal/crashtest/fault"
	"github.com/s2lite/s2lite/objstore"
)

// PendingWrite is a submitted batch whose durability is not yet known.
type PendingWrite struct {
	batch *Batch
	done  chan struct{}
	err   error
}

// Done is closed once the write is durable and visible, or has failed.
func (p *PendingWrite) Done() <-chan struct{} { return p.done }

// Err is the outcome; valid after Done is closed. nil means the batch is
// durable in the object store and visible to every reader.
func (p *PendingWrite) Err() error {
	<-p.done
	return p.err
}

// Wait blocks until the outcome is known or ctx ends. A ctx error says
// nothing about the write, which may still become durable.
func (p *PendingWrite) Wait(ctx context.Context) error {
	select {
	case <-p.done:
		return p.err
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (p *PendingWrite) finish(err error) {
	p.err = err
	close(p.done)
}

// walGroup is the set of writes that share one WAL object.
type walGroup struct {
	id       uint64
	firstSeq uint64
	writes   []*PendingWrite
	ops      []op
	data     []byte
	done     bool
	err      error
}

// Write applies b atomically and returns once it is durable in the object
// store and visible to readers.
func (db *DB) Write(ctx context.Context, b *Batch) error {
	p, err := db.Submit(ctx, b)
	if err != nil {
		return err
	}
	return p.Wait(ctx)
}

// Submit queues b for commit and returns without waiting for durability,
// so a caller can pipeline: batches submitted in order become durable and
// visible in that order, and if one fails every later one fails too. Submit
// blocks only while too many bytes wait to be flushed (a write stall).
func (db *DB) Submit(ctx context.Context, b *Batch) (*PendingWrite, error) {
	return db.SubmitAfter(ctx, b, nil)
}

// ErrPredecessorFailed is returned by SubmitAfter when the write it depends
// on failed.
var ErrPredecessorFailed = errors.New("engine: the write this one depends on failed")

// SubmitAfter is Submit for a batch that must never become durable unless
// prev did. A caller that pipelines dependent batches (a stream's appends:
// each continues the sequence numbers of the one before) needs this: after
// a WAL failure the next Submit heals the log and is accepted, so a plain
// Submit racing the news of its predecessor's failure could land after a
// gap. If prev already failed, SubmitAfter fails at once; if prev is still
// pending, b is queued behind it and fails with it, because a failure fails
// every later write. The check and the queueing happen under the lock that
// records failures, so there is no window between them. prev may be nil.
func (db *DB) SubmitAfter(ctx context.Context, b *Batch, prev *PendingWrite) (*PendingWrite, error) {
	if db.readOnly {
		return nil, ErrReadOnly
	}
	if err := b.validate(); err != nil {
		return nil, err
	}
	if err := db.waitForRoom(ctx); err != nil {
		return nil, err
	}
	db.cmu.Lock()
	defer db.cmu.Unlock()
	if prev != nil {
		select {
		case <-prev.done:
			if prev.err != nil {
				return nil, fmt.Errorf("%w: %w", ErrPredecessorFailed, prev.err)
			}
		default:
		}
	}
	if err := db.usableLocked(); err != nil {
		return nil, err
	}
	p := &PendingWrite{batch: b, done: make(chan struct{})}
	db.pending = append(db.pending, p)
	db.pendingBytes += b.size
	db.maybeStartPutLocked()
	return p, nil
}

// usableLocked reports whether the pipeline can take a write, healing the
// log first if an earlier WAL write failed and nothing is still in flight.
func (db *DB) usableLocked() error {
	if db.fenced.Load() {
		return ErrFenced
	}
	if db.closing {
		return ErrClosed
	}
	if db.walErr == nil {
		return nil
	}
	if len(db.inflight) > 0 {
		return fmt.Errorf("engine: an earlier WAL write failed and the log is not healed yet: %w", db.walErr)
	}
	db.m.heals.Add(1)
	if err := db.recoverLocked(db.bgCtx, false); err != nil {
		db.log.Warn("WAL heal failed", "err", err)
		if db.fenced.Load() {
			return ErrFenced
		}
		return fmt.Errorf("engine: WAL unavailable: %w", err)
	}
	db.log.Info("WAL healed", "epoch", db.epoch, "wal_next", db.nextWALID)
	return nil
}

// maybeStartPutLocked cuts groups from the pending queue while PUT slots are
// free. There is no idle timer: with a free slot a write goes out at once.
func (db *DB) maybeStartPutLocked() {
	for len(db.pending) > 0 && len(db.inflight) < db.opts.WALMaxInFlight && db.walErr == nil {
		if n := len(db.inflight); n > 0 && db.opts.WALParallelBytes > 0 && db.pendingBytes < n*db.opts.WALParallelBytes {
			return // completeLocked calls again when a PUT finishes
		}
		if wait := db.opts.WALMinInterval - time.Since(db.lastPutStart); wait > 0 && !db.closing {
			if db.timer == nil {
				db.timer = time.AfterFunc(wait, func() {
					db.cmu.Lock()
					db.timer = nil
					db.maybeStartPutLocked()
					db.cmu.Unlock()
				})
			}
			return
		}
		db.startPutLocked()
	}
}

func (db *DB) startPutLocked() {
	g := &walGroup{id: db.nextWALID, firstSeq: db.nextSeq}
	size := 0
	n := 0
	for _, p := range db.pending {
		if n > 0 && size+p.batch.size > db.opts.WALMaxObjectBytes {
			break
		}
		size += p.batch.size
		n++
	}
	g.writes = db.pending[:n:n]
	db.pending = db.pending[n:]
	db.pendingBytes -= size
	batches := make([]*Batch, n)
	for i, p := range g.writes {
		batches[i] = p.batch
		g.ops = append(g.ops, p.batch.ops...)
	}
	g.data = encodeWAL(&walObject{epoch: db.epoch, id: g.id, firstSeq: g.firstSeq}, batches)
	db.nextWALID++
	db.nextSeq += uint64(len(g.ops))
	db.inflight = append(db.inflight, g)
	db.lastPutStart = time.Now()
	epoch := db.epoch
	db.bgWG.Add(1)
	go func() {
		defer db.bgWG.Done()
		start := time.Now()
		var err error
		// Failpoints: a crash or failure before the PUT, and after it
		// succeeded but before the group completes (durable, not acknowledged).
		failpoint.Inject("walBeforePut", func(val failpoint.Value) { err = fault.Do(db.bgCtx, val) })
		if err == nil {
			err = db.putWAL(db.bgCtx, g.id, epoch, g.data)
		}
		if err == nil {
			failpoint.Inject("walAfterPut", func(val failpoint.Value) { err = fault.Do(db.bgCtx, val) })
		}
		db.m.walPutNanos.Add(uint64(time.Since(start)))
		db.cmu.Lock()
		g.done, g.err = true, err
		db.completeLocked()
		db.cmu.Unlock()
	}()
}

// completeLocked applies and acknowledges finished groups in log order. The
// first failure fails every later group (even one whose PUT succeeded: its
// predecessor is not durable, so acknowledging it could expose a gap) and
// every queued write; the next Submit heals the log.
func (db *DB) completeLocked() {
	for len(db.inflight) > 0 && db.inflight[0].done {
		g := db.inflight[0]
		db.inflight = db.inflight[1:]
		if db.walErr == nil && g.err != nil {
			db.walErr = g.err
			db.log.Warn("WAL write failed; failing it and every later write", "id", g.id, "err", g.err)
			// Sequence numbers of failed groups are handed out again after
			// healing, which replays whatever did land.
			for _, p := range db.pending {
				p.finish(db.failure())
			}
			db.pending, db.pendingBytes = nil, 0
		}
		if db.walErr != nil {
			for _, p := range g.writes {
				p.finish(db.failure())
			}
			db.m.writesFailed.Add(uint64(len(g.writes)))
			continue
		}
		db.applyLocked(g.firstSeq, g.ops)
		db.nextApplyID = g.id + 1
		db.noteApplied()
		// Failpoint: durable and visible, but no writer told yet.
		failpoint.Inject("walBeforeAck", func(val failpoint.Value) { _ = fault.Do(db.bgCtx, val) })
		for _, p := range g.writes {
			p.finish(nil)
		}
		db.m.writesCommitted.Add(uint64(len(g.writes)))
		db.m.groupsCommitted.Add(1)
	}
	db.drained.Broadcast()
	db.maybeStartPutLocked()
}

func (db *DB) failure() error {
	if db.fenced.Load() || errors.Is(db.walErr, ErrFenced) {
		return fmt.Errorf("engine: write not acknowledged: %w", ErrFenced)
	}
	return fmt.Errorf("engine: write not acknowledged: %w", db.walErr)
}

// waitForRoom blocks while the unflushed memtables exceed their bound or
// L0 is too deep (or holds too many tables), until flushes and compactions
// catch up.
// l0TablesPerFlush is how many tables a flush cut per partition is taken to
// write, for the L0 table-count stall: L0StopWrites flushes' worth.
const l0TablesPerFlush = 16

func (db *DB) waitForRoom(ctx context.Context) error {
	var start time.Time
	for {
		db.mu.Lock()
		l0Full := db.current.l0Depth >= db.opts.L0StopWrites ||
			len(db.current.l0) >= db.opts.L0StopWrites*l0TablesPerFlush
		over := db.unflushedLocked() > db.opts.MaxUnflushedBytes || l0Full
		ch := db.progress
		db.mu.Unlock()
		if l0Full {
			// Only compaction makes room in L0: make sure it is running.
			db.kickCompaction()
		}
		if !over {
			if !start.IsZero() {
				db.m.stallNanos.Add(uint64(time.Since(start)))
				db.m.stalled.Add(-1)
			}
			return nil
		}
		if start.IsZero() {
			start = time.Now()
			db.m.stalls.Add(1)
			db.m.stalled.Add(1)
		}
		if db.closed.Load() {
			db.m.stalled.Add(-1)
			return ErrClosed
		}
		select {
		case <-ch:
		case <-ctx.Done():
			db.m.stallNanos.Add(uint64(time.Since(start)))
			db.m.stalled.Add(-1)
			return ctx.Err()
		}
	}
}

func (db *DB) unflushedLocked() int64 {
	n := db.mem.approximateSize()
	for _, m := range db.imm {
		n += m.approximateSize()
	}
	return n
}

// prefetcher reads WAL objects ahead of replay with a few GETs in flight,
// because replay is sequential and each GET is a round trip.
type prefetcher struct {
	ctx    context.Context
	cancel context.CancelFunc
	objs   objstore.Store
	window uint64
	next   uint64 // next id to start fetching
	slots  map[uint64]chan fetched
}

type fetched struct {
	data []byte
	err  error
}

func newPrefetcher(ctx context.Context, objs objstore.Store, from uint64, window int) *prefetcher {
	ctx, cancel := context.WithCancel(ctx)
	return &prefetcher{ctx: ctx, cancel: cancel, objs: objs, window: uint64(window), next: from, slots: map[uint64]chan fetched{}}
}

func (f *prefetcher) get(id uint64) ([]byte, error) {
	if f.next < id {
		f.next = id
	}
	for f.next < id+f.window {
		ch := make(chan fetched, 1)
		f.slots[f.next] = ch
		go func(id uint64) {
			data, _, err := f.objs.Get(f.ctx, walKey(id))
			ch <- fetched{data, err}
		}(f.next)
		f.next++
	}
	ch := f.slots[id]
	delete(f.slots, id)
	r := <-ch
	return r.data, r.err
}

// reset forgets prefetched results from id on (they may be stale).
func (f *prefetcher) reset(id uint64) {
	for k, ch := range f.slots {
		if k >= id {
			<-ch
			delete(f.slots, k)
		}
	}
	f.next = id
}

// stop cancels and drains outstanding fetches so no goroutine outlives replay.
func (f *prefetcher) stop() {
	f.cancel()
	for k, ch := range f.slots {
		<-ch
		delete(f.slots, k)
	}
}
