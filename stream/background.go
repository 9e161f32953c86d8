package stream

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"time"

	"github.com/s2lite/s2lite/engine"
)

// Background work: basin deletion (resumed after a restart from the d/
// keys), delete-on-empty checks (from the e/ keys), cleanup of timestamp
// index entries below trim points, and eviction of idle stream handles.
// One goroutine runs it every BackgroundInterval and when kicked.

func (s *Service) backgroundLoop() {
	defer s.wg.Done()
	t := time.NewTicker(s.opts.BackgroundInterval)
	defer t.Stop()
	for {
		select {
		case <-s.bgCtx.Done():
			return
		case <-t.C:
		case <-s.kick:
		}
		s.runBackground(s.bgCtx)
	}
}

// runBackground runs one round of every background task. Failures are
// logged and retried on the next round.
func (s *Service) runBackground(ctx context.Context) {
	if err := s.runBasinDeletions(ctx); err != nil && ctx.Err() == nil {
		s.log.Warn("basin deletion", "err", err)
	}
	if err := s.runDeleteOnEmpty(ctx); err != nil && ctx.Err() == nil {
		s.log.Warn("delete-on-empty", "err", err)
	}
	if err := s.runIndexCleanups(ctx); err != nil && ctx.Err() == nil {
		s.log.Warn("timestamp index cleanup", "err", err)
	}
	s.evictIdleStreams()
}

// scanNames returns the names stored under a key prefix (values ignored).
func (s *Service) scanNames(ctx context.Context, prefix []byte, limit int) ([]string, error) {
	it, err := s.db.NewIter(ctx, &engine.IterOptions{LowerBound: prefix, UpperBound: prefixEnd(prefix)})
	if err != nil {
		return nil, storageError("scan", err)
	}
	defer it.Close()
	var out []string
	for ok := it.First(); ok && (limit <= 0 || len(out) < limit); ok = it.Next() {
		out = append(out, string(bytes.TrimPrefix(it.Key(), prefix)))
	}
	if err := it.Error(); err != nil {
		return nil, storageError("scan", err)
	}
	return out, nil
}

// runBasinDeletions deletes the streams of every basin marked deleted, a
// page at a time, then the basin itself. Each step is durable on its own,
// so a restart resumes where it stopped.
func (s *Service) runBasinDeletions(ctx context.Context) error {
	basins, err := s.scanNames(ctx, []byte(basinDeletionPrefix), 0)
	if err != nil {
		return err
	}
	for _, basin := range basins {
		if err := s.finishBasinDeletion(ctx, basin); err != nil {
			return err
		}
	}
	return nil
}

const basinDeletionPage = 100

func (s *Service) finishBasinDeletion(ctx context.Context, basin string) error {
	for {
		names, err := s.scanNames(ctx, streamsOfBasinPrefix(basin), basinDeletionPage)
		if err != nil {
			return err
		}
		if len(names) == 0 {
			break
		}
		for _, name := range names {
			if _, err := s.deleteStreamIf(ctx, basin, name, nil); err != nil && !isCode(err, CodeStreamNotFound) {
				return err
			}
		}
	}
	// No stream can appear now: creation checks the basin under the basin
	// lock, and the basin has been marked deleted since before this ran.
	defer s.basinLocks.lock(basin)()
	b := engine.NewBatch()
	b.Delete(basinKey(basin))
	b.Delete(basinDeletionKey(basin))
	if err := s.db.Write(ctx, b); err != nil {
		return storageError("delete basin", err)
	}
	s.log.Info("basin deleted", "basin", basin)
	return nil
}

func isCode(err error, code string) bool {
	var e *Error
	return errors.As(err, &e) && e.Code == code
}

// runDeleteOnEmpty deletes streams with delete_on_empty enabled that hold
// no records, have nothing in flight and saw no append for min_age (plus
// the grace period).
func (s *Service) runDeleteOnEmpty(ctx context.Context) error {
	names, err := s.scanNames(ctx, []byte(deleteOnEmptyPrefix), 0)
	if err != nil {
		return err
	}
	for _, key := range names {
		basin, name, ok := strings.Cut(key, "\x00")
		if !ok {
			continue
		}
		deleted, err := s.deleteStreamIf(ctx, basin, name, s.emptyAndIdle)
		switch {
		case isCode(err, CodeStreamNotFound):
		case err != nil:
			return err
		case deleted:
			s.log.Info("deleted empty stream", "basin", basin, "stream", name)
		}
	}
	return nil
}

