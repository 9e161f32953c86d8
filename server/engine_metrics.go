package server

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/s2lite/s2lite/engine"
	"github.com/s2lite/s2lite/usage"
)

// engineCollector exports a snapshot of engine.DB.Metrics at every scrape.
// It is an unchecked collector (Describe sends nothing): the set of series
// is fixed, and describing them twice would only repeat the table below.
type engineCollector struct {
	snapshot func() engine.Metrics
}

type engineMetric struct {
	name, help string
	kind       prometheus.ValueType
	value      func(m *engine.Metrics) float64
}

func engineMetrics() []engineMetric {
	counter, gauge := prometheus.CounterValue, prometheus.GaugeValue
	return []engineMetric{
		{"wal_objects_written_total", "WAL objects written (PUTs), fences included.", counter, func(m *engine.Metrics) float64 { return float64(m.WALObjectsWritten) }},
		{"wal_bytes_written_total", "Bytes written to WAL objects.", counter, func(m *engine.Metrics) float64 { return float64(m.WALBytesWritten) }},
		{"wal_put_seconds_total", "Total time spent in WAL PUTs (flushes of the write-ahead log).", counter, func(m *engine.Metrics) float64 { return m.WALPutTime.Seconds() }},
		{"wal_objects_replayed_total", "WAL objects read back by recovery.", counter, func(m *engine.Metrics) float64 { return float64(m.WALObjectsReplay) }},
		{"wal_groups_committed_total", "WAL objects carrying writes (group commits).", counter, func(m *engine.Metrics) float64 { return float64(m.GroupsCommitted) }},
		{"writes_committed_total", "Write batches acknowledged.", counter, func(m *engine.Metrics) float64 { return float64(m.WritesCommitted) }},
		{"writes_failed_total", "Write batches failed after submission.", counter, func(m *engine.Metrics) float64 { return float64(m.WritesFailed) }},
		{"heals_total", "Recoveries after a failed WAL write.", counter, func(m *engine.Metrics) float64 { return float64(m.Heals) }},
		{"memtable_bytes", "Approximate size of the active memtable.", gauge, func(m *engine.Metrics) float64 { return float64(m.MemtableBytes) }},
		{"immutable_memtables", "Frozen memtables waiting to be flushed.", gauge, func(m *engine.Metrics) float64 { return float64(m.ImmutableMemtables) }},
		{"unflushed_bytes", "Memtable bytes not yet flushed to SSTs.", gauge, func(m *engine.Metrics) float64 { return float64(m.UnflushedBytes) }},
		{"flushes_total", "Memtable flushes to SSTs.", counter, func(m *engine.Metrics) float64 { return float64(m.Flushes) }},
		{"flush_tables_total", "SSTs written by flushes.", counter, func(m *engine.Metrics) float64 { return float64(m.FlushTables) }},
		{"flush_bytes_total", "SST bytes written by flushes.", counter, func(m *engine.Metrics) float64 { return float64(m.FlushBytes) }},
		{"flush_errors_total", "Failed flushes.", counter, func(m *engine.Metrics) float64 { return float64(m.FlushErrors) }},
		{"write_stalls_total", "Writes that waited for flushes to catch up.", counter, func(m *engine.Metrics) float64 { return float64(m.WriteStalls) }},
		{"write_stall_seconds_total", "Total time writes spent stalled.", counter, func(m *engine.Metrics) float64 { return m.WriteStallTime.Seconds() }},
		{"writers_stalled", "Writers stalled right now.", gauge, func(m *engine.Metrics) float64 { return float64(m.WritersStalledNow) }},
		{"l0_tables", "SSTs in level 0.", gauge, func(m *engine.Metrics) float64 { return float64(m.L0Tables) }},
		{"l0_bytes", "Bytes of the SSTs in level 0.", gauge, func(m *engine.Metrics) float64 { return float64(m.L0Bytes) }},
		{"tables", "SSTs in the tree.", gauge, func(m *engine.Metrics) float64 { return float64(m.Tables) }},
		{"table_bytes", "Bytes of all SSTs in the tree.", gauge, func(m *engine.Metrics) float64 { return float64(m.TableBytes) }},
		{"sorted_runs", "Sorted runs below level 0.", gauge, func(m *engine.Metrics) float64 { return float64(len(m.RunTables)) }},
		{"compactions_total", "Compactions that rewrote tables.", counter, func(m *engine.Metrics) float64 { return float64(m.Compaction.Compactions) }},
		{"compaction_moves_total", "Compactions that re-filed tables without rewriting them.", counter, func(m *engine.Metrics) float64 { return float64(m.Compaction.Moves) }},
		{"compaction_drops_total", "Fully expired tables dropped without rewriting.", counter, func(m *engine.Metrics) float64 { return float64(m.Compaction.Drops) }},
		{"compaction_read_bytes_total", "Bytes read by compactions.", counter, func(m *engine.Metrics) float64 { return float64(m.Compaction.BytesRead) }},
		{"compaction_written_bytes_total", "Bytes written by compactions.", counter, func(m *engine.Metrics) float64 { return float64(m.Compaction.BytesWritten) }},
		{"gc_runs_total", "Garbage collection passes over the object store.", counter, func(m *engine.Metrics) float64 { return float64(m.GCRuns) }},
		{"gc_deleted_objects_total", "Objects deleted by garbage collection.", counter, func(m *engine.Metrics) float64 { return float64(m.GCDeleted) }},
		{"block_cache_hits_total", "Block cache hits.", counter, func(m *engine.Metrics) float64 { return float64(m.BlockCache.Hits) }},
		{"block_cache_misses_total", "Block cache misses.", counter, func(m *engine.Metrics) float64 { return float64(m.BlockCache.Misses) }},
		{"block_cache_hit_ratio", "Block cache hits over lookups since start (0 before any lookup).", gauge, func(m *engine.Metrics) float64 {
			if n := m.BlockCache.Hits + m.BlockCache.Misses; n > 0 {
				return float64(m.BlockCache.Hits) / float64(n)
			}
			return 0
		}},
		{"block_cache_bytes", "Bytes of cached blocks.", gauge, func(m *engine.Metrics) float64 { return float64(m.BlockCache.Bytes) }},
		{"block_cache_entries", "Cached blocks.", gauge, func(m *engine.Metrics) float64 { return float64(m.BlockCache.Entries) }},
		{"block_cache_evictions_total", "Blocks evicted from the cache.", counter, func(m *engine.Metrics) float64 { return float64(m.BlockCache.Evictions) }},
		{"writer_epoch", "Writer epoch held by this process (fencing).", gauge, func(m *engine.Metrics) float64 { return float64(m.WriterEpoch) }},
		{"manifest_version", "Current manifest version.", gauge, func(m *engine.Metrics) float64 { return float64(m.ManifestVersion) }},
	}
}

