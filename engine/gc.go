package engine

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/pingcap/failpoint"

	"github.com/s2lite/s2lite/internal/crashtest/fault"
	"github.com/s2lite/s2lite/manifest"
	"github.com/s2lite/s2lite/objstore"
)

// GCStats reports one garbage collection pass.
type GCStats struct {
	ManifestsDeleted   int
	TablesDeleted      int
	WALObjectsDeleted  int
	CheckpointsExpired int
	FencesKept         int
}

// fenceMaxSize bounds the encoded size of an empty WAL object; any object
// this small is read to tell fences (kept forever) from tiny groups.
const fenceMaxSize = 64

// CollectGarbage deletes objects that no retained manifest version and no
// checkpoint references, once they are older than Options.GCMinAge.
//
// The argument, in DESIGN.md at length:
//   - A manifest version is retained while it is the newest, while the
//     version after it is younger than the minimum age (a reader or a slow
//     writer may still be using it), or while a checkpoint pins it.
//   - A table is deleted only if no retained version references it and the
//     table object itself is older than the minimum age (a flush or
//     compaction may be about to reference a young one).
//   - A WAL object is deleted only below every retained version's replay
//     start and after the minimum age. Fences are never deleted: a fenced
//     writer's next WAL PUT lands on the fence that fenced it, and if that
//     slot were empty the PUT would succeed and the writer would acknowledge
//     a write no replay will ever read.
//   - If the listing shows a manifest version newer than ours, a newer writer
//     exists: we are fenced and collect nothing.
func (db *DB) CollectGarbage(ctx context.Context) (GCStats, error) {
	if err := db.writable(); err != nil {
		return GCStats{}, err
	}
	db.gcMu.Lock()
	defer db.gcMu.Unlock()
	var st GCStats
	now := time.Now()
	minAge := db.opts.GCMinAge
	old := func(o objstore.ObjectInfo) bool { return now.Sub(o.LastModified) >= minAge }

	pinned, expired, err := db.checkpointPins(ctx, now)
	if err != nil {
		return st, err
	}

	// Decide which manifest versions stay, holding manMu so none of our own
	// manifest writes is half done.
	db.manMu.Lock()
	latest := db.man.Version
	versions, err := db.listAll(ctx, "manifest/", "")
	db.manMu.Unlock()
	if err != nil {
		return st, fmt.Errorf("gc: %w", err)
	}
	type ver struct {
		v    uint64
		info objstore.ObjectInfo
	}
	var vs []ver
	for _, o := range versions {
		s, ok := strings.CutPrefix(o.Key, "manifest/")
		if !ok || len(s) != 20 {
			continue
		}
		v, perr := strconv.ParseUint(s, 10, 64)
		if perr != nil {
			continue
		}
		if v > latest {
			db.fenced.Store(true)
			return st, fmt.Errorf("gc: %w: manifest version %d is newer than ours (%d)", ErrFenced, v, latest)
		}
		vs = append(vs, ver{v, o})
	}
	retained := map[uint64]bool{latest: true}
	for i, x := range vs {
		if pinned[x.v] || (i+1 < len(vs) && !old(vs[i+1].info)) {
			retained[x.v] = true
		}
	}
	for v := range pinned {
		retained[v] = true
	}

	// Everything retained versions reference.
	live := map[string]bool{}
	replayFrom := uint64(0)
	for v := range retained {
		m, err := db.loadForGC(ctx, v)
		if err != nil {
			return st, fmt.Errorf("gc: %w", err)
		}
		for _, t := range m.Tables() {
			live[t.ObjectKey()] = true
		}
		if replayFrom == 0 || m.WALReplayFrom < replayFrom {
			replayFrom = m.WALReplayFrom
		}
	}

	// Tables.
	tables, err := db.listAll(ctx, "sst/", "")
	if err != nil {
		return st, fmt.Errorf("gc: %w", err)
	}
	for _, o := range tables {
		if !live[o.Key] && old(o) && !db.uploadProtected(o.Key) {
			if err := db.gcDelete(ctx, o.Key); err != nil {
				return st, fmt.Errorf("gc: %w", err)
			}
			st.TablesDeleted++
		}
	}

	// WAL objects below every retained replay start, fences excepted.
	wals, err := db.listAll(ctx, walPrefix, walKey(db.gcWALScanned))
	if err != nil {
		return st, fmt.Errorf("gc: %w", err)
	}
	clean := true // everything listed so far below replayFrom is gone or a fence
	for _, o := range wals {
		id, perr := strconv.ParseUint(strings.TrimPrefix(o.Key, walPrefix), 10, 64)
		if perr != nil || id >= replayFrom {
			break
		}
		if !old(o) {
			clean = false
			continue
		}
		if o.Size <= fenceMaxSize {
			data, _, err := db.objs.Get(ctx, o.Key)
			if err != nil && !errors.Is(err, objstore.ErrNotFound) {
				return st, fmt.Errorf("gc: %w", err)
			}
			if w, derr := decodeWAL(data); err == nil && derr == nil && len(w.ops) == 0 {
				st.FencesKept++
				if clean {
					db.gcWALScanned = id
				}
				continue
			}
		}
		if err := db.gcDelete(ctx, o.Key); err != nil {
			return st, fmt.Errorf("gc: %w", err)
		}
		st.WALObjectsDeleted++
		if clean {
			db.gcWALScanned = id
		}
	}

	// Manifests: point the hint at the newest first, so that it never names
	// a version we are about to delete.
	if _, err := db.objs.Put(ctx, "manifest/LATEST", []byte(strconv.FormatUint(latest, 10))); err != nil {
		return st, fmt.Errorf("gc: update manifest hint: %w", err)
	}
	for _, x := range vs {
		if !retained[x.v] {
			if err := db.gcDelete(ctx, x.info.Key); err != nil {
				return st, fmt.Errorf("gc: %w", err)
			}
			delete(db.gcManifests, x.v)
			st.ManifestsDeleted++
		}
	}

	for _, name := range expired {
		if err := db.gcDelete(ctx, checkpointKey(name)); err != nil {
			return st, fmt.Errorf("gc: %w", err)
		}
		st.CheckpointsExpired++
	}
	db.m.gcRuns.Add(1)
	db.m.gcDeleted.Add(uint64(st.ManifestsDeleted + st.TablesDeleted + st.WALObjectsDeleted + st.CheckpointsExpired))
	return st, nil
}

