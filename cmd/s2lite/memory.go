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
// and the rest is the budget that requests draw from.
type memoryPlan struct {
	limit     int64
	memtables int64 // active and immutable memtables, at most
	cache     int64 // table block cache
	inflight  int64 // appends accepted but not yet durable, as WAL objects
	runtime   int64
	requests  int64
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
		return p, fmt.Errorf("--memory-limit %s leaves %s for requests after memtables (%s), block cache (%s), in-flight appends (%s) and runtime headroom (%s); it needs at least %s: raise --memory-limit or lower the others",
			formatSize(p.limit), formatSize(max(p.requests, 0)), formatSize(p.memtables), formatSize(p.cache),
			formatSize(p.inflight), formatSize(p.runtime), formatSize(minRequestBudget))
	}
	return p, nil
}

func (p memoryPlan) logAttrs() []any {
	return []any{"memory_limit", formatSize(p.limit), "requests", formatSize(p.requests), "memtables", formatSize(p.memtables),
		"block_cache", formatSize(p.cache), "append_inflight", formatSize(p.inflight), "runtime_headroom", formatSize(p.runtime)}
}

// returnMemoryAfterBursts gives freed memory back to the operating system
// once a burst is over: when the budget was more than half used during
// the last period and is now below an eighth. The Go runtime does return
// memory by itself, but slowly; after an attack or a catch-up storm the
// process would otherwise keep its peak resident size for minutes.
func returnMemoryAfterBursts(ctx context.Context, b *membudget.Budget, every time.Duration, log *slog.Logger) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			peak := b.TakePeak()
			if peak > b.Limit()/2 && b.Used() < b.Limit()/8 {
				debug.FreeOSMemory()
				log.Debug("returned memory to the OS after a burst", "peak", formatSize(peak))
			}
		}
	}
}
