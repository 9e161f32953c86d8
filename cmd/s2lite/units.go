package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/s2lite/s2lite/authstore"
	"github.com/s2lite/s2lite/compaction"
	"github.com/s2lite/s2lite/engine"
	"github.com/s2lite/s2lite/gateway"
	"github.com/s2lite/s2lite/internal/membudget"
	"github.com/s2lite/s2lite/objstore"
	"github.com/s2lite/s2lite/partition"
	"github.com/s2lite/s2lite/server"
	"github.com/s2lite/s2lite/stream"
	"github.com/s2lite/s2lite/usage"
)

// unitStack is one unit's database served: the engine under the unit's
// prefix, its usage metrics, the stream service, the root's token store and
// an API server (mounted on a listener in single-node mode, behind the
// gateway otherwise).
type unitStack struct {
	id     int
	log    *slog.Logger
	db     *engine.DB
	usage  *usage.Recorder
	svc    *stream.Service
	tokens *authstore.Store
	srv    *server.Server
	// claimed is when cluster mode published the unit's owner key.
	claimed time.Time
	// generatedRoot is a root token generated at this open, to print once.
	generatedRoot string
}

// unitEnv is what every unit of a node shares.
type unitEnv struct {
	cfg   serveConfig
	log   *slog.Logger
	store objstore.Store // the bucket path's root
	meter *usage.StorageMeter
	// share divides the engine's memory shares (memtables, cache) among
	// the units a node may serve at once: 1 for a single database.
	share int64
	// fenceCheck overrides the engine's fence probe interval (0: default).
	fenceCheck time.Duration
	// maxMemtableWALObjects, when positive, freezes a memtable once it
	// covers this many WAL objects: it bounds the WAL a new owner replays
	// when it takes a unit over from a node that died.
	maxMemtableWALObjects int
	budget, readBudg      *membudget.Budget
	// auth is the authority of the API servers: nil for the root's own
	// token store (single database), or the gateway's.
	auth server.Authority
	// ready, when set, is an extra readiness condition (cluster: the lease).
	ready func() error
}

// engineOptions are the engine options of a unit's database on store.
func (e *unitEnv) engineOptions(store objstore.Store, log *slog.Logger) engine.Options {
	cfg := e.cfg
	share := max(e.share, 1)
	memtable := max(cfg.memtableSize/share, 4<<20)
	return engine.Options{
		Store:      store,
		Logger:     log,
		Compaction: compaction.Options{Partition: stream.CompactionPartition, TargetTableSize: cfg.sstTargetSize},

		WALMinInterval:    cfg.walMinInterval,
		WALMaxObjectBytes: int(cfg.walMaxObjectSize),
		MemtableSize:      memtable,
		MaxUnflushedBytes: max(cfg.maxUnflushed/share, 2*memtable),
		BlockCacheBytes:   max(cfg.blockCacheSize/share, 4<<20),

		GCMinAge:            cfg.gcMinAge,
		CheckpointInterval:  cfg.checkpointInterval,
		CheckpointRetention: cfg.checkpointRetention,
		FenceCheckInterval:  e.fenceCheck,

		MaxMemtableWALObjects: e.maxMemtableWALObjects,
	}
}