// gcDelete deletes one object for garbage collection. It exists to carry
// the failpoint that crashes or fails a collection before any delete.
func (db *DB) gcDelete(ctx context.Context, key string) error {
	var err error
	failpoint.Inject("gcBeforeDelete", func(val failpoint.Value) { err = fault.Do(ctx, val) })
	if err != nil {
		return fmt.Errorf("delete %s: %w", key, err)
	}
	return db.objs.Delete(ctx, key)
}

// loadForGC reads a manifest version, caching it: versions are immutable.
func (db *DB) loadForGC(ctx context.Context, v uint64) (*manifest.Manifest, error) {
	if m, ok := db.gcManifests[v]; ok {
		return m, nil
	}
	m, err := db.manifests.Load(ctx, v)
	if err != nil {
		return nil, err
	}
	db.gcManifests[v] = m
	return m, nil
}

func (db *DB) listAll(ctx context.Context, prefix, startAfter string) ([]objstore.ObjectInfo, error) {
	var out []objstore.ObjectInfo
	for {
		page, err := db.objs.List(ctx, prefix, startAfter, 1000)
		if err != nil {
			return nil, err
		}
		out = append(out, page...)
		if len(page) < 1000 {
			return out, nil
		}
		startAfter = page[len(page)-1].Key
	}
}

func (db *DB) gcLoop() {
	defer db.bgWG.Done()
	ticker := time.NewTicker(db.opts.GCInterval)
	defer ticker.Stop()
	for {
		select {
		case <-ticker.C:
		case <-db.bgCtx.Done():
			return
		}
		st, err := db.CollectGarbage(db.bgCtx)
		if err != nil {
			if db.bgCtx.Err() != nil || errors.Is(err, ErrFenced) {
				return
			}
			db.log.Warn("garbage collection failed", "err", err)
			continue
		}
		db.log.Debug("garbage collected", "manifests", st.ManifestsDeleted, "tables", st.TablesDeleted, "wal", st.WALObjectsDeleted)
	}
}
