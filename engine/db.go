// Package engine is an LSM tree whose only durable medium is an object
// store. Writes go to a write-ahead log made of objects and are acknowledged
// only once durable; a B-tree memtable serves them until a background flush
// turns it into an SST; a manifest written with put-if-absent records the
// tree and fences older writers. See DESIGN.md for the full argument.
package engine

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pingcap/failpoint"

	"github.com/s2lite/s2lite/internal/crashtest/fault"
	"github.com/s2lite/s2lite/manifest"
	"github.com/s2lite/s2lite/objstore"
	"github.com/s2lite/s2lite/sst"
)

var (
	// ErrNotFound is returned by Get for a missing, deleted or expired key.
	ErrNotFound = errors.New("engine: key not found")
	// ErrFenced means a newer writer opened the database: this one
	// acknowledges nothing from then on.
	ErrFenced = errors.New("engine: fenced by a newer writer")
	// ErrClosed is returned after Close.
	ErrClosed = errors.New("engine: closed")
)

// DB is an open database. All methods are safe for concurrent use.
type DB struct {
	opts      Options
	objs      objstore.Store
	manifests *manifest.Store
	log       *slog.Logger
	cache     *sst.Cache

	bgCtx    context.Context
	bgCancel context.CancelFunc
	bgWG     sync.WaitGroup // flusher and WAL PUT goroutines

	// Commit pipeline, guarded by cmu. Groups are cut from pending in FIFO
	// order, get consecutive WAL ids and sequence numbers, and are applied
	// and acknowledged strictly in id order whatever order their PUTs
	// finish in.
	cmu          sync.Mutex
	drained      *sync.Cond // signalled when a group completes
	pending      []*PendingWrite
	pendingBytes int
	inflight     []*walGroup
	nextWALID    uint64 // id for the next group
	nextSeq      uint64 // first sequence number of the next group (applied or in flight)
	nextApplyID  uint64 // first WAL id not applied to the memtable
	floor        uint64 // WAL epoch floor at nextApplyID
	lastPutStart time.Time
	timer        *time.Timer
	walErr       error // set by a failed WAL write until the log is healed
	closing      bool

	// Read state, guarded by mu.
	mu         sync.Mutex
	mem        *memtable
	imm        []*memtable // frozen, oldest first
	current    *version
	progress   chan struct{} // closed and replaced after every flush and compaction
	flushKick  chan struct{}
	visibleSeq atomic.Uint64

	// Manifest state, guarded by manMu. Every manifest write (epoch bumps
	// and flushes) is serialized here.
	manMu       sync.Mutex
	man         *manifest.Manifest
	epoch       uint64
	nextFileNum uint64
	tables      *tableSet

	compactMu   sync.Mutex // one compaction at a time
	compactKick chan struct{}

	uploadsMu sync.Mutex
	uploads   map[string]bool // tables uploaded but not yet installed

	gcMu        sync.Mutex // one garbage collection at a time
	gcManifests map[uint64]*manifest.Manifest
	// gcCheckpoints remembers checkpoint objects by name (gcMu).
	gcCheckpoints map[string]Checkpoint
	gcWALScanned  uint64 // WAL ids up to here hold only fences

	writerID string // random identity written into our manifests
	readOnly bool   // opened at a checkpoint
	fenced   atomic.Bool
	lost     *lostTables // reads of tables go through it
	probe    atomic.Pointer[storeProbe]
	closed   atomic.Bool
	m        metrics
}

