package stream

import (
	"context"
	"fmt"
	"math"
	"time"

	"github.com/s2lite/s2lite/engine"
)

// The sequencer: appends to one stream are serialised under the handle's
// mutex, checked and sequenced against the state after every earlier
// accepted batch (API 7.4), and submitted to the engine as one atomic
// batch each, without waiting for the previous one to be durable. A
// drainer goroutine resolves them strictly in submission order.
//
// Failure: the engine makes batches durable in submission order and fails
// every batch queued behind a failed one. It heals on a later Submit, so
// each batch is submitted with engine.SubmitAfter on the stream's previous
// queued write: a batch can never land after its predecessor failed, even
// if the failure is not reported yet. The drainer also fails every entry
// behind the first failure whatever the engine says about it, and then the
// stream is repaired (repair.go), right away and in any case before the
// next append:
// one batch rewrites the state of the last acknowledged batch and
// range-deletes every record and index entry past it. Whatever a failed
// batch left behind is erased, so no sequence number is skipped and none
// is acknowledged twice.

// appendEntry is one accepted batch awaiting resolution.
type appendEntry struct {
	pw       *engine.PendingWrite // nil for a rejection
	rejected error                // a condition failure, reported in order
	after    streamState          // state once this batch is durable
	start    StreamPosition
	end      StreamPosition
	records  []SequencedRecord
	// values are the stored values of records on a stream with a cipher
	// (records then carry positions only); nil otherwise.
	values  [][]byte
	metered int64
	future  *AppendFuture
	session *AppendSession
	// expiresAt (zero: never) and express are what usage metrics need of
	// the stream's configuration at write time.
	expiresAt time.Time
	express   bool
	// indexCleanup is a trim point whose index entries could not be
	// deleted in the batch itself; 0 if none.
	indexCleanup uint64
}

// AppendFuture is the pending outcome of a submitted batch.
type AppendFuture struct {
	done chan struct{}
	ack  AppendAck
	err  error
}

func newAppendFuture() *AppendFuture { return &AppendFuture{done: make(chan struct{})} }

func (f *AppendFuture) resolve(ack AppendAck, err error) {
	f.ack, f.err = ack, err
	close(f.done)
}

// maxExpirySecs keeps now+age within time.Duration; longer retention is
// treated as no expiry (it exceeds 292 years).
const maxExpirySecs = math.MaxInt64 / int64(time.Second)

// sequence checks and sequences one validated batch and submits it. It
// returns an error if nothing was queued (the caller still owns the
// admission bytes); otherwise the entry resolves fut later, and rejected is
// the condition failure it will resolve with, if any.
func (h *streamHandle) sequence(ctx context.Context, v *validatedInput, fut *AppendFuture, sess *AppendSession) (rejected error, err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for {
		if h.deleting || h.deleted {
			return nil, streamDeletionPending()
		}
		if h.failed || h.needRepair || h.queueHasFailureLocked() {
			h.needRepair = true
			if err := h.waitIdleLocked(ctx); err != nil {
				return nil, err
			}
			if h.deleting || h.deleted || !h.needRepair {
				continue
			}
			if err := h.repairLocked(ctx); err != nil {
				return nil, err
			}
			continue
		}
		break
	}

	e := &appendEntry{future: fut, session: sess, metered: int64(v.metered)}
	st := h.next
	in := v.in
	switch {
	case in.FencingToken != nil && *in.FencingToken != st.token:
		e.rejected = &FencingTokenMismatchError{CurrentToken: st.token}
	case in.MatchSeqNum != nil && *in.MatchSeqNum != st.next:
		e.rejected = &SeqNumMismatchError{ExpectedSeqNum: st.next}
	}
	if e.rejected == nil && v.imported != nil {
		e.rejected = st.admitImport(v.imported)
	}
	var b *engine.Batch
	if e.rejected == nil {
		var enc *recordCipher
		if sess != nil {
			enc = sess.enc
		}
		b, e.rejected, err = h.buildBatchLocked(v, &st, e, enc)
		if err != nil {
			return nil, storageError("append", err)
		}
	}
	// Every queued entry counts as work Close waits for.
	if !h.svc.startWork() {
		return nil, storageError("append", errClosed)
	}
	if e.rejected != nil {
		h.enqueueLocked(e)
		return e.rejected, nil
	}
	// Depend on the last write still queued: if it failed (even if the
	// drainer has not seen it yet), the engine refuses this batch instead
	// of healing and writing it after a gap.
	pw, err := h.svc.db.SubmitAfter(ctx, b, h.lastPendingLocked())
	if err != nil {
		// Nothing was queued; earlier entries, if they fail, are caught
		// by the drainer.
		h.svc.wg.Done()
		return nil, storageError("append", err)
	}
	e.pw = pw
	e.after = st
	h.next = st
	h.enqueueLocked(e)
	return nil, nil
}

