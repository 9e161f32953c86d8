package engine

import (
	"log/slog"
	"time"

	"github.com/s2lite/s2lite/compaction"
	"github.com/s2lite/s2lite/objstore"
	"github.com/s2lite/s2lite/sst"
)

// Options configure a DB. Only Store is required.
type Options struct {
	// Store is where every durable byte goes.
	Store objstore.Store
	// Logger receives background events; nil discards them.
	Logger *slog.Logger
	// Now is the clock used for expiry (TTL). Tests inject their own.
	Now func() time.Time

	// MemtableSize is the size at which the active memtable is frozen and
	// flushed to an SST.
	MemtableSize int64
	// MaxMemtableWALObjects also freezes the memtable once it covers this
	// many WAL objects, which bounds the number of objects replayed at Open
	// even under a trickle of tiny writes.
	MaxMemtableWALObjects int
	// MaxUnflushedBytes bounds the memtables not yet flushed; writers wait
	// (they do not fail) while it is exceeded.
	MaxUnflushedBytes int64

	// WALMaxObjectBytes bounds one WAL object (a single larger batch still
	// goes alone in one object).
	WALMaxObjectBytes int
	// WALMaxInFlight is how many WAL PUTs may be outstanding at once.
	// Acknowledgements still happen strictly in log order.
	WALMaxInFlight int
	// WALParallelBytes gates every WAL PUT beyond the first in flight: the
	// k-th concurrent PUT starts only once at least (k-1) times this many
	// bytes are waiting; otherwise the waiting writes go together when a
	// PUT completes. Small writes at a high rate then make fewer, larger
	// objects instead of many tiny concurrent PUTs, which on a store whose
	// latency grows with concurrency (MinIO on few cores) made every PUT,
	// and so every ack, slower; bulk writes still get WALMaxInFlight PUTs
	// for bandwidth. Default 256 KiB; negative disables the gate.
	WALParallelBytes int
	// WALMinInterval is the minimum time between the starts of two WAL PUTs.
	// Zero means a PUT starts as soon as there is data and a free slot, so
	// at low load an acknowledgement costs about one PUT; a positive value
	// caps the request rate (and cost) on S3 by batching more per object.
	WALMinInterval time.Duration

	// Compaction tunes the tiered compaction policy; see package compaction.
	// When the keyspace is many append-only ranges written at once, such as
	// the stream layer's record keys ('r/' and an 8-byte stream id), set
	// Compaction.Partition to name a key's range (compaction.FixedPrefix(10)
	// for record keys): compaction then cuts tables per range and passes
	// older tables through unread instead of rewriting them on every merge.
	Compaction compaction.Options
	// FlushPartitionMinBytes: when Compaction.Partition is set, a flush
	// writes each partition holding at least this many bytes of the
	// memtable as a table of its own (smaller ones share tables), so that
	// compaction can file a stream's flushed tables into a run without
	// rewriting them. Default 1 MiB; negative writes one table per flush.
	FlushPartitionMinBytes int64
	// L0StopWrites makes writers wait (not fail) while L0 is this deep
	// (compaction.L0Depth), or holds 16 times this many tables, so that
	// compaction can catch up and reads stay bounded.
	L0StopWrites int
	// CompactionInterval is how often the compactor looks for work even
	// when no flush woke it, so that tables whose entries all expired are
	// dropped as time passes.
	CompactionInterval time.Duration
	// DisableAutoCompaction stops the background compactor; Compact still
	// works. For tests and tools.
	DisableAutoCompaction bool

	// GCInterval is how often garbage collection runs in the background;
	// zero means the default and a negative value disables it (CollectGarbage
	// still works).
	GCInterval time.Duration
	// GCMinAge is how old an unreferenced object must be before garbage
	// collection deletes it. It must exceed the longest time a reader may
	// keep using a replaced version and the object store's request timeout.
	GCMinAge time.Duration

	// CheckpointInterval, when positive, makes the writer create a
	// checkpoint named "auto-<UTC time>" this often, each kept for
	// CheckpointRetention: with the WAL the pinned versions retain, they
	// are the restore points of a point-in-time restore anywhere in the
	// retention window. Zero disables them.
	CheckpointInterval time.Duration
	// CheckpointRetention is how long a scheduled checkpoint is kept
	// (default 24 h): the point-in-time restore window.
	CheckpointRetention time.Duration

	// FenceCheckInterval is how often the writer looks for a manifest
	// version newer than its own (one small ranged GET), so that a server
	// fenced while it is only serving reads learns it and stops answering
	// from stale memory. Zero means the default (1 s); negative disables.
	FenceCheckInterval time.Duration

	// BlockCacheBytes bounds the shared SST block cache.
	BlockCacheBytes int64
	// Table configures SSTs written by flushes.
	Table sst.WriterOptions
}

func (o Options) withDefaults() Options {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.MemtableSize <= 0 {
		o.MemtableSize = 32 << 20
	}
	if o.MaxMemtableWALObjects <= 0 {
		o.MaxMemtableWALObjects = 4096
	}
	if o.MaxUnflushedBytes <= 0 {
		o.MaxUnflushedBytes = 4 * o.MemtableSize
	}
	if o.WALMaxObjectBytes <= 0 {
		o.WALMaxObjectBytes = 8 << 20
	}
	if o.WALMaxInFlight <= 0 {
		o.WALMaxInFlight = 4
	}
	if o.WALParallelBytes == 0 {
		o.WALParallelBytes = 256 << 10
	}
	if o.FlushPartitionMinBytes == 0 {
		o.FlushPartitionMinBytes = 1 << 20
	}
	if o.L0StopWrites <= 0 {
		o.L0StopWrites = 24
	}
	if o.CompactionInterval <= 0 {
		o.CompactionInterval = 30 * time.Second
	}
	if o.GCInterval == 0 {
		o.GCInterval = time.Minute
	}
	if o.GCMinAge <= 0 {
		o.GCMinAge = 10 * time.Minute
	}
	if o.CheckpointRetention <= 0 {
		o.CheckpointRetention = 24 * time.Hour
	}
	if o.FenceCheckInterval == 0 {
		o.FenceCheckInterval = time.Second
	}
	o.Compaction.Table = o.Table
	if o.BlockCacheBytes <= 0 {
		o.BlockCacheBytes = 64 << 20
	}
	return o
}