// Open opens (or creates) the database in opts.Store. It fences every
// earlier writer: after Open returns, no older DB instance can acknowledge
// a write.
func Open(ctx context.Context, opts Options) (*DB, error) {
	if opts.Store == nil {
		return nil, errors.New("engine: Options.Store is required")
	}
	opts = opts.withDefaults()
	db := newDB(opts)
	cancel := db.bgCancel

	m, err := db.manifests.Latest(ctx)
	if err != nil {
		cancel()
		return nil, fmt.Errorf("engine: open: %w", err)
	}
	if m == nil {
		// A prefix with tables or WAL but no manifest is a partial copy or
		// a damaged database: starting afresh would hide everything in it.
		objs, err := hasDatabaseObjects(ctx, opts.Store)
		if err != nil {
			cancel()
			return nil, fmt.Errorf("engine: open: %w", err)
		}
		if objs != "" {
			cancel()
			return nil, fmt.Errorf("engine: open: %w: it holds %s", ErrNoManifest, objs)
		}
		opts.Logger.Warn("NEW DATABASE: the store holds no database; creating an empty one")
		m = &manifest.Manifest{NextFileNum: 1, WALReplayFrom: 1}
	} else if err := checkPresent(ctx, opts.Store, m); err != nil {
		cancel()
		return nil, fmt.Errorf("engine: open: %w", err)
	}
	db.man = m
	db.epoch = m.WriterEpoch
	db.nextFileNum = m.NextFileNum
	db.current = db.tables.version(m)
	db.nextApplyID = m.WALReplayFrom
	db.floor = m.WALEpochFloor
	db.nextSeq = m.LastSeq + 1
	db.visibleSeq.Store(m.LastSeq)

	db.cmu.Lock()
	err = db.recoverLocked(ctx, true)
	db.cmu.Unlock()
	if err != nil {
		cancel()
		return nil, fmt.Errorf("engine: open: %w", err)
	}
	db.log.Info("engine opened", "epoch", db.epoch, "manifest", db.man.Version,
		"wal_next", db.nextWALID, "last_seq", db.visibleSeq.Load())
	db.bgWG.Add(1)
	go db.flushLoop()
	if !opts.DisableAutoCompaction {
		db.bgWG.Add(1)
		go db.compactLoop()
		// A crash can leave L0 full; writers would stall until the next
		// flush or timer woke the compactor.
		db.kickCompaction()
	}
	if opts.GCInterval > 0 {
		db.bgWG.Add(1)
		go db.gcLoop()
	}
	if opts.FenceCheckInterval > 0 {
		db.bgWG.Add(1)
		go db.fenceWatchLoop()
	}
	if opts.CheckpointInterval > 0 {
		db.bgWG.Add(1)
		go db.autoCheckpointLoop()
	}
	return db, nil
}

func newDB(opts Options) *DB {
	bgCtx, cancel := context.WithCancel(context.Background())
	db := &DB{
		opts:          opts,
		objs:          opts.Store,
		manifests:     manifest.NewStore(opts.Store, opts.Logger),
		log:           opts.Logger,
		cache:         sst.NewCache(opts.BlockCacheBytes),
		bgCtx:         bgCtx,
		bgCancel:      cancel,
		mem:           newMemtable(),
		progress:      make(chan struct{}),
		flushKick:     make(chan struct{}, 1),
		compactKick:   make(chan struct{}, 1),
		gcManifests:   map[uint64]*manifest.Manifest{},
		gcCheckpoints: map[string]Checkpoint{},
		uploads:       map[string]bool{},
		writerID:      newWriterID(),
	}
	db.drained = sync.NewCond(&db.cmu)
	db.lost = &lostTables{Store: db.objs, live: db.referenced}
	db.tables = newTableSet(db.lost, db.cache)
	return db
}

// writable reports whether the DB may change the store.
func (db *DB) writable() error {
	switch {
	case db.readOnly:
		return ErrReadOnly
	case db.closed.Load():
		return ErrClosed
	case db.fenced.Load():
		return ErrFenced
	}
	return nil
}

// recoverLocked bumps the writer epoch and replays the log from the first
// unapplied object, fencing the first gap. Open runs it once; a writer whose
// WAL write failed runs it again before taking new writes, so that it and
// the log agree on exactly which groups became durable. cmu must be held and
// no WAL PUT may be in flight.
func (db *DB) recoverLocked(ctx context.Context, opening bool) error {
	if err := db.bumpEpoch(ctx, opening); err != nil {
		return err
	}
	// Failpoint: the epoch is bumped (older writers are fenced at the
	// manifest) but the log is not replayed yet.
	var fpErr error
	failpoint.Inject("recoverAfterEpochBump", func(val failpoint.Value) { fpErr = fault.Do(ctx, val) })
	if fpErr != nil {
		return fpErr
	}
	if err := db.replayLocked(ctx); err != nil {
		return err
	}
	db.walErr = nil
	return nil
}