// openUnit opens unit id: its engine (taking a new writer epoch, which
// fences any earlier writer), usage metrics, stream service, tokens for the
// root, and an API server.
func (e *unitEnv) openUnit(ctx context.Context, id int) (_ *unitStack, err error) {
	log := e.log
	if e.share > 1 {
		log = log.With("partition", partition.Name(id))
	}
	store := objstore.WithPrefix(e.store, partition.Prefix(id))
	db, err := engine.Open(ctx, e.engineOptions(store, log.With("component", "engine")))
	if err != nil {
		return nil, fmt.Errorf("opening the storage engine of %s: %w", partition.Name(id), err)
	}
	u := &unitStack{id: id, db: db, log: log}
	defer func() {
		if err != nil {
			_ = u.closeBackend()
		}
	}()
	var counts func() usage.StorageCounts
	if id == partition.Root && e.meter != nil {
		// The object-store requests are attributed once, by the root's
		// recorder.
		counts = e.meter.Counts
	}
	u.usage, err = usage.Open(ctx, usage.EngineStore{DB: db}, usage.Options{
		Logger:          log.With("component", "usage"),
		FlushInterval:   e.cfg.usageFlushInterval,
		MinuteRetention: e.cfg.usageMinuteRetention,
		HourRetention:   e.cfg.usageHourRetention,
		StorageCounts:   counts,
	})
	if err != nil {
		return nil, fmt.Errorf("loading usage metrics of %s: %w", partition.Name(id), err)
	}
	u.svc, err = stream.New(ctx, db, stream.Options{
		Logger:              log.With("component", "stream"),
		AppendInflightBytes: e.cfg.appendInflightBytes,
		Usage:               u.usage,
	})
	if err != nil {
		return nil, fmt.Errorf("starting the stream service of %s: %w", partition.Name(id), err)
	}
	if id == partition.Root && !e.cfg.noAuth {
		u.tokens, u.generatedRoot, err = authstore.Open(ctx, db, authstore.Options{RootToken: e.cfg.rootToken})
		if err != nil {
			return nil, fmt.Errorf("loading access tokens: %w", err)
		}
	}
	authz := e.auth
	if authz == nil {
		authz = authority(u.tokens)
	}
	if e.cfg.noAuth {
		authz = nil
	}
	u.srv = server.New(u.svc, server.Options{
		Logger:        log.With("component", "server"),
		DisableCORS:   e.cfg.noCORS,
		CORSOrigins:   e.cfg.corsOrigins,
		EnableImport:  e.cfg.enableImport,
		EngineMetrics: db.Metrics,
		Usage:         u.usage,
		BasinStorage:  basinStorage(e.cfg.metricsPerBasin && id == partition.Root, u.usage),
		// Only permanent conditions make /health fail: a WAL failure heals
		// on the next write, which a failing health check would keep away.
		// It is checked on every request, so it reads only atomics.
		Ready: func() error {
			if db.Fenced() {
				return engine.ErrFenced
			}
			if err := db.Lost(); err != nil {
				return err
			}
			if e.ready != nil {
				return e.ready()
			}
			return nil
		},
		Durable: func() error {
			if err := db.StorageErr(); err != nil {
				return err
			}
			if e.budget.RefusedWithin(memoryRefusalWindow) {
				return membudget.ErrExhausted
			}
			return nil
		},
		Auth:                 authz,
		SeparateMetrics:      e.cfg.metricsAddr != "",
		Memory:               e.budget,
		ReadMemory:           e.readBudg,
		MaxReadSessions:      e.cfg.maxReadSessions,
		MaxConcurrentStreams: e.cfg.maxConcurrentStreams,
	})
	return u, nil
}

// gatewayUnit is the unit as the gateway sees it.
func (u *unitStack) gatewayUnit() *gateway.Unit {
	return &gateway.Unit{API: u.srv.Handler(), Has: u.hasBasin, Tokens: u.tokens}
}

// hasBasin reports whether the unit holds basin, in any state.
func (u *unitStack) hasBasin(ctx context.Context, basin string) (bool, error) {
	_, err := u.svc.GetBasinConfig(ctx, basin)
	var se *stream.Error
	switch {
	case err == nil:
		return true, nil
	case errors.As(err, &se) && se.Code == stream.CodeBasinNotFound:
		return false, nil
	case errors.As(err, &se) && se.Status < 500:
		return true, nil // e.g. being deleted: the name is taken here
	}
	return false, err
}

// closeBackend closes the stream service (its last acks are counted), the
// final usage flush, then the engine.
func (u *unitStack) closeBackend() error {
	var svcErr, usageErr error
	if u.svc != nil {
		svcErr = u.svc.Close()
	}
	if u.usage != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		usageErr = u.usage.Close(ctx)
	}
	return errors.Join(svcErr, usageErr, u.db.Close())
}

// close drains the unit's API server within grace, then closes the rest
// within storageCloseTimeout: everything acknowledged is durable already.
// With handoff, the memtable is flushed to a table first (bounded by
// handoffFlushTimeout), so that the unit's next owner replays no WAL and
// opens it at once; a flush that fails or times out only makes that open
// slower.
func (u *unitStack) close(grace time.Duration, handoff bool) error {
	ctx, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	err := u.srv.Shutdown(ctx)
	if handoff {
		fctx, fcancel := context.WithTimeout(context.Background(), handoffFlushTimeout)
		if ferr := u.db.Flush(fctx); ferr != nil && !errors.Is(ferr, engine.ErrFenced) {
			u.log.Warn("flushing before the handoff failed; the next owner replays the WAL", "err", ferr)
		}
		fcancel()
	}
	return errors.Join(err, closeWithin(u.closeBackend, storageCloseTimeout))
}

// handoffFlushTimeout bounds the flush before a unit is handed over.
const handoffFlushTimeout = 10 * time.Second
