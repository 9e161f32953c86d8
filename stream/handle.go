package stream

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/s2lite/s2lite/engine"
)

// streamHandle is the in-memory owner of one stream: its sequencer (the
// tail, fencing token and trim point, see sequencer.go) and its live
// followers (follow.go). At most one handle per stream is loaded; it is
// loaded on demand from the engine and evicted when idle.
type streamHandle struct {
	svc          *Service
	basin, name  string
	key          string // streamMapKey(basin, name)
	id           uint64
	cipher       string // "" for none; never changes
	createdAt    time.Time
	configuredAt time.Time

	// refs counts users (sessions, in-progress calls); guarded by svc.mu.
	refs     int
	lastUsed time.Time // guarded by svc.mu

	mu  sync.Mutex
	cfg ResolvedStreamConfig
	// next is the state after every accepted batch (durable or not);
	// durable is the state after the last acknowledged one.
	next, durable streamState
	// queue holds accepted batches in submission order until they resolve.
	queue    []*appendEntry
	draining bool
	// idle is closed (and set to nil) when queue becomes empty.
	idle chan struct{}
	// failed is set when a write of the current pipeline failed: every
	// later entry fails too, and once the queue is empty the stream must
	// be repaired before it takes new appends.
	failed     bool
	failure    error
	needRepair bool
	deleting   bool
	deleted    bool
	followers  map[*follower]struct{}
}

func streamMapKey(basin, name string) string { return basin + "\x00" + name }

// acquireStream returns the loaded handle of a stream, loading it if
// needed, with a reference the caller must release. It returns nil, nil
// if the stream does not exist.
func (s *Service) acquireStream(ctx context.Context, basin, name string) (*streamHandle, error) {
	key := streamMapKey(basin, name)
	if h := s.lookupStream(key); h != nil {
		return h, nil
	}
	defer s.streamLocks.rlock(key)()
	return s.loadStreamLocked(ctx, basin, name)
}

func (s *Service) lookupStream(key string) *streamHandle {
	s.mu.Lock()
	defer s.mu.Unlock()
	h := s.streams[key]
	if h != nil {
		h.refs++
	}
	return h
}

// loadStreamLocked is acquireStream for a caller that holds the stream's
// lock (shared or exclusive).
func (s *Service) loadStreamLocked(ctx context.Context, basin, name string) (*streamHandle, error) {
	key := streamMapKey(basin, name)
	if h := s.lookupStream(key); h != nil {
		return h, nil
	}
	m, err := s.getStreamMeta(ctx, basin, name)
	if err != nil || m == nil {
		return nil, err
	}
	var st streamState
	v, err := s.db.Get(ctx, stateKey(m.ID))
	switch {
	case errors.Is(err, engine.ErrNotFound):
	case err != nil:
		return nil, storageError("load stream state", err)
	default:
		if st, err = decodeState(v); err != nil {
			return nil, storageError("load stream state", err)
		}
	}
	h := &streamHandle{
		svc: s, basin: basin, name: name, key: key, id: m.ID, cipher: m.Cipher,
		createdAt: m.CreatedAt, configuredAt: m.ConfiguredAt,
		cfg: m.Config, next: st, durable: st,
		followers: map[*follower]struct{}{},
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, storageError("load stream", errClosed)
	}
	if other := s.streams[key]; other != nil {
		// Another shared holder loaded it first.
		other.refs++
		return other, nil
	}
	s.streams[key] = h
	h.refs++
	return h, nil
}

// release drops a reference taken by acquireStream.
func (h *streamHandle) release() {
	s := h.svc
	s.mu.Lock()
	h.refs--
	h.lastUsed = time.Now()
	s.mu.Unlock()
}

// forget removes the handle from the loaded set (after deletion).
func (h *streamHandle) forget() {
	s := h.svc
	s.mu.Lock()
	if s.streams[h.key] == h {
		delete(s.streams, h.key)
	}
	s.mu.Unlock()
}

// tail returns the durable tail, or the error a reader gets while the
// stream is being deleted.
func (h *streamHandle) tail() (StreamPosition, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.deleting || h.deleted {
		return StreamPosition{}, streamDeletionPending()
	}
	return h.durable.tail(), nil
}

// setConfig installs a new resolved configuration; later appends use it.
func (h *streamHandle) setConfig(cfg ResolvedStreamConfig, configuredAt time.Time) {
	h.mu.Lock()
	h.cfg = cfg
	h.configuredAt = configuredAt
	h.mu.Unlock()
}

// waitIdleLocked waits until no accepted batch is outstanding. h.mu is
// held on entry and on return (it is released while waiting).
func (h *streamHandle) waitIdleLocked(ctx context.Context) error {
	for len(h.queue) > 0 {
		if h.idle == nil {
			h.idle = make(chan struct{})
		}
		ch := h.idle
		h.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			h.mu.Lock()
			return ctx.Err()
		}
		h.mu.Lock()
	}
	return nil
}

// quiescentLocked reports whether the handle holds nothing worth keeping
// in memory.
func (h *streamHandle) quiescentLocked() bool {
	return len(h.queue) == 0 && !h.draining && !h.needRepair && !h.failed && !h.deleting && len(h.followers) == 0
}

// deleteIf deletes the stream, if cond holds when cond is given (it is
// evaluated with h.mu held and no append in flight): records, timestamp index, state and
// metadata go in one atomic batch, so the name is free as soon as it is
// durable. Followers end with unavailable. The caller holds the stream's
// exclusive lock.
func (h *streamHandle) deleteIf(ctx context.Context, cond func(h *streamHandle) (bool, error)) (bool, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.deleted {
		return false, nil
	}
	if cond != nil {
		// A conditional deletion (delete-on-empty) never makes appends
		// wait or fail: it gives up unless the stream is quiet right now,
		// and h.mu keeps it quiet until the deletion is durable.
		if len(h.queue) > 0 || h.failed || h.needRepair || h.deleting {
			return false, nil
		}
		if ok, err := cond(h); err != nil || !ok {
			return false, err
		}
		h.deleting = true
	} else {
		h.deleting = true
		if err := h.waitIdleLocked(ctx); err != nil {
			h.deleting = false
			return false, err
		}
	}
	b := engine.NewBatch()
	b.DeleteRange(recordStreamPrefix(h.id), prefixEnd(recordStreamPrefix(h.id)))
	b.DeleteRange(indexStreamPrefix(h.id), prefixEnd(indexStreamPrefix(h.id)))
	b.Delete(stateKey(h.id))
	b.Delete(streamMetaKey(h.basin, h.name))
	b.Delete(deleteOnEmptyKey(h.basin, h.name))
	if err := h.svc.db.Write(ctx, b); err != nil {
		// The batch may still land: the repair that precedes the next
		// append finds out (see repairLocked).
		h.deleting = false
		h.needRepair = true
		return false, storageError("delete stream", err)
	}
	h.deleted = true
	if u := h.svc.opts.Usage; u != nil {
		u.StreamDeleted(h.basin, h.name)
	}
	for f := range h.followers {
		f.end(streamDeleted())
	}
	clear(h.followers)
	h.forget()
	h.svc.mu.Lock()
	delete(h.svc.indexCleanups, h.id)
	h.svc.mu.Unlock()
	return true, nil
}
