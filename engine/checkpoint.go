package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/s2lite/s2lite/manifest"
	"github.com/s2lite/s2lite/objstore"
)

var (
	// ErrReadOnly is returned by writes to a DB opened at a checkpoint.
	ErrReadOnly = errors.New("engine: read-only database")
	// ErrCheckpointExists is returned when creating a checkpoint under a
	// name that is taken.
	ErrCheckpointExists = errors.New("engine: checkpoint already exists")
	// ErrCheckpointNotFound is returned for an unknown checkpoint name.
	ErrCheckpointNotFound = errors.New("engine: checkpoint not found")
)

const checkpointPrefix = "checkpoint/"

var checkpointName = regexp.MustCompile(`^[A-Za-z0-9._-]{1,128}$`)

func checkpointKey(name string) string { return checkpointPrefix + name }

// Checkpoint pins one manifest version, and so every object it references,
// against garbage collection until it is deleted or expires.
type Checkpoint struct {
	Name            string    `json:"name"`
	ManifestVersion uint64    `json:"manifest_version"`
	CreatedAt       time.Time `json:"created_at"`
	// ExpiresAt is zero for a checkpoint that never expires.
	ExpiresAt time.Time `json:"expires_at,omitzero"`
}

// CreateCheckpoint flushes the memtable and pins the resulting manifest
// version under name. Every write acknowledged before the call is in it.
// A ttl of zero means the checkpoint never expires.
func (db *DB) CreateCheckpoint(ctx context.Context, name string, ttl time.Duration) (Checkpoint, error) {
	if err := db.writable(); err != nil {
		return Checkpoint{}, err
	}
	if !checkpointName.MatchString(name) {
		return Checkpoint{}, fmt.Errorf("engine: checkpoint name %q: use 1 to 128 of A-Z a-z 0-9 . _ -", name)
	}
	if err := db.Flush(ctx); err != nil {
		return Checkpoint{}, fmt.Errorf("engine: checkpoint: %w", err)
	}
	// Holding gcMu keeps a collection pass from deciding on the pins
	// before this one is visible. The pinned version is retained anyway for
	// the minimum age after it stops being the newest, which covers the
	// time between reading it here and writing the checkpoint.
	db.gcMu.Lock()
	defer db.gcMu.Unlock()
	db.manMu.Lock()
	v := db.man.Version
	db.manMu.Unlock()
	cp := Checkpoint{Name: name, ManifestVersion: v, CreatedAt: time.Now().UTC()}
	if ttl > 0 {
		cp.ExpiresAt = cp.CreatedAt.Add(ttl)
	}
	data, err := json.Marshal(cp)
	if err != nil {
		return Checkpoint{}, err
	}
	if _, err := db.objs.PutIfAbsent(ctx, checkpointKey(name), data); err != nil {
		if errors.Is(err, objstore.ErrPreconditionFailed) {
			return Checkpoint{}, fmt.Errorf("%w: %s", ErrCheckpointExists, name)
		}
		return Checkpoint{}, fmt.Errorf("engine: checkpoint: %w", err)
	}
	return cp, nil
}

// ListCheckpoints returns every checkpoint, expired ones included until
// garbage collection removes them.
func (db *DB) ListCheckpoints(ctx context.Context) ([]Checkpoint, error) {
	return listCheckpoints(ctx, db.objs)
}

// DeleteCheckpoint removes a checkpoint; its objects become collectable.
func (db *DB) DeleteCheckpoint(ctx context.Context, name string) error {
	if err := db.writable(); err != nil {
		return err
	}
	if _, err := loadCheckpoint(ctx, db.objs, name); err != nil {
		return err
	}
	return db.objs.Delete(ctx, checkpointKey(name))
}

func listCheckpoints(ctx context.Context, objs objstore.Store) ([]Checkpoint, error) {
	infos, err := objs.List(ctx, checkpointPrefix, "", 0)
	if err != nil {
		return nil, fmt.Errorf("engine: list checkpoints: %w", err)
	}
	var out []Checkpoint
	for _, o := range infos {
		cp, err := loadCheckpoint(ctx, objs, strings.TrimPrefix(o.Key, checkpointPrefix))
		if errors.Is(err, ErrCheckpointNotFound) {
			continue // deleted since the listing
		}
		if err != nil {
			return nil, err
		}
		out = append(out, cp)
	}
	return out, nil
}

