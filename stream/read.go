package stream

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"math"
	"math/rand/v2"
	"time"

	"github.com/s2lite/s2lite/engine"
)

// Reads (API 8): start resolution and the 416 rules, then a session that
// catches up from storage up to the durable tail and, if it may, follows
// live batches from memory. The unary read is a session whose output is
// merged into one batch.

// maxUnaryWait clamps the wait of a unary read.
const maxUnaryWait = 60 * time.Second

var errSessionClosed = errors.New("stream: read session closed")

// ReadSession is an open read. It is not safe for concurrent use.
type ReadSession struct {
	svc *Service
	h   *streamHandle
	// streaming is false for a unary read; usageOp is set once the read
	// operation has been reported to usage metrics.
	streaming, usageOp bool
	// enc opens the stream's sealed records with the session's key; nil
	// for a stream without a cipher. arena holds what it opened.
	enc   *recordCipher
	arena recordArena

	pos       uint64 // next sequence number to deliver
	countLeft uint64 // math.MaxUint64 when unlimited
	bytesLeft uint64
	until     uint64 // exclusive timestamp bound; math.MaxUint64 when absent
	hasUntil  bool
	mayFollow bool
	// wait bounds the idle time while following; infinite when !waitSet.
	wait    time.Duration
	waitSet bool
	done    bool

	// store is the catch-up iterator, kept across batches so that table
	// readahead keeps going; see readStorage.
	store       *engine.Iterator
	storeEnd    uint64    // the tail it was opened up to (its upper bound)
	storeOpened time.Time // when; an old snapshot is reopened

	follower      *follower
	lastTail      StreamPosition // tail as of the last live batch or subscription
	reachedTail   time.Time      // when the session first reached the tail
	lastDelivered time.Time      // when it last delivered records
	heartbeat     *time.Timer
}

func (s *Service) openReadSession(ctx context.Context, basin, name string, req ReadRequest, opts []OpenOption) (*ReadSession, error) {
	return s.startRead(ctx, basin, name, req, false, opts)
}

func (s *Service) readUnary(ctx context.Context, basin, name string, req ReadRequest, opts []OpenOption) (ReadBatch, error) {
	r, err := s.startRead(ctx, basin, name, req, true, opts)
	if err != nil {
		return ReadBatch{}, err
	}
	defer r.Close()
	for {
		b, err := r.Next(ctx)
		switch {
		case err == io.EOF:
			return ReadBatch{}, nil
		case err != nil:
			return ReadBatch{}, err
		case len(b.Records) > 0:
			// Unary limits never exceed one batch, so the first batch with
			// records is the whole answer: catch-up up to the tail, or the
			// first live batch of a long poll.
			return b, nil
		}
	}
}

// validateReadRequest applies the stateless rules, before any auto-create.
func validateReadRequest(req ReadRequest) error {
	n := 0
	for _, set := range []bool{req.SeqNum != nil, req.Timestamp != nil, req.TailOffset != nil} {
		if set {
			n++
		}
	}
	if n > 1 {
		return invalidf("only one of seq_num, timestamp, or tail_offset can be provided")
	}
	if req.Timestamp != nil && req.Until != nil && *req.Until <= *req.Timestamp {
		return invalidf("start `timestamp` exceeds or equal to `until`")
	}
	return nil
}

func (s *Service) startRead(ctx context.Context, basin, name string, req ReadRequest, unary bool, opts []OpenOption) (*ReadSession, error) {
	if err := s.checkOpen(); err != nil {
		return nil, err
	}
	if err := validateStreamAddress(basin, name); err != nil {
		return nil, err
	}
	if err := validateReadRequest(req); err != nil {
		return nil, err
	}
	h, enc, err := s.openStreamWithKey(ctx, basin, name, true, opts)
	if err != nil {
		return nil, err
	}
	r := &ReadSession{svc: s, h: h, enc: enc, streaming: !unary, countLeft: math.MaxUint64, bytesLeft: math.MaxUint64, until: math.MaxUint64}
	if err := r.resolveStart(ctx, req, unary); err != nil {
		h.release()
		return nil, err
	}
	return r, nil
}

