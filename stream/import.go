package stream

import (
	"context"

	"github.com/s2lite/s2lite/engine"
)

// Import: moving a stream between servers or buckets without renumbering.
//
// An exported stream is its records with their sequence numbers and
// timestamps, and its tail, trim point and fencing token. Import writes the
// records back at the same positions through the stream's own sequencer (so
// an import is ordered with appends, atomic per batch, and acknowledged
// only once durable), then FinishImport sets the tail, trim point and
// token. Commands among the records take effect as they did at the source:
// their trim points refer to the same sequence numbers, so a replayed trim
// removes nothing the export holds.

// importSpec carries the positions of imported records.
type importSpec struct {
	first      uint64
	timestamps []uint64
}

// ImportRecord is a record to import at its own position.
type ImportRecord struct {
	SeqNum    uint64
	Timestamp uint64
	Headers   []Header
	Body      []byte
}

// Import appends records at the sequence numbers and timestamps they carry.
// They must be contiguous, with timestamps that never go back. The first
// batch imported into a stream that never held a record may start at any
// sequence number (everything below it counts as trimmed, as it was at the
// source); every later batch must start at the stream's tail, else a
// *SeqNumMismatchError says where. A stream with a cipher needs the key
// (WithEncryptionKey), and the records are sealed like appended ones.
func (s *Service) Import(ctx context.Context, basin, name string, recs []ImportRecord, opts ...OpenOption) (AppendAck, error) {
	if len(recs) == 0 {
		return AppendAck{}, invalidf("record batch must not be empty")
	}
	in := AppendInput{Records: make([]AppendRecord, len(recs))}
	spec := &importSpec{first: recs[0].SeqNum, timestamps: make([]uint64, len(recs))}
	for i, r := range recs {
		if r.SeqNum != spec.first+uint64(i) {
			return AppendAck{}, invalidf("imported records must have contiguous sequence numbers: %d follows %d", r.SeqNum, recs[i-1].SeqNum)
		}
		if i > 0 && r.Timestamp < recs[i-1].Timestamp {
			return AppendAck{}, invalidf("imported timestamps must not go back: record %d has %d after %d", r.SeqNum, r.Timestamp, recs[i-1].Timestamp)
		}
		ts := r.Timestamp
		in.Records[i] = AppendRecord{Timestamp: &ts, Headers: r.Headers, Body: r.Body}
		spec.timestamps[i] = r.Timestamp
	}
	v, err := validateAppendInput(in)
	if err != nil {
		return AppendAck{}, err
	}
	v.imported = spec
	sess, err := s.openAppendSession(ctx, basin, name, opts)
	if err != nil {
		return AppendAck{}, err
	}
	defer sess.Close()
	f, err := sess.submitValidated(ctx, v)
	if err != nil {
		return AppendAck{}, err
	}
	return f.Wait(ctx)
}

// admitImport checks an imported batch against the stream state and moves
// an empty stream's tail to where the batch starts.
func (st *streamState) admitImport(im *importSpec) error {
	if im.first != st.next {
		if st.next != 0 || st.trimPoint != 0 || st.lastTimestamp != 0 {
			return &SeqNumMismatchError{ExpectedSeqNum: st.next}
		}
		st.next, st.trimPoint = im.first, im.first
	}
	if im.timestamps[0] < st.lastTimestamp {
		return invalidf("imported timestamps must not go back: %d is below the stream's last timestamp %d", im.timestamps[0], st.lastTimestamp)
	}
	return nil
}

// FinishImport sets an imported stream's tail, trim point and fencing
// token to the exported ones. The tail may only move past the last record
// when everything up to it was trimmed at the source.
func (s *Service) FinishImport(ctx context.Context, basin, name string, tail StreamPosition, trimPoint uint64, token string) error {
	if err := ValidateFencingToken(token); err != nil {
		return err
	}
	h, _, err := s.openStream(ctx, basin, name, false, nil)
	if err != nil {
		return err
	}
	defer h.release()
	h.mu.Lock()
	defer h.mu.Unlock()
	if err := h.waitIdleLocked(ctx); err != nil {
		return err
	}
	if h.deleting || h.deleted {
		return streamDeletionPending()
	}
	if h.needRepair || h.failed {
		if err := h.repairLocked(ctx); err != nil {
			return err
		}
	}
	st := h.next
	switch {
	case tail.SeqNum < st.next:
		return invalidf("the exported tail %d is below the stream's tail %d", tail.SeqNum, st.next)
	case tail.SeqNum > st.next && max(trimPoint, st.trimPoint) < tail.SeqNum:
		return invalidf("the exported tail %d is past the last imported record (%d) but not trimmed up to it (trim point %d)", tail.SeqNum, st.next, trimPoint)
	case tail.Timestamp < st.lastTimestamp:
		return invalidf("the exported tail's timestamp %d is below the stream's last timestamp %d", tail.Timestamp, st.lastTimestamp)
	}
	next := st
	next.next, next.lastTimestamp, next.token = tail.SeqNum, tail.Timestamp, token
	next.trimPoint = max(st.trimPoint, min(trimPoint, tail.SeqNum))
	b := engine.NewBatch()
	if next.trimPoint > st.trimPoint {
		b.DeleteRange(recordKey(h.id, 0), recordKey(h.id, next.trimPoint))
	}
	b.Set(stateKey(h.id), encodeState(next))
	if err := s.db.Write(ctx, b); err != nil {
		return storageError("finish import", err)
	}
	if next.trimPoint > st.trimPoint {
		s.scheduleIndexCleanup(h.id, next.trimPoint)
	}
	h.next, h.durable = next, next
	return nil
}