func loadCheckpoint(ctx context.Context, objs objstore.Store, name string) (Checkpoint, error) {
	data, _, err := objs.Get(ctx, checkpointKey(name))
	if errors.Is(err, objstore.ErrNotFound) {
		return Checkpoint{}, fmt.Errorf("%w: %s", ErrCheckpointNotFound, name)
	}
	if err != nil {
		return Checkpoint{}, fmt.Errorf("engine: read checkpoint %s: %w", name, err)
	}
	var cp Checkpoint
	if err := json.Unmarshal(data, &cp); err != nil {
		return Checkpoint{}, fmt.Errorf("engine: checkpoint %s is unreadable: %w", name, err)
	}
	return cp, nil
}

// checkpointPins returns the manifest versions pinned by live checkpoints
// and the names of expired ones. A checkpoint object is never rewritten
// (renewals use new names), so each is read once and remembered while it
// is listed: a pass costs one LIST however many restore points are kept.
// gcMu must be held.
func (db *DB) checkpointPins(ctx context.Context, now time.Time) (map[uint64]bool, []string, error) {
	infos, err := db.objs.List(ctx, checkpointPrefix, "", 0)
	if err != nil {
		return nil, nil, fmt.Errorf("engine: list checkpoints: %w", err)
	}
	listed := map[string]bool{}
	var cps []Checkpoint
	for _, o := range infos {
		name := strings.TrimPrefix(o.Key, checkpointPrefix)
		listed[name] = true
		cp, ok := db.gcCheckpoints[name]
		if !ok {
			cp, err = loadCheckpoint(ctx, db.objs, name)
			if errors.Is(err, ErrCheckpointNotFound) {
				continue // deleted since the listing
			}
			if err != nil {
				return nil, nil, err
			}
			db.gcCheckpoints[name] = cp
		}
		cps = append(cps, cp)
	}
	for name := range db.gcCheckpoints {
		if !listed[name] {
			delete(db.gcCheckpoints, name)
		}
	}
	pinned := map[uint64]bool{}
	var expired []string
	for _, cp := range cps {
		if !cp.ExpiresAt.IsZero() && !now.Before(cp.ExpiresAt) {
			expired = append(expired, cp.Name)
			continue
		}
		pinned[cp.ManifestVersion] = true
	}
	return pinned, expired, nil
}

// OpenCheckpoint opens the state pinned by a checkpoint, read-only. It does
// not fence the writer, replay the WAL or start background work, so it can
// run beside a live writer: it sees a frozen state while writes continue.
// Expiry (TTL) still follows the clock.
func OpenCheckpoint(ctx context.Context, opts Options, name string) (*DB, error) {
	if opts.Store == nil {
		return nil, errors.New("engine: Options.Store is required")
	}
	opts = opts.withDefaults()
	cp, err := loadCheckpoint(ctx, opts.Store, name)
	if err != nil {
		return nil, err
	}
	m, err := manifest.NewStore(opts.Store, opts.Logger).Load(ctx, cp.ManifestVersion)
	if err != nil {
		return nil, fmt.Errorf("engine: open checkpoint %s: %w", name, err)
	}
	db := newDB(opts)
	db.readOnly = true
	db.man = m
	db.current = db.tables.version(m)
	db.visibleSeq.Store(m.LastSeq)
	return db, nil
}

// AutoCheckpointPrefix starts the names of scheduled checkpoints
// (Options.CheckpointInterval); what follows is the UTC creation time, so
// the names sort by time.
const AutoCheckpointPrefix = "auto-"

// autoCheckpointLoop creates the scheduled checkpoints. The first one is
// made one interval after Open.
func (db *DB) autoCheckpointLoop() {
	defer db.bgWG.Done()
	ticker := time.NewTicker(db.opts.CheckpointInterval)
	defer ticker.Stop()
	for {
		select {
		case <-ticker.C:
		case <-db.bgCtx.Done():
			return
		}
		name := AutoCheckpointPrefix + time.Now().UTC().Format("20060102T150405.000Z")
		// The retention covers the window plus one interval, so a restore
		// to the oldest moment of the window always has a checkpoint at or
		// before it.
		cp, err := db.CreateCheckpoint(db.bgCtx, name, db.opts.CheckpointRetention+db.opts.CheckpointInterval)
		if err != nil {
			if db.bgCtx.Err() != nil || errors.Is(err, ErrFenced) {
				return
			}
			db.log.Warn("scheduled checkpoint failed", "name", name, "err", err)
			continue
		}
		db.log.Info("scheduled checkpoint", "name", cp.Name, "manifest", cp.ManifestVersion)
	}
}