// resolveStart applies limits, wait and the start rules of API 8.3.
func (r *ReadSession) resolveStart(ctx context.Context, req ReadRequest, unary bool) error {
	limited := req.Count != nil || req.Bytes != nil || req.Until != nil
	if req.Count != nil {
		r.countLeft = *req.Count
	}
	if req.Bytes != nil {
		r.bytesLeft = *req.Bytes
	}
	if req.Until != nil {
		r.until, r.hasUntil = *req.Until, true
	}
	switch {
	case unary:
		r.countLeft = min(r.countLeft, MaxBatchRecords)
		r.bytesLeft = min(r.bytesLeft, MaxBatchBytes)
		r.waitSet = true
		if req.Wait != nil {
			r.wait = min(max(*req.Wait, 0), maxUnaryWait)
		}
		r.mayFollow = r.wait > 0
	case req.Wait != nil:
		r.wait, r.waitSet = max(*req.Wait, 0), true
		r.mayFollow = !limited || r.wait > 0
	case limited:
		r.waitSet = true
	default:
		r.mayFollow = true // follow forever
	}

	tail, err := r.h.tail()
	if err != nil {
		return err
	}
	seqStart := true
	var start uint64
	switch {
	case req.Timestamp != nil:
		if *req.Timestamp > tail.Timestamp {
			if !req.Clamp {
				return &RangeNotSatisfiableError{Tail: tail}
			}
			start = tail.SeqNum
		} else {
			seqStart = false
			if start, err = r.h.seekTimestamp(ctx, *req.Timestamp, tail.SeqNum); err != nil {
				return err
			}
		}
	case req.SeqNum != nil:
		start = *req.SeqNum
	case req.TailOffset != nil:
		start = tail.SeqNum - min(*req.TailOffset, tail.SeqNum)
	default:
		start = tail.SeqNum
	}
	if seqStart {
		if start > tail.SeqNum {
			if !req.Clamp {
				return &RangeNotSatisfiableError{Tail: tail}
			}
			start = tail.SeqNum
		}
		if start == tail.SeqNum && !r.mayFollow {
			return &RangeNotSatisfiableError{Tail: tail}
		}
	}
	r.pos = start
	return nil
}

// seekTimestamp returns the sequence number of the first record with a
// timestamp >= ts, or tail if there is none. Index entries of trimmed
// records may linger; they are harmless because timestamps never decrease
// along the stream, so reading from an older position only skips records
// that no longer exist.
func (h *streamHandle) seekTimestamp(ctx context.Context, ts, tail uint64) (uint64, error) {
	it, err := h.svc.db.NewIter(ctx, &engine.IterOptions{
		LowerBound: indexKey(h.id, ts, 0),
		UpperBound: prefixEnd(indexStreamPrefix(h.id)),
	})
	if err != nil {
		return 0, storageError("seek timestamp", err)
	}
	defer it.Close()
	if it.First() {
		return min(indexSeq(it.Key()), tail), nil
	}
	if err := it.Error(); err != nil {
		return 0, storageError("seek timestamp", err)
	}
	return tail, nil
}

func (r *ReadSession) next(ctx context.Context) (ReadBatch, error) {
	b, err := r.nextBatch(ctx)
	if u := r.svc.opts.Usage; u != nil && r.h != nil && (len(b.Records) > 0 || !r.usageOp) {
		var n uint64
		for i := range b.Records {
			n += b.Records[i].MeteredBytes()
		}
		u.Read(r.h.basin, r.streaming, !r.usageOp, n)
		r.usageOp = true
	}
	return b, err
}

func (r *ReadSession) nextBatch(ctx context.Context) (ReadBatch, error) {
	if r.h == nil {
		return ReadBatch{}, errSessionClosed
	}
	for {
		if r.done {
			return ReadBatch{}, io.EOF
		}
		if r.countLeft == 0 || r.bytesLeft == 0 {
			r.done = true
			continue
		}
		if r.follower == nil {
			b, ok, err := r.catchUp(ctx)
			if err != nil || ok {
				return b, err
			}
			continue
		}
		b, ok, err := r.follow(ctx)
		if err != nil || ok {
			return b, err
		}
	}
}

// catchUp reads the next batch from storage, or subscribes once the
// session is at the durable tail (returning the heartbeat that announces
// it). ok is false when there is nothing to return yet.
func (r *ReadSession) catchUp(ctx context.Context) (b ReadBatch, ok bool, err error) {
	tail, err := r.h.tail()
	if err != nil {
		return ReadBatch{}, false, streamDeleted()
	}
	if r.pos < tail.SeqNum {
		records, err := r.readStorage(ctx, tail.SeqNum)
		if err != nil || len(records) == 0 {
			return ReadBatch{}, false, err
		}
		r.lastDelivered = time.Now()
		return ReadBatch{Records: records}, true, nil
	}
	r.closeStore()
	if !r.mayFollow {
		r.done = true
		return ReadBatch{}, false, nil
	}
	f, tail, subscribed, err := r.h.subscribe(r.pos)
	if err != nil || !subscribed {
		return ReadBatch{}, false, err
	}
	r.follower, r.lastTail = f, tail
	if r.reachedTail.IsZero() {
		r.reachedTail = time.Now()
	}
	r.resetHeartbeat()
	return ReadBatch{Tail: &tail}, true, nil
}