// buildBatchLocked assigns sequence numbers and timestamps (API 7.5),
// applies commands to st and encodes everything the batch changes. With a
// cipher (enc) every envelope record is sealed here, where its position is
// known. rejected is a failure of the batch that is reported in order; err
// means nothing could be built.
func (h *streamHandle) buildBatchLocked(v *validatedInput, st *streamState, e *appendEntry, enc *recordCipher) (b *engine.Batch, rejected, err error) {
	if (enc == nil) != (h.cipher == "") {
		// Sessions resolve their cipher from the stream's at open, so
		// this cannot happen; it must never write plaintext to a stream
		// with a cipher.
		return nil, nil, fmt.Errorf("stream: a batch for a stream with cipher %q sealed with %v", h.cipher, enc != nil)
	}
	cfg := h.cfg
	in := v.in
	now := h.svc.nowMillis()
	first := st.next
	prev := st.lastTimestamp
	records := make([]SequencedRecord, len(in.Records))
	sealed := 0
	for i, r := range in.Records {
		if enc != nil && v.commands[i].kind == notCommand {
			// The reference's check and wording (AES-256-GCM's nonce
			// budget; AEGIS-256 allows every sequence number).
			if seq := first + uint64(i); seq > enc.maxSeqNum() {
				return nil, invalidf("max assignable sequence number is %d; attempted %d", enc.maxSeqNum(), seq), nil
			}
			sealed++
		}
		if v.imported != nil {
			// Imported records keep their timestamps (admitImport and
			// Import checked they never go back).
			prev = v.imported.timestamps[i]
			records[i] = SequencedRecord{SeqNum: first + uint64(i), Timestamp: prev, Headers: r.Headers, Body: r.Body}
			continue
		}
		var ts uint64
		switch cfg.Timestamping.Mode {
		case TimestampingArrival:
			ts = now
		case TimestampingClientRequire:
			if r.Timestamp == nil {
				return nil, invalidf("record timestamp was required but was missing"), nil
			}
			ts = *r.Timestamp
		default:
			ts = now
			if r.Timestamp != nil {
				ts = *r.Timestamp
			}
		}
		if !cfg.Timestamping.Uncapped && ts > now {
			ts = now
		}
		ts = max(ts, prev)
		prev = ts
		records[i] = SequencedRecord{SeqNum: first + uint64(i), Timestamp: ts, Headers: r.Headers, Body: r.Body}
	}
	var expiresAt time.Time
	if rp := cfg.RetentionPolicy; !rp.Infinite && rp.AgeSecs <= uint64(maxExpirySecs) {
		expiresAt = h.svc.now().Add(time.Duration(rp.AgeSecs) * time.Second)
	}
	e.expiresAt, e.express = expiresAt, cfg.StorageClass == StorageClassExpress
	var nonces []byte
	if sealed > 0 {
		if nonces, err = enc.newNonces(sealed); err != nil {
			return nil, nil, err
		}
	}
	b = engine.NewBatch()
	// Each record's value is encoded straight into the batch's memory:
	// the one copy of its body that the server keeps. Followers keep the
	// records after the caller got its ack and may reuse its buffers, so
	// their records alias that copy too (it never changes once submitted).
	// The batch copies keys, so one scratch buffer serves them all.
	//
	// With a cipher, followers get the stored values instead (sealed,
	// and commands in clear): each opens them with its own key, so no
	// follower ever sees plaintext through another's session.
	var scratch []byte
	var values [][]byte
	if enc != nil {
		values = make([][]byte, len(records))
	}
	for i := range records {
		r := &records[i]
		scratch = appendRecordKey(scratch[:0], h.id, r.SeqNum)
		if enc != nil && v.commands[i].kind == notCommand {
			val := b.SetDeferred(scratch, enc.sealedRecordLen(r.Headers, r.Body), expiresAt)
			enc.sealRecord(val, nonces, h.id, r.SeqNum, r.Timestamp, r.Headers, r.Body)
			nonces = nonces[enc.nonceLen():]
			values[i] = val
			r.Headers, r.Body = nil, nil
			b.SetWithExpiry(appendIndexKey(scratch[:0], h.id, r.Timestamp, r.SeqNum), nil, expiresAt)
			continue
		}
		val := b.SetDeferred(scratch, recordValueLen(r.Headers, r.Body), expiresAt)
		appendRecordValue(val[:0], r.Timestamp, r.Headers, r.Body)
		bodyAt := len(val) - len(r.Body)
		if len(r.Headers) > 0 {
			dec, err := decodeRecord(r.SeqNum, val)
			if err != nil {
				panic(fmt.Sprintf("stream: decoding a record just encoded: %v", err))
			}
			r.Headers = dec.Headers
		}
		r.Body = nil
		if bodyAt < len(val) {
			r.Body = val[bodyAt:len(val):len(val)]
		}
		if values != nil {
			values[i] = val
		}
		b.SetWithExpiry(appendIndexKey(scratch[:0], h.id, r.Timestamp, r.SeqNum), nil, expiresAt)
	}
	// Commands take effect after the batch is sequenced: a fence guards
	// later batches only.
	trimmed := false
	for i, c := range v.commands {
		switch c.kind {
		case commandFence:
			st.token = c.token
		case commandTrim:
			if p := min(c.trimPoint, records[i].SeqNum+1); p > st.trimPoint {
				st.trimPoint = p
				trimmed = true
			}
		}
	}
	if trimmed {
		// Added after the records, so it also deletes records of this
		// batch below the trim point.
		b.DeleteRange(recordKey(h.id, 0), recordKey(h.id, st.trimPoint))
		if last := st.trimPoint - 1; last >= first {
			// Index entries sort by (timestamp, seq) and timestamps never
			// decrease, so the entries below the trim point are a prefix
			// ending before (ts of the last trimmed record, trim point).
			b.DeleteRange(indexStreamPrefix(h.id), indexKey(h.id, records[last-first].Timestamp, st.trimPoint))
		} else {
			e.indexCleanup = st.trimPoint
		}
	}
	st.next = first + uint64(len(records))
	st.lastTimestamp = prev
	st.lastAppendMillis = now
	b.Set(stateKey(h.id), encodeState(*st))

	e.records, e.values = records, values
	e.start = StreamPosition{SeqNum: first, Timestamp: records[0].Timestamp}
	e.end = StreamPosition{SeqNum: st.next, Timestamp: prev}
	return b, nil, nil
}