// bumpEpoch installs a manifest with a higher writer epoch. Once we own the
// database, a conflicting write means a newer writer bumped past us: we are
// fenced. While opening, a conflict only means another writer (perhaps the
// one we are replacing) wrote first; we start again from its manifest.
func (db *DB) bumpEpoch(ctx context.Context, opening bool) error {
	db.manMu.Lock()
	defer db.manMu.Unlock()
	for attempt := 0; ; attempt++ {
		next := db.man.Clone()
		next.Version++
		next.WriterEpoch = db.man.WriterEpoch + 1
		next.NextFileNum = db.nextFileNum
		next.Writer = db.writerID
		err := db.manifests.Write(ctx, next)
		if err == nil {
			db.man, db.epoch = next, next.WriterEpoch
			return nil
		}
		if !errors.Is(err, manifest.ErrConflict) {
			return err
		}
		if landed, own, lerr := db.loadOwn(ctx, next.Version); lerr != nil {
			return lerr
		} else if own {
			// An earlier attempt of this bump landed; its reply was lost.
			db.man, db.epoch = landed, landed.WriterEpoch
			db.nextFileNum = max(db.nextFileNum, landed.NextFileNum)
			return nil
		}
		if !opening {
			db.fenced.Store(true)
			return fmt.Errorf("%w: manifest version %d was written by another writer", ErrFenced, next.Version)
		}
		// Still opening: another opener raced us. Start from its manifest
		// and bump past it, which fences it in turn.
		if attempt >= 10 {
			return fmt.Errorf("engine: open: lost the manifest race %d times: %w", attempt+1, err)
		}
		latest, lerr := db.manifests.Latest(ctx)
		if lerr != nil {
			return lerr
		}
		db.man = latest
		db.nextFileNum = latest.NextFileNum
		db.nextApplyID = latest.WALReplayFrom
		db.floor = latest.WALEpochFloor
		db.nextSeq = latest.LastSeq + 1
		db.visibleSeq.Store(latest.LastSeq)
		db.mu.Lock()
		db.current = db.tables.version(latest)
		db.mu.Unlock()
	}
}

// replayLocked reads WAL objects from nextApplyID in order and applies the
// valid ones until the first missing id, which it fences with an empty
// object of the current epoch.
//
// An object is applied if its epoch is at least the floor (the highest
// epoch applied so far) and its first sequence number continues the log.
// Lower-epoch objects were written by a fenced writer past a fence; objects
// that start past the expected sequence number follow a group that failed.
// Neither was ever acknowledged. An object that starts before the expected
// sequence number can only come from corruption.
func (db *DB) replayLocked(ctx context.Context) error {
	fetch := newPrefetcher(ctx, db.objs, db.nextApplyID, 8)
	defer fetch.stop()
	fenced := false // our fence is written; only leftovers may follow
	for {
		id := db.nextApplyID
		data, err := fetch.get(id)
		// Failpoint: one replay step, for every object and for the end of
		// the log.
		failpoint.Inject("replayObject", func(val failpoint.Value) {
			if ferr := fault.Do(ctx, val); ferr != nil {
				err = ferr
			}
		})
		if errors.Is(err, objstore.ErrNotFound) {
			// Failpoint: the log is replayed up to here; its end is not
			// fenced yet.
			failpoint.Inject("replayBeforeFence", func(val failpoint.Value) {
				if ferr := fault.Do(ctx, val); ferr != nil {
					failpoint.Return(fmt.Errorf("fence WAL %d: %w", id, ferr))
				}
			})
			if fenced {
				// The first free id past our fence: new groups go here.
				db.nextWALID = id
				db.nextSeq = db.visibleSeq.Load() + 1
				return nil
			}
			fence := encodeWAL(&walObject{epoch: db.epoch, id: id, firstSeq: db.visibleSeq.Load() + 1}, nil)
			err := db.putWAL(ctx, id, db.epoch, fence)
			if err == nil {
				db.floor = db.epoch
				db.nextApplyID = id + 1
				db.noteApplied()
				// Go on past the fence: a fenced writer's in-flight groups
				// or a failed pipeline's orphans may occupy the next ids.
				// They are below the floor now and skipped, and our first
				// group must not collide with them.
				fenced = true
				continue
			}
			if errors.Is(err, errWALSlotTaken) {
				// Someone filled the gap first: read what they wrote.
				fetch.reset(id)
				continue
			}
			return fmt.Errorf("fence WAL %d: %w", id, err)
		}
		if err != nil {
			return fmt.Errorf("replay WAL %d: %w", id, err)
		}
		w, err := decodeWAL(data)
		if err != nil {
			return fmt.Errorf("replay WAL %d: %w", id, err)
		}
		switch {
		case w.id != id:
			return fmt.Errorf("replay WAL %d: %w: object claims id %d", id, ErrCorruptWAL, w.id)
		case w.epoch > db.epoch:
			db.fenced.Store(true)
			return fmt.Errorf("%w: WAL %d was written by epoch %d (ours is %d)", ErrFenced, id, w.epoch, db.epoch)
		case w.epoch < db.floor:
			db.log.Info("skipping WAL object of a fenced writer", "id", id, "epoch", w.epoch, "floor", db.floor)
		case w.firstSeq > db.visibleSeq.Load()+1:
			// An orphan: a group whose predecessor in its writer's pipeline
			// never became durable. It was never acknowledged (acks wait for
			// every earlier group), so it is skipped, and every later replay
			// of this same log prefix skips it too.
			db.log.Info("skipping orphaned WAL object", "id", id, "epoch", w.epoch, "first_seq", w.firstSeq, "expected", db.visibleSeq.Load()+1)
		case w.firstSeq < db.visibleSeq.Load()+1:
			return fmt.Errorf("replay WAL %d: %w: starts at sequence %d, expected %d", id, ErrCorruptWAL, w.firstSeq, db.visibleSeq.Load()+1)
		default:
			db.floor = w.epoch
			db.applyLocked(w.firstSeq, w.ops)
		}
		db.nextApplyID = id + 1
		db.noteApplied()
		db.m.walReplayed.Add(1)
	}
}