func (c *engineCollector) Describe(chan<- *prometheus.Desc) {}

func (c *engineCollector) Collect(ch chan<- prometheus.Metric) {
	snap := c.snapshot()
	for _, em := range engineMetrics() {
		desc := prometheus.NewDesc("s2lite_engine_"+em.name, em.help, nil, nil)
		ch <- prometheus.MustNewConstMetric(desc, em.kind, em.value(&snap))
	}
}

// basinStorageCollector exports each basin's attributed object-store use
// (serve --metrics-per-basin): one series per basin and op or direction,
// so its cardinality grows with the basins, which is why it is opt-in.
// The values count from the recorder's start, like any counter.
type basinStorageCollector struct {
	snapshot func() map[string]usage.StorageUse
}

var (
	basinStorageRequestsDesc = prometheus.NewDesc("s2lite_basin_storage_requests_total",
		"Object-store requests attributed to the basin in proportion to its appended (put) or read (get) bytes.", []string{"basin", "op"}, nil)
	basinStorageBytesDesc = prometheus.NewDesc("s2lite_basin_storage_bytes_total",
		"Object-store bytes attributed to the basin in proportion to its appended (written) or read (read) bytes.", []string{"basin", "direction"}, nil)
)

func (c *basinStorageCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- basinStorageRequestsDesc
	ch <- basinStorageBytesDesc
}

func (c *basinStorageCollector) Collect(ch chan<- prometheus.Metric) {
	for basin, u := range c.snapshot() {
		ch <- prometheus.MustNewConstMetric(basinStorageRequestsDesc, prometheus.CounterValue, float64(u.Puts), basin, "put")
		ch <- prometheus.MustNewConstMetric(basinStorageRequestsDesc, prometheus.CounterValue, float64(u.Gets), basin, "get")
		ch <- prometheus.MustNewConstMetric(basinStorageBytesDesc, prometheus.CounterValue, float64(u.BytesWritten), basin, "written")
		ch <- prometheus.MustNewConstMetric(basinStorageBytesDesc, prometheus.CounterValue, float64(u.BytesRead), basin, "read")
	}
}
