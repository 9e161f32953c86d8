package stream

import (
	"context"
	"time"

	"github.com/s2lite/s2lite/engine"
)

// Repair after a failed append (see the failure notes in sequencer.go).

// repairLocked makes storage agree with the last acknowledged state after
// a failed write: it rewrites the state and deletes every record and index
// entry past the acknowledged tail. The write also heals the engine (it
// is the first Submit after the failure, or behind it), so everything a
// failed batch left behind is visible to the range deletions. h.mu is
// held and the queue is empty.
func (h *streamHandle) repairLocked(ctx context.Context) error {
	st := h.durable
	b := engine.NewBatch()
	b.DeleteRange(recordKey(h.id, st.next), prefixEnd(recordStreamPrefix(h.id)))
	b.DeleteRange(indexKey(h.id, st.lastTimestamp, st.next), prefixEnd(indexStreamPrefix(h.id)))
	b.Set(stateKey(h.id), encodeState(st))
	if err := h.svc.db.Write(ctx, b); err != nil {
		return storageError("repair stream", err)
	}
	// A deletion whose outcome was unknown may have landed after all.
	var m streamMeta
	found, err := getJSON(ctx, h.svc.db, streamMetaKey(h.basin, h.name), &m)
	if err != nil {
		return err
	}
	if !found || m.ID != h.id {
		h.deleted = true
		for f := range h.followers {
			f.end(streamDeleted())
		}
		clear(h.followers)
		h.forget()
		return streamDeletionPending()
	}
	h.needRepair = false
	h.next = st
	h.svc.log.Info("stream repaired after a failed append", "basin", h.basin, "stream", h.name, "tail", st.next)
	return nil
}

// repairInBackground repairs the stream right after a failure rather than
// at the next append, so that what a failed batch left behind does not
// outlive a restart either. It retries until it succeeds, an append does
// the repair first, or the service closes.
func (h *streamHandle) repairInBackground() {
	backoff := 10 * time.Millisecond
	for {
		h.mu.Lock()
		if !h.needRepair || h.deleting || h.deleted || len(h.queue) > 0 {
			h.mu.Unlock()
			return
		}
		err := h.repairLocked(h.svc.bgCtx)
		h.mu.Unlock()
		if err == nil {
			return
		}
		t := time.NewTimer(backoff)
		select {
		case <-h.svc.closing:
			t.Stop()
			return
		case <-t.C:
		}
		backoff = min(2*backoff, 2*time.Second)
	}
}