// errWALSlotTaken means a WAL id was already occupied by another writer's
// object of an epoch no higher than ours.
var errWALSlotTaken = errors.New("engine: WAL slot taken")

// putWAL writes one WAL object with put-if-absent. Losing the slot is
// resolved by reading it back: our own bytes mean an earlier attempt won
// after its reply was lost; a higher epoch means we are fenced.
func (db *DB) putWAL(ctx context.Context, id, epoch uint64, data []byte) error {
	key := walKey(id)
	_, err := db.objs.PutIfAbsent(ctx, key, data)
	if err == nil {
		db.m.walObjects.Add(1)
		db.m.walBytes.Add(uint64(len(data)))
		return nil
	}
	if !errors.Is(err, objstore.ErrPreconditionFailed) {
		return fmt.Errorf("put %s: %w", key, err)
	}
	existing, _, gerr := db.objs.Get(ctx, key)
	if gerr != nil {
		return fmt.Errorf("put %s lost the slot and reading it failed: %w", key, gerr)
	}
	if string(existing) == string(data) {
		db.m.walObjects.Add(1)
		db.m.walBytes.Add(uint64(len(data)))
		return nil
	}
	if w, derr := decodeWAL(existing); derr == nil && w.epoch > epoch {
		db.fenced.Store(true)
		return fmt.Errorf("%w: WAL %d holds epoch %d (ours is %d)", ErrFenced, id, w.epoch, epoch)
	}
	return fmt.Errorf("put %s: %w", key, errWALSlotTaken)
}

// applyLocked inserts one committed group into the memtable, publishes its
// sequence numbers to readers, and freezes the memtable when it is full.
// cmu must be held.
func (db *DB) applyLocked(firstSeq uint64, ops []op) {
	db.mu.Lock()
	mem := db.mem
	db.mu.Unlock()
	mem.apply(firstSeq, ops)
	db.visibleSeq.Store(firstSeq + uint64(len(ops)) - 1)
}

// noteApplied counts WAL objects into the memtable and freezes it at a
// group boundary when it is full. cmu must be held.
func (db *DB) noteApplied() {
	db.mu.Lock()
	mem := db.mem
	db.mu.Unlock()
	if n := mem.countWALObject(); mem.approximateSize() >= db.opts.MemtableSize || n >= db.opts.MaxMemtableWALObjects {
		db.freezeLocked()
	}
}

// freezeLocked makes the active memtable immutable and queues it for
// flushing. It records the log position the memtable covers, which becomes
// the manifest's replay start once the memtable is in an SST. cmu must be
// held so no group is half applied.
func (db *DB) freezeLocked() {
	db.mu.Lock()
	m := db.mem
	m.mu.Lock()
	m.walNext = db.nextApplyID
	m.lastSeq = db.visibleSeq.Load()
	m.epochFloor = db.floor
	m.mu.Unlock()
	db.imm = append(db.imm, m)
	db.mem = newMemtable()
	db.mu.Unlock()
	select {
	case db.flushKick <- struct{}{}:
	default:
	}
}

// Close waits for every submitted write to finish, stops background work
// and releases resources. It does not flush the memtable: the WAL already
// holds it and the next Open replays it.
func (db *DB) Close() error {
	if db.closed.Swap(true) {
		return ErrClosed
	}
	if db.readOnly {
		db.bgCancel()
		return nil
	}
	db.cmu.Lock()
	db.closing = true
	db.maybeStartPutLocked()
	for len(db.pending) > 0 || len(db.inflight) > 0 {
		db.drained.Wait()
	}
	if db.timer != nil {
		db.timer.Stop()
	}
	db.cmu.Unlock()
	db.bgCancel()
	db.bgWG.Wait()
	return nil
}

