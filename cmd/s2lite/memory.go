package main

import (
	"context"
	"fmt"
	"log/slog"
	"runtime/debug"
	"time"

	"github.com/s2lite/s2lite/internal/membudget"
)

// memoryPlan splits --memory-limit (DESIGN.md, "Memory budget"): the
// engine's fixed shares come first, a quarter is left to the Go runtime
// (GC headroom under the soft limit, goroutine stacks, connection buffers),
// and the rest is what requests draw from: three fifths for request
// bodies, decoded inputs and S2S frames (appends, above all), two fifths
// for read-session buffers, so that readers, however many or slow, cannot
// take the memory appends need.
type memoryPlan struct {
	limit     int64
	memtables int64 // active and immutable memtables, at most
	cache     int64 // table block cache
	inflight  int64 // appends accepted but not yet durable, as WAL objects
	runtime   int64
	requests  int64
	readers   int64
}

// minRequestBudget is the least the requests may be left with: one
// largest body and a few sessions.
const minRequestBudget = 64 << 20

func planMemory(cfg serveConfig) (memoryPlan, error) {
	p := memoryPlan{
		limit:     cfg.memoryLimit,
		memtables: cfg.maxUnflushed + cfg.memtableSize,
		cache:     cfg.blockCacheSize,
		inflight:  cfg.appendInflightBytes,
		runtime:   cfg.memoryLimit / 4,
	}
	p.requests = p.limit - p.memtables - p.cache - p.inflight - p.runtime
	if p.requests < minRequestBudget {
		return p, p.tooSmall()
	}
	p.readers = p.requests * 2 / 5
	p.requests -= p.readers
	return p, nil
}

func (p memoryPlan) tooSmall() error {
	return fmt.Errorf("--memory-limit %s leaves %s for requests after memtables (%s), block cache (%s), in-flight appends (%s) and runtime headroom (%s); it needs at least %s: raise --memory-limit or lower the others",
		formatSize(p.limit), formatSize(max(p.requests, 0)), formatSize(p.memtables), formatSize(p.cache),
		formatSize(p.inflight), formatSize(p.runtime), formatSize(minRequestBudget))
}

func (p memoryPlan) logAttrs() []any {
	return []any{"memory_limit", formatSize(p.limit), "requests", formatSize(p.requests), "read_sessions", formatSize(p.readers), "memtables", formatSize(p.memtables),
		"block_cache", formatSize(p.cache), "append_inflight", formatSize(p.inflight), "runtime_headroom", formatSize(p.runtime)}
}

// returnMemoryAfterBursts gives freed memory back to the operating system
// once a burst is over: when a budget was more than half used during the
// last period and together they are now below an eighth. The Go runtime does return
// memory by itself, but slowly; after an attack or a catch-up storm the
// process would otherwise keep its peak resident size for minutes.
func returnMemoryAfterBursts(ctx context.Context, every time.Duration, log *slog.Logger, budgets ...*membudget.Budget) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			var burst bool
			var peak, used, limit int64
			for _, b := range budgets {
				p := b.TakePeak()
				burst = burst || p > b.Limit()/2
				peak += p
				used += b.Used()
				limit += b.Limit()
			}
			if burst && used < limit/8 {
				debug.FreeOSMemory()
				log.Debug("returned memory to the OS after a burst", "peak", formatSize(peak))
			}
		}
	}
}
