package compaction

import "github.com/s2lite/s2lite/sst"

// Options tune the policy and the output tables. Zero values select the
// defaults.
type Options struct {
	// L0Trigger compacts L0 once its depth (L0Depth: the most L0 tables
	// any one key falls in) reaches this. Default 4.
	L0Trigger int
	// L0MaxTables compacts L0 once it holds this many tables, however
	// shallow: flushes cut per partition add many key-disjoint tables, and
	// every read still scans L0's list. Default 16 * L0Trigger.
	L0MaxTables int
	// SizeRatio extends a window to the next older run while that run's
	// size is at most SizeRatio times the bytes of the window so far.
	// Default 2.
	SizeRatio float64
	// MaxRuns is how many sorted runs may exist before the smallest
	// adjacent pair is merged. Default 6.
	MaxRuns int
	// TargetTableSize is the size at which output tables are split.
	// Default 32 MiB.
	TargetTableSize int64
	// Partition, when set, names the partition of a user key; Run never
	// puts point entries of two partitions in one output table. It only
	// decides where tables are cut, never what they hold, so any function
	// is correct; it is useful when the keys of one partition are
	// contiguous in key order, as with FixedPrefix. The result may alias
	// userKey and is only compared with bytes.Equal.
	//
	// Partitions matter when the keyspace is many append-only ranges, such
	// as the stream layer's records: each flush spans every stream, but
	// once the output is cut per stream, a later merge finds the older
	// tables disjoint from the newer data and passes them through unread
	// (see the package documentation). nil means no partitioning.
	Partition func(userKey []byte) []byte
	// Table configures the output tables.
	Table sst.WriterOptions

	// noPassthrough makes Run rewrite every input table, so that tests can
	// measure what passing tables through saves.
	noPassthrough bool
}

// FixedPrefix returns a Partition function whose partitions are the first
// n bytes of the key (the whole key when shorter). For the stream layer's
// record keys, 'r/' and an 8-byte stream id, n = 10 makes each stream a
// partition. Keys of at most n bytes are each a partition of their own, so
// each lands in a table of its own; a keyspace with many such keys wants a
// function that partitions only the append-only ranges.
func FixedPrefix(n int) func(userKey []byte) []byte {
	return func(k []byte) []byte {
		m := min(n, len(k))
		return k[:m:m]
	}
}

func (o Options) withDefaults() Options {
	if o.L0Trigger <= 0 {
		o.L0Trigger = 4
	}
	if o.L0MaxTables <= 0 {
		o.L0MaxTables = 16 * o.L0Trigger
	}
	if o.SizeRatio <= 0 {
		o.SizeRatio = 2
	}
	if o.MaxRuns <= 0 {
		o.MaxRuns = 6
	}
	if o.TargetTableSize <= 0 {
		o.TargetTableSize = 32 << 20
	}
	return o
}