// Err reports why the DB cannot acknowledge writes right now: ErrClosed,
// ErrFenced, ErrReadOnly, or the WAL failure it has not healed from yet
// (the next write tries to heal). nil means healthy.
func (db *DB) Err() error {
	if err := db.writable(); err != nil {
		return err
	}
	db.cmu.Lock()
	defer db.cmu.Unlock()
	if db.walErr != nil {
		return fmt.Errorf("engine: WAL write failed and is not healed yet: %w", db.walErr)
	}
	return nil
}

func newWriterID() string {
	var b [12]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// loadOwn reads a manifest version that conflicted with our write and
// reports whether we wrote it ourselves (an attempt whose reply was lost).
func (db *DB) loadOwn(ctx context.Context, version uint64) (*manifest.Manifest, bool, error) {
	landed, err := db.manifests.Load(ctx, version)
	if err != nil {
		return nil, false, fmt.Errorf("engine: read conflicting manifest %d: %w", version, err)
	}
	return landed, landed.Writer == db.writerID, nil
}

// Epoch is the writer epoch this DB took when it opened: a later writer
// takes a higher one, and from then on this one's writes fail at the store.
// Cluster mode publishes it with the owner key of the partition.
func (db *DB) Epoch() uint64 {
	db.cmu.Lock()
	defer db.cmu.Unlock()
	return db.epoch
}

// Fenced reports, without taking any lock, whether a newer writer has
// fenced this one. The fence watch (Options.FenceCheckInterval) notices a
// newer writer even while this one writes nothing.
func (db *DB) Fenced() bool { return db.fenced.Load() }

// storeProbeTimeout bounds the fence watch's probe of the store.
const storeProbeTimeout = 2 * time.Second

// storeProbe is the outcome of the last probe of the store.
type storeProbe struct{ err error }

func (db *DB) noteProbe(err error) {
	if err == nil {
		db.probe.Store(nil)
		return
	}
	if db.bgCtx.Err() == nil {
		db.probe.Store(&storeProbe{err: err})
	}
}

// StorageErr reports whether the store answered the last periodic probe
// (Options.FenceCheckInterval, every second by default): nil when it did,
// the failure otherwise. It reads only an atomic.
func (db *DB) StorageErr() error {
	if p := db.probe.Load(); p != nil {
		return fmt.Errorf("engine: the object store did not answer its last probe: %w", p.err)
	}
	return nil
}

// fenceWatchLoop notices a newer writer even when this one writes nothing:
// a writer only meets a fence on its next WAL or manifest write, and until
// then it would serve reads from memory that may be stale.
func (db *DB) fenceWatchLoop() {
	defer db.bgWG.Done()
	ticker := time.NewTicker(db.opts.FenceCheckInterval)
	defer ticker.Stop()
	for {
		select {
		case <-ticker.C:
		case <-db.bgCtx.Done():
			return
		}
		// Bounded well below the interval's multiple a readiness check
		// looks at: a store that hangs must show as unhealthy in seconds,
		// not after the retrying store's deadline.
		ctx, cancel := context.WithTimeout(db.bgCtx, storeProbeTimeout)
		err := db.checkFenced(ctx)
		cancel()
		if errors.Is(err, ErrFenced) {
			db.log.Warn("fenced by a newer writer", "err", err)
			return
		}
		db.noteProbe(err)
	}
}

// checkFenced probes for the manifest version after ours. If it exists and
// is not our own (an install in progress, or a write whose reply was lost),
// a newer writer has taken over.
func (db *DB) checkFenced(ctx context.Context) error {
	db.manMu.Lock()
	v := db.man.Version
	db.manMu.Unlock()
	if _, err := db.objs.GetRange(ctx, manifest.Key(v+1), 0, 1); err != nil {
		if errors.Is(err, objstore.ErrNotFound) {
			return nil
		}
		return err // a transient failure says nothing; try again later
	}
	db.manMu.Lock()
	defer db.manMu.Unlock()
	if db.man.Version > v {
		return nil // we installed it meanwhile
	}
	landed, own, err := db.loadOwn(ctx, v+1)
	if err != nil || own {
		return err
	}
	db.fenced.Store(true)
	return fmt.Errorf("%w: manifest version %d (epoch %d) is not ours", ErrFenced, landed.Version, landed.WriterEpoch)
}