// maxStoreIterAge bounds how long a catch-up iterator, and the snapshot of
// the tree it pins, is kept: far below the engine's garbage-collection
// minimum age, so its tables never vanish under it, and short enough that
// a trim is reflected soon in a long catch-up.
const maxStoreIterAge = 5 * time.Second

// maxStoreIterRecords bounds the records one catch-up iterator spans (64 MiB
// of 1 KiB records): opening an engine iterator opens every table its
// bounds overlap, which for a catch-up from the start of a long stream
// would be every table the stream has.
const maxStoreIterRecords = 1 << 16

// maxStoreIterBytesHint is the scan size an unlimited catch-up announces to
// the engine (engine.IterOptions.ScanBytes): more than any readahead window.
const maxStoreIterBytesHint = 64 << 20

// guessRecordBytes is what expectedScanBytes assumes a record takes when
// only a count limits the read; small, so that a short read of large
// records ramps its readahead up rather than fetching far ahead in vain.
const guessRecordBytes = 512

// expectedScanBytes is how much the session expects to read from storage,
// for table readahead: its limits, or the hint for an unlimited read.
func (r *ReadSession) expectedScanBytes() uint64 {
	scan := uint64(maxStoreIterBytesHint)
	if r.countLeft < scan/guessRecordBytes {
		scan = r.countLeft * guessRecordBytes
	}
	return min(scan, r.bytesLeft)
}

// readStorage reads durable records from r.pos up to tail: at most one
// batch, applying the limits and until.
//
// One engine iterator serves consecutive batches: opening one per batch
// would restart table readahead at its smallest window every 1 MiB. It
// reads a snapshot up to the tail it was opened at (or maxStoreIterRecords
// past its start); what lies beyond comes from the next iterator, opened
// once this one is exhausted. Its reads
// use the context of the call that opened it.
func (r *ReadSession) readStorage(ctx context.Context, tail uint64) ([]SequencedRecord, error) {
	if r.store != nil && (time.Since(r.storeOpened) > maxStoreIterAge || ctx.Err() != nil) {
		r.closeStore()
	}
	it := r.store
	ok := it != nil && it.Valid()
	if it == nil {
		// An engine iterator opens every table its bounds overlap, so a
		// catch-up over a long stream goes a window of records at a time.
		end := tail
		if tail-r.pos > maxStoreIterRecords {
			end = r.pos + maxStoreIterRecords
		}
		opts := &engine.IterOptions{
			LowerBound: recordKey(r.h.id, r.pos),
			UpperBound: recordKey(r.h.id, end),
		}
		opts.ScanBytes = int64(r.expectedScanBytes())
		var err error
		it, err = r.svc.db.NewIter(ctx, opts)
		if err != nil {
			return nil, storageError("read", err)
		}
		r.store, r.storeEnd, r.storeOpened = it, end, time.Now()
		ok = it.First()
	}
	var out []SequencedRecord
	var batchBytes uint64
	// What a batch opens goes with the batch: the session keeps no
	// plaintext between batches (the server's memory budget reserves a
	// batch's worth around each read, not around the session).
	defer r.arena.reset()
	for ; ok; ok = it.Next() {
		if len(out) == MaxBatchRecords {
			return out, nil // batch full; the iterator stays at the rest
		}
		if r.endsBefore(it.Value()) {
			return out, nil
		}
		// A plain record aliases the engine's value, which may be
		// retained; a sealed one is opened into the session's arena.
		rec, err := decodeStored(r.enc, &r.arena, r.h.id, recordSeq(it.Key()), it.Value())
		if err != nil {
			r.closeStore()
			return nil, decryptError("read", err)
		}
		size := rec.MeteredBytes()
		if batchBytes+size > MaxBatchBytes {
			return out, nil // batch full; the iterator stays at the rest
		}
		if !r.admit(rec, size) {
			return out, nil
		}
		out = append(out, rec)
		batchBytes += size
		r.pos = rec.SeqNum + 1
	}
	err := it.Error()
	end := r.storeEnd
	r.closeStore()
	if err != nil {
		return nil, storageError("read", err)
	}
	r.pos = max(r.pos, end) // everything below its bound that still exists was read
	return out, nil
}

func (r *ReadSession) closeStore() {
	if r.store != nil {
		_ = r.store.Close()
		r.store = nil
	}
}