// emptyAndIdle is the delete-on-empty condition. It runs with the stream
// quiesced (h.mu held, no append in flight or able to start).
func (s *Service) emptyAndIdle(h *streamHandle) (bool, error) {
	minAge := h.cfg.DeleteOnEmpty.MinAgeSecs
	if minAge == 0 || minAge > uint64(maxExpirySecs) {
		return false, nil
	}
	due := h.lastActivityLocked().Add(time.Duration(minAge)*time.Second + s.opts.DeleteOnEmptyGrace)
	if s.now().Before(due) {
		return false, nil
	}
	it, err := s.db.NewIter(s.bgCtx, &engine.IterOptions{
		LowerBound: recordKey(h.id, h.durable.trimPoint),
		UpperBound: prefixEnd(recordStreamPrefix(h.id)),
	})
	if err != nil {
		return false, storageError("check empty", err)
	}
	defer it.Close()
	if it.First() {
		return false, nil
	}
	if err := it.Error(); err != nil {
		return false, storageError("check empty", err)
	}
	return true, nil
}

// scheduleIndexCleanup notes that index entries below trimPoint may be
// deleted. Lost on restart, which only delays their removal until they
// expire: stale entries never change a read (see seekTimestamp).
func (s *Service) scheduleIndexCleanup(id, trimPoint uint64) {
	s.mu.Lock()
	s.indexCleanups[id] = max(s.indexCleanups[id], trimPoint)
	s.mu.Unlock()
	s.kickBackground()
}

func (s *Service) runIndexCleanups(ctx context.Context) error {
	s.mu.Lock()
	todo := s.indexCleanups
	s.indexCleanups = map[uint64]uint64{}
	s.mu.Unlock()
	for id, trimPoint := range todo {
		if err := s.cleanupIndex(ctx, id, trimPoint); err != nil {
			s.scheduleIndexCleanup(id, trimPoint)
			return err
		}
	}
	return nil
}

// cleanupIndex range-deletes the index entries of records below trimPoint.
// Index order equals sequence order (timestamps never decrease), so they
// are the entries before the first one at or above trimPoint; entries
// added meanwhile sort after it.
func (s *Service) cleanupIndex(ctx context.Context, id, trimPoint uint64) error {
	prefix := indexStreamPrefix(id)
	it, err := s.db.NewIter(ctx, &engine.IterOptions{LowerBound: prefix, UpperBound: prefixEnd(prefix)})
	if err != nil {
		return storageError("index cleanup", err)
	}
	var end []byte
	for ok := it.First(); ok; ok = it.Next() {
		if indexSeq(it.Key()) >= trimPoint {
			break
		}
		end = append(append(end[:0], it.Key()...), 0) // just past this entry
	}
	err = it.Error()
	it.Close()
	if err != nil {
		return storageError("index cleanup", err)
	}
	if end == nil {
		return nil
	}
	b := engine.NewBatch()
	b.DeleteRange(prefix, end)
	return storageError("index cleanup", s.db.Write(ctx, b))
}

// evictIdleStreams unloads handles nobody used for IdleStreamTimeout and
// that hold nothing in memory worth keeping. Lock order is h.mu before
// s.mu, so candidates are picked first and checked again under both.
func (s *Service) evictIdleStreams() {
	now := time.Now()
	var candidates []*streamHandle
	s.mu.Lock()
	for _, h := range s.streams {
		if h.refs == 0 && now.Sub(h.lastUsed) >= s.opts.IdleStreamTimeout {
			candidates = append(candidates, h)
		}
	}
	s.mu.Unlock()
	for _, h := range candidates {
		h.mu.Lock()
		if h.quiescentLocked() {
			s.mu.Lock()
			if h.refs == 0 && s.streams[h.key] == h {
				delete(s.streams, h.key)
			}
			s.mu.Unlock()
		}
		h.mu.Unlock()
	}
}