// queueHasFailureLocked reports an entry whose write already failed but
// which the drainer has not reached yet.
func (h *streamHandle) queueHasFailureLocked() bool {
	for _, e := range h.queue {
		if e.pw == nil {
			continue
		}
		select {
		case <-e.pw.Done():
			if e.pw.Err() != nil {
				return true
			}
		default:
			return false // later entries cannot be done before this one
		}
	}
	return false
}

// enqueueLocked queues an entry (which holds a unit of service work) and
// starts the drainer if needed. The drainer's own unit is added while the
// entry's is held, so it never races with Close waiting.
// lastPendingLocked returns the engine write of the newest queued batch,
// or nil when none is queued.
func (h *streamHandle) lastPendingLocked() *engine.PendingWrite {
	for i := len(h.queue) - 1; i >= 0; i-- {
		if pw := h.queue[i].pw; pw != nil {
			return pw
		}
	}
	return nil
}

func (h *streamHandle) enqueueLocked(e *appendEntry) {
	h.queue = append(h.queue, e)
	if !h.draining {
		h.draining = true
		h.svc.wg.Add(1)
		go h.drain()
	}
}

// drain resolves queued entries in order and exits when the queue is
// empty.
func (h *streamHandle) drain() {
	defer h.svc.wg.Done()
	for {
		h.mu.Lock()
		if len(h.queue) == 0 {
			h.draining = false
			failed := h.failed
			if failed {
				h.failed, h.failure = false, nil
				h.needRepair = true
				h.next = h.durable
			}
			if h.idle != nil {
				close(h.idle)
				h.idle = nil
			}
			h.mu.Unlock()
			if failed {
				h.repairInBackground()
			}
			return
		}
		e := h.queue[0]
		h.mu.Unlock()
		if e.pw != nil {
			<-e.pw.Done()
		}

		h.mu.Lock()
		h.queue = h.queue[1:]
		var ack AppendAck
		var err error
		switch {
		case h.failed:
			err = h.failure
		case e.pw != nil && e.pw.Err() != nil:
			h.failed = true
			h.failure = storageError("append", e.pw.Err())
			err = h.failure
			h.svc.log.Warn("append failed; failing the batches behind it", "basin", h.basin, "stream", h.name, "err", e.pw.Err())
		case e.rejected != nil:
			err = e.rejected
		default:
			h.durable = e.after
			ack = AppendAck{Start: e.start, End: e.end, Tail: h.durable.tail()}
			if u := h.svc.opts.Usage; u != nil {
				u.AppendDone(h.basin, h.name, e.express, e.start.SeqNum, e.end.SeqNum, uint64(max(e.metered, 0)), e.expiresAt, e.after.trimPoint)
			}
			h.broadcastLocked(&liveBatch{records: e.records, values: e.values, tail: ack.Tail})
		}
		h.mu.Unlock()

		if err == nil && e.indexCleanup > 0 {
			h.svc.scheduleIndexCleanup(h.id, e.indexCleanup)
		}
		if e.pw != nil {
			h.svc.admission.release(e.metered)
		}
		if err != nil && e.session != nil {
			e.session.fail(err)
		}
		e.future.resolve(ack, err)
		h.svc.wg.Done()
	}
}
