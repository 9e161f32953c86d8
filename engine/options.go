package engine

import (
	"log/slog"
	"time"

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
	// WALMinInterval is the minimum time between the starts of two WAL PUTs.
	// Zero means a PUT starts as soon as there is data and a free slot, so
	// at low load an acknowledgement costs about one PUT; a positive value
	// caps the request rate (and cost) on S3 by batching more per object.
	WALMinInterval time.Duration

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
	if o.BlockCacheBytes <= 0 {
		o.BlockCacheBytes = 64 << 20
	}
	return o
}
