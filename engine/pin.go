package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/s2lite/s2lite/manifest"
	"github.com/s2lite/s2lite/objstore"
)

// Pinning from outside the writer.
//
// A process that is not the database's writer (a backup, a restore) may
// need a manifest version and everything it references to stay in the
// store while it reads them. It pins the version with a checkpoint object,
// exactly as CreateCheckpoint does, but without the writer's locks, so
// the protocol must hold against a collection pass running concurrently in
// the writer:
//
//  1. Note the time t0, then read the newest manifest version v.
//  2. Write checkpoint/<name> naming v, with put-if-absent, and an expiry
//     (a lease: a pinner that dies does not pin forever).
//  3. Accept the pin only if step 2 finished before t0 + GCMinAge/2;
//     otherwise remove it and start again.
//
// Why a collection pass cannot delete v (or what v references) once the
// pin is accepted: a pass lists checkpoints at its start (time T), before
// deciding anything, and uses T for every age test. A pass that started
// after the checkpoint was written sees the pin. A pass that started
// before may delete v only if v was not the newest version and the
// version after it was at least GCMinAge old at T. But v was the newest at
// t0, so its successor was written after t0, and T is before the
// checkpoint write, which was before t0 + GCMinAge/2: the successor was
// less than GCMinAge/2 old at T, so v is retained by that pass, and with v
// every table it references and the WAL from its replay start. The half
// of GCMinAge left over absorbs clock differences between the pinner, the
// writer and the store (the writer compares its clock with the store's
// LastModified times). A pinned version then stays until the checkpoint
// is deleted or expires.
//
// A lease is extended by pinning the same version under a new name before
// the old pin expires, then removing the old one (RenewPin): a pass that
// started before the new checkpoint was written still sees the old one,
// which has not expired.

// PinLatest pins the newest manifest version of the database in store from
// outside its writer, under checkpoint name, for ttl. gcMinAge is the
// writer's Options.GCMinAge (the default when zero).
func PinLatest(ctx context.Context, store objstore.Store, name string, ttl, gcMinAge time.Duration) (Checkpoint, error) {
	if !checkpointName.MatchString(name) {
		return Checkpoint{}, fmt.Errorf("engine: checkpoint name %q: use 1 to 128 of A-Z a-z 0-9 . _ -", name)
	}
	if gcMinAge <= 0 {
		gcMinAge = Options{}.withDefaults().GCMinAge
	}
	if ttl <= 0 {
		return Checkpoint{}, errors.New("engine: a pin needs a positive lease")
	}
	ms := manifest.NewStore(store, nil)
	for attempt := 0; ; attempt++ {
		t0 := time.Now()
		m, err := ms.Latest(ctx)
		if err != nil {
			return Checkpoint{}, fmt.Errorf("engine: pin: %w", err)
		}
		if m == nil {
			return Checkpoint{}, errors.New("engine: pin: the store holds no database")
		}
		cp, err := writePin(ctx, store, name, m.Version, ttl)
		if err != nil {
			return Checkpoint{}, err
		}
		if time.Since(t0) < gcMinAge/2 {
			return cp, nil
		}
		// Too slow to be sure a collection pass saw the version as
		// recent: give the pin up and try again.
		if err := Unpin(ctx, store, name); err != nil {
			return Checkpoint{}, err
		}
		if attempt >= 2 {
			return Checkpoint{}, fmt.Errorf("engine: pin: reading the manifest and writing the pin took longer than half of the GC minimum age (%v) three times", gcMinAge)
		}
	}
}

// RenewPin extends a pin held under old by pinning the same version under
// name, then removing old. It must run before old expires.
func RenewPin(ctx context.Context, store objstore.Store, old, name string, ttl time.Duration) (Checkpoint, error) {
	cp, err := loadCheckpoint(ctx, store, old)
	if err != nil {
		return Checkpoint{}, err
	}
	if !cp.ExpiresAt.IsZero() && !time.Now().Before(cp.ExpiresAt) {
		return Checkpoint{}, fmt.Errorf("engine: renew pin: %s expired at %v; its version may already be collected", old, cp.ExpiresAt)
	}
	renewed, err := writePin(ctx, store, name, cp.ManifestVersion, ttl)
	if err != nil {
		return Checkpoint{}, err
	}
	return renewed, Unpin(ctx, store, old)
}

// Unpin removes a checkpoint from outside the writer; what it pinned
// becomes collectable. Removing a missing checkpoint is not an error.
func Unpin(ctx context.Context, store objstore.Store, name string) error {
	if err := store.Delete(ctx, checkpointKey(name)); err != nil {
		return fmt.Errorf("engine: unpin %s: %w", name, err)
	}
	return nil
}

func writePin(ctx context.Context, store objstore.Store, name string, version uint64, ttl time.Duration) (Checkpoint, error) {
	now := time.Now().UTC()
	cp := Checkpoint{Name: name, ManifestVersion: version, CreatedAt: now, ExpiresAt: now.Add(ttl)}
	data, err := json.Marshal(cp)
	if err != nil {
		return Checkpoint{}, err
	}
	if _, err := store.PutIfAbsent(ctx, checkpointKey(name), data); err != nil {
		if errors.Is(err, objstore.ErrPreconditionFailed) {
			return Checkpoint{}, fmt.Errorf("%w: %s", ErrCheckpointExists, name)
		}
		return Checkpoint{}, fmt.Errorf("engine: pin %s: %w", name, err)
	}
	return cp, nil
}

// LoadCheckpoint reads one checkpoint of the database in store.
func LoadCheckpoint(ctx context.Context, store objstore.Store, name string) (Checkpoint, error) {
	return loadCheckpoint(ctx, store, name)
}

// ListCheckpointsIn lists the checkpoints of the database in store,
// without opening it.
func ListCheckpointsIn(ctx context.Context, store objstore.Store) ([]Checkpoint, error) {
	return listCheckpoints(ctx, store)
}
