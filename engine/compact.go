package engine

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/pingcap/failpoint"

	"github.com/s2lite/s2lite/compaction"
	"github.com/s2lite/s2lite/internal/crashtest/fault"
	"github.com/s2lite/s2lite/manifest"
	"github.com/s2lite/s2lite/sst"
)

// CompactionStats accumulate what compactions did.
type CompactionStats struct {
	Compactions  uint64 // rewrites
	Moves        uint64 // windows re-filed without rewriting
	Drops        uint64 // fully expired tables dropped without rewriting
	BytesRead    uint64
	BytesWritten uint64
}

func (db *DB) kickCompaction() {
	select {
	case db.compactKick <- struct{}{}:
	default:
	}
}

// compactLoop runs compactions when flushes add tables and periodically, so
// that tables whose entries all expired are dropped as time passes.
func (db *DB) compactLoop() {
	defer db.bgWG.Done()
	ticker := time.NewTicker(db.opts.CompactionInterval)
	defer ticker.Stop()
	backoff := 100 * time.Millisecond
	for {
		select {
		case <-db.compactKick:
		case <-ticker.C:
		case <-db.bgCtx.Done():
			return
		}
		for {
			did, err := db.compactOnce(db.bgCtx)
			if err != nil {
				if db.bgCtx.Err() != nil || errors.Is(err, ErrFenced) {
					return
				}
				db.log.Warn("compaction failed; will retry", "err", err, "backoff", backoff)
				select {
				case <-time.After(backoff):
				case <-db.bgCtx.Done():
					return
				}
				backoff = min(2*backoff, 10*time.Second)
				continue
			}
			backoff = 100 * time.Millisecond
			if !did {
				break
			}
		}
	}
}

// Compact runs compactions until the policy finds nothing to do.
func (db *DB) Compact(ctx context.Context) error {
	if err := db.writable(); err != nil {
		return err
	}
	for {
		did, err := db.compactOnce(ctx)
		if err != nil || !did {
			return err
		}
	}
}

// compactOnce picks and runs one compaction. It runs concurrently with
// writes and flushes: only the final manifest install takes manMu, and
// compaction.Apply re-locates its inputs in whatever the manifest has become
// (flushes only prepend L0 tables meanwhile). Only one compaction runs at a
// time.
func (db *DB) compactOnce(ctx context.Context) (bool, error) {
	db.compactMu.Lock()
	defer db.compactMu.Unlock()
	if db.fenced.Load() {
		return false, ErrFenced
	}
	db.manMu.Lock()
	base := db.man
	db.manMu.Unlock()
	now := db.opts.Now().UnixMilli()
	plan := compaction.Pick(base, now, db.opts.Compaction)
	if plan == nil {
		return false, nil
	}
	var out []manifest.Table
	var stats compaction.Stats
	inputs := plan.Inputs(base)
	switch {
	case len(inputs) == 0:
	case plan.Move:
		out = compaction.MoveOutput(inputs)
	default:
		var uploaded []string
		write := func(ctx context.Context, data []byte, props sst.Properties) (manifest.Table, error) {
			t, err := db.uploadTable(ctx, data, props)
			uploaded = append(uploaded, t.ObjectKey())
			return t, err
		}
		// Whatever this compaction uploaded and did not install is garbage
		// (installed outputs are released by the install itself).
		defer func() { db.releaseUploads(uploaded...) }()
		var err error
		out, stats, err = compaction.Run(ctx, base, plan, db.openForCompaction, write, now, db.opts.Compaction)
		if err != nil {
			return false, fmt.Errorf("compaction: %w", err)
		}
		// Failpoint: the outputs are uploaded but not installed.
		failpoint.Inject("compactAfterUpload", func(val failpoint.Value) { err = fault.Do(ctx, val) })
		if err != nil {
			return false, fmt.Errorf("compaction: %w", err)
		}
	}
	db.manMu.Lock()
	defer db.manMu.Unlock()
	next, err := compaction.Apply(db.man, plan, out)
	if err != nil {
		return false, fmt.Errorf("compaction: %w", err)
	}
	if err := db.installLocked(ctx, next, nil); err != nil {
		return false, fmt.Errorf("compaction: %w", err)
	}
	// Failpoint: the compaction is installed; its inputs are garbage.
	failpoint.Inject("compactAfterInstall", func(val failpoint.Value) { _ = fault.Do(ctx, val) })
	switch {
	case len(inputs) == 0:
	case plan.Move:
		db.m.compactionMoves.Add(1)
	default:
		db.m.compactions.Add(1)
		db.m.compactionRead.Add(uint64(stats.BytesRead))
		db.m.compactionWritten.Add(uint64(stats.BytesWritten))
	}
	db.m.compactionDrops.Add(uint64(len(plan.Drop)))
	db.log.Debug("compaction installed", "version", next.Version, "inputs", len(inputs), "outputs", len(out),
		"move", plan.Move, "bottom", plan.Bottom, "dropped", len(plan.Drop))
	return true, nil
}

// openForCompaction opens an input table without the shared block cache:
// a compaction reads each block once, and caching it would only evict what
// readers need.
func (db *DB) openForCompaction(ctx context.Context, t manifest.Table) (*sst.Reader, error) {
	return sst.Open(ctx, &tableObject{objs: db.objs, key: t.ObjectKey(), size: t.Size}, sst.ReaderOptions{})
}