// endsBefore applies the limits that need no decoding (count, until on the
// timestamp, which every stored form has in clear) to the stored value of
// the next record, ending the session if one is reached: a record the
// session will not deliver is not opened.
func (r *ReadSession) endsBefore(val []byte) bool {
	if r.countLeft == 0 || (r.hasUntil && len(val) >= 8 && binary.BigEndian.Uint64(val) >= r.until) {
		r.done = true
		return true
	}
	return false
}

// admit applies until and the count and bytes limits to the next record,
// ending the session if one is reached.
func (r *ReadSession) admit(rec SequencedRecord, size uint64) bool {
	if (r.hasUntil && rec.Timestamp >= r.until) || r.countLeft == 0 || size > r.bytesLeft {
		r.done = true
		return false
	}
	r.countLeft--
	r.bytesLeft -= size
	return true
}

// follow waits for the next live batch, heartbeat, or the end of wait.
func (r *ReadSession) follow(ctx context.Context) (b ReadBatch, ok bool, err error) {
	var deadline <-chan time.Time
	if r.waitSet {
		base := r.reachedTail
		if r.lastDelivered.After(base) {
			base = r.lastDelivered
		}
		d := time.Until(base.Add(r.wait))
		if d <= 0 {
			r.done = true
			return ReadBatch{}, false, nil
		}
		t := time.NewTimer(d)
		defer t.Stop()
		deadline = t.C
	}
	select {
	case lb, open := <-r.follower.ch:
		if !open {
			ferr := r.follower.err
			r.follower = nil
			return ReadBatch{}, false, ferr // nil: lagged; catch up from storage
		}
		return r.fromLive(lb)
	case <-r.heartbeat.C:
		r.resetHeartbeat()
		tail := r.lastTail
		return ReadBatch{Tail: &tail}, true, nil
	case <-deadline:
		r.done = true
		return ReadBatch{}, false, nil
	case <-ctx.Done():
		return ReadBatch{}, false, ctx.Err()
	case <-r.svc.closing:
		return ReadBatch{}, false, storageError("read", errClosed)
	}
}

// fromLive turns a live batch into a delivery, skipping what was already
// delivered and applying limits.
func (r *ReadSession) fromLive(lb *liveBatch) (ReadBatch, bool, error) {
	r.lastTail = lb.tail
	recs := lb.records
	if len(recs) == 0 || recs[len(recs)-1].SeqNum < r.pos {
		return ReadBatch{}, false, nil
	}
	if recs[0].SeqNum > r.pos {
		// Cannot happen with an exact subscription; recover by reading
		// the gap from storage.
		r.h.unsubscribe(r.follower)
		r.follower = nil
		return ReadBatch{}, false, nil
	}
	skip := r.pos - recs[0].SeqNum
	recs = recs[skip:]
	var values [][]byte
	if lb.values != nil {
		// A stream with a cipher: open the records with this session's
		// key, into a buffer of the batch's size.
		values = lb.values[skip:]
		n := 0
		for _, v := range values {
			n += len(v)
		}
		r.arena = recordArena{buf: make([]byte, 0, n)}
		defer r.arena.reset()
	}
	var out []SequencedRecord
	for i, rec := range recs {
		if values != nil {
			if r.endsBefore(values[i]) {
				break
			}
			var err error
			if rec, err = decodeStored(r.enc, &r.arena, r.h.id, rec.SeqNum, values[i]); err != nil {
				return ReadBatch{}, false, decryptError("read", err)
			}
		}
		if !r.admit(rec, rec.MeteredBytes()) {
			break
		}
		out = append(out, rec)
		r.pos = rec.SeqNum + 1
	}
	if len(out) == 0 {
		return ReadBatch{}, false, nil
	}
	r.lastDelivered = time.Now()
	r.resetHeartbeat()
	tail := lb.tail
	return ReadBatch{Records: out, Tail: &tail}, true, nil
}

func (r *ReadSession) resetHeartbeat() {
	o := r.svc.opts
	d := o.HeartbeatMin
	if span := o.HeartbeatMax - o.HeartbeatMin; span > 0 {
		d += rand.N(span)
	}
	if r.heartbeat == nil {
		r.heartbeat = time.NewTimer(d)
		return
	}
	r.heartbeat.Reset(d)
}

func (r *ReadSession) close() {
	if r.h == nil {
		return
	}
	if r.follower != nil {
		r.h.unsubscribe(r.follower)
		r.follower = nil
	}
	if r.heartbeat != nil {
		r.heartbeat.Stop()
	}
	r.closeStore()
	r.h.release()
	r.h = nil
}
