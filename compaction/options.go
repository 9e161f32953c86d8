package compaction

import "github.com/s2lite/s2lite/sst"

// Options tune the policy and the output tables. Zero values select the
// defaults.
type Options struct {
	// L0Trigger compacts L0 once it holds at least this many tables.
	// Default 4.
	L0Trigger int
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
	// Table configures the output tables.
	Table sst.WriterOptions
}

func (o Options) withDefaults() Options {
	if o.L0Trigger <= 0 {
		o.L0Trigger = 4
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
