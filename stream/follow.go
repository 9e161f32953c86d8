package stream

// Live following: the drainer hands every acknowledged batch to the
// stream's followers from memory, so a reader at the tail sees a batch as
// soon as it is durable without touching storage. A follower that lets
// its buffer fill is dropped and catches up from storage instead: a slow
// reader never holds back appends.

// liveBatch is an acknowledged batch as followers see it. It is shared by
// every follower and must not be modified. On a stream with a cipher it
// holds no plaintext: values are the records' stored values (envelope
// records sealed), which each follower opens with its own session's key,
// and records carry only positions.
type liveBatch struct {
	records []SequencedRecord
	values  [][]byte
	tail    StreamPosition
}

// follower receives live batches on ch. When ch is closed, err says why:
// nil means it lagged behind and was dropped.
type follower struct {
	ch    chan *liveBatch
	err   error
	ended bool
}

// end closes the follower; h.mu is held.
func (f *follower) end(err error) {
	if !f.ended {
		f.ended = true
		f.err = err
		close(f.ch)
	}
}

// broadcastLocked offers b to every follower without blocking.
func (h *streamHandle) broadcastLocked(b *liveBatch) {
	for f := range h.followers {
		select {
		case f.ch <- b:
		default:
			delete(h.followers, f)
			f.end(nil)
		}
	}
}

// subscribe registers a follower if next is the durable tail; otherwise
// the reader must catch up from storage first and ok is false.
func (h *streamHandle) subscribe(next uint64) (f *follower, tail StreamPosition, ok bool, err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.deleting || h.deleted {
		return nil, StreamPosition{}, false, streamDeleted()
	}
	tail = h.durable.tail()
	if tail.SeqNum != next {
		return nil, tail, false, nil
	}
	f = &follower{ch: make(chan *liveBatch, h.svc.opts.FollowerBufferBatches)}
	h.followers[f] = struct{}{}
	return f, tail, true, nil
}

func (h *streamHandle) unsubscribe(f *follower) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, ok := h.followers[f]; ok {
		delete(h.followers, f)
		f.end(nil)
	}
}
