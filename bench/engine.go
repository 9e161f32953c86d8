package main

import (
	"context"
	"crypto/rand"
	"errors"
	"flag"
	"fmt"
	mrand "math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/s2lite/s2lite/compaction"
	"github.com/s2lite/s2lite/engine"
	"github.com/s2lite/s2lite/objstore"
)

// EngineReport is the JSON written by `bench engine`.
type EngineReport struct {
	When    string `json:"when"`
	Machine string `json:"machine"`

	Latency    LatencyResult    `json:"durable_write_latency"`
	Throughput ThroughputResult `json:"concurrent_write_throughput"`
	Reads      ReadsResult      `json:"reads"`
}

// LatencyResult compares one writer's durable write latency with raw PUTs
// of the same size, sampled in alternating rounds.
type LatencyResult struct {
	ValueBytes     int     `json:"value_bytes"`
	WALObjectBytes int     `json:"wal_object_bytes"`
	Engine         Latency `json:"engine_write"`
	RawPut         Latency `json:"raw_put_if_absent"`
	P50Ratio       float64 `json:"p50_ratio"`
	P99Ratio       float64 `json:"p99_ratio"`
}

// ThroughputResult is sustained pipelined ingest by concurrent writers.
type ThroughputResult struct {
	Writers         int     `json:"writers"`
	Depth           int     `json:"pipeline_depth_per_writer"`
	ValueBytes      int     `json:"value_bytes"`
	Seconds         float64 `json:"seconds"`
	MiBPerSec       float64 `json:"user_mib_per_sec"`
	WritesPerSec    float64 `json:"writes_per_sec"`
	WALObjectsSec   float64 `json:"wal_objects_per_sec"`
	AvgWALObjectKiB float64 `json:"avg_wal_object_kib"`
	Stalls          uint64  `json:"write_stalls"`
	StallSeconds    float64 `json:"write_stall_seconds"`
	Flushes         uint64  `json:"flushes"`
	RawPutMiBPerSec float64 `json:"raw_put_mib_per_sec_same_size_same_concurrency"`
	Ratio           float64 `json:"ratio_to_raw_put"`
	Ack             Latency `json:"ack_latency"`
}

// ReadsResult covers point gets and short scans on flushed tables.
type ReadsResult struct {
	Keys          int     `json:"keys"`
	ValueBytes    int     `json:"value_bytes"`
	Tables        int     `json:"tables"`
	GetCold       Latency `json:"get_cold"`
	GetWarm       Latency `json:"get_warm"`
	Scan100Cold   Latency `json:"scan_100_cold"`
	Scan100Warm   Latency `json:"scan_100_warm"`
	RawRangedGet  Latency `json:"raw_ranged_get_4kib"`
	CacheHitRatio float64 `json:"warm_cache_hit_ratio"`
}

func runEngine(args []string) error {
	fs := flag.NewFlagSet("engine", flag.ExitOnError)
	out, bucket := commonFlags(fs)
	valueSize := fs.Int("value", 1024, "value size in bytes")
	rounds := fs.Int("rounds", 10, "latency: alternating rounds of engine and raw samples")
	perRound := fs.Int("per-round", 100, "latency: samples per round")
	writers := fs.Int("writers", 16, "throughput: concurrent writers")
	depth := fs.Int("depth", 128, "throughput: writes each writer keeps in flight")
	duration := fs.Duration("duration", 10*time.Second, "throughput: measured time (after 2s warm-up)")
	keys := fs.Int("keys", 50000, "reads: keys loaded before reading")
	only := fs.String("only", "", "run just one workload: latency, throughput or reads (no report files)")
	fs.Parse(args)
	ctx := context.Background()

	rep := EngineReport{When: time.Now().UTC().Format(time.RFC3339), Machine: machine()}
	var err error
	switch *only {
	case "":
	case "latency":
		r, err := benchLatency(ctx, *bucket, *valueSize, *rounds, *perRound)
		fmt.Printf("%+v\n", r)
		return err
	case "throughput":
		r, err := benchThroughput(ctx, *bucket, *valueSize, *writers, *depth, *duration)
		fmt.Printf("%+v\n", r)
		return err
	case "reads":
		r, err := benchReads(ctx, *bucket, *valueSize, *keys)
		fmt.Printf("%+v\n", r)
		return err
	default:
		return fmt.Errorf("unknown workload %q", *only)
	}
	if rep.Latency, err = benchLatency(ctx, *bucket, *valueSize, *rounds, *perRound); err != nil {
		return fmt.Errorf("latency: %w", err)
	}
	fmt.Printf("durable write latency (value %d B, WAL object %d B): engine p50 %.2f ms p99 %.2f ms | raw PUT p50 %.2f ms p99 %.2f ms | ratio p50 %.2f p99 %.2f\n",
		rep.Latency.ValueBytes, rep.Latency.WALObjectBytes, rep.Latency.Engine.P50, rep.Latency.Engine.P99,
		rep.Latency.RawPut.P50, rep.Latency.RawPut.P99, rep.Latency.P50Ratio, rep.Latency.P99Ratio)
	if rep.Throughput, err = benchThroughput(ctx, *bucket, *valueSize, *writers, *depth, *duration); err != nil {
		return fmt.Errorf("throughput: %w", err)
	}
	t := rep.Throughput
	fmt.Printf("throughput (%d writers x %d deep, %d B values): %.1f MiB/s, %.0f writes/s, %.0f WAL objects/s of %.0f KiB, ack p50 %.1f ms p99 %.1f ms | raw PUT same size: %.1f MiB/s\n",
		t.Writers, t.Depth, t.ValueBytes, t.MiBPerSec, t.WritesPerSec, t.WALObjectsSec, t.AvgWALObjectKiB, t.Ack.P50, t.Ack.P99, t.RawPutMiBPerSec)
	if rep.Reads, err = benchReads(ctx, *bucket, *valueSize, *keys); err != nil {
		return fmt.Errorf("reads: %w", err)
	}
	r := rep.Reads
	fmt.Printf("reads (%d keys in %d tables): get cold p50 %.2f p99 %.2f ms, warm p50 %.3f p99 %.3f ms; scan 100 cold p50 %.2f, warm p50 %.2f ms | raw ranged GET 4 KiB p50 %.2f p99 %.2f ms\n",
		r.Keys, r.Tables, r.GetCold.P50, r.GetCold.P99, r.GetWarm.P50, r.GetWarm.P99, r.Scan100Cold.P50, r.Scan100Warm.P50, r.RawRangedGet.P50, r.RawRangedGet.P99)

	if err := writeJSON(*out, "engine.json", rep); err != nil {
		return err
	}
	return writeEngineMarkdown(filepath.Join(*out, "engine.md"), rep)
}

func machine() string {
	host, _ := os.Hostname()
	cpus := "?"
	if data, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		cpus = fmt.Sprint(strings.Count(string(data), "processor\t:"))
	}
	return fmt.Sprintf("%s, %s CPUs, MinIO on loopback%s", host, cpus, minioStorage())
}

// minioStorage says which filesystem holds MinIO's data (from
// S2LITE_MINIO_DIR, set by internal/tools/withminio, and /proc/mounts):
// on a disk, the kernel's periodic writeback of MinIO's dirty pages shows
// up as PUT stalls of tens of milliseconds; on tmpfs it does not.
func minioStorage() string {
	dir := os.Getenv("S2LITE_MINIO_DIR")
	if dir == "" {
		return ""
	}
	if abs, err := filepath.EvalSymlinks(dir); err == nil {
		dir = abs
	}
	mounts, err := os.ReadFile("/proc/mounts")
	if err != nil {
		return ""
	}
	best, fsType := mountOf(string(mounts), dir)
	switch fsType {
	case "":
		return ""
	case "tmpfs":
		return " (its data on tmpfs, in memory)"
	default:
		return fmt.Sprintf(" (its data on %s at %s)", fsType, best)
	}
}

// value returns n random bytes.
func value(n int) []byte {
	v := make([]byte, n)
	rand.Read(v)
	return v
}

// payloads hands out distinct incompressible values cheaply: slices of a
// large random pool at random offsets. A benchmark that wrote one value over
// and over would let snappy compress the tables across records and flatter
// every byte count.
type payloads struct {
	pool []byte
	r    *mrand.Rand
}

func newPayloads(seed uint64) *payloads {
	return &payloads{pool: value(8 << 20), r: mrand.New(mrand.NewPCG(seed, seed+1))}
}

func (p *payloads) next(n int) []byte {
	off := p.r.IntN(len(p.pool) - n)
	return p.pool[off : off+n]
}

func benchLatency(ctx context.Context, bucket string, valueSize, rounds, perRound int) (LatencyResult, error) {
	store, _, err := s3Store(ctx, bucket)
	if err != nil {
		return LatencyResult{}, err
	}
	db, err := engine.Open(ctx, engine.Options{Store: store})
	if err != nil {
		return LatencyResult{}, err
	}
	defer db.Close()
	vals := newPayloads(1)
	seq := 0
	write := func() (time.Duration, error) {
		b := engine.NewBatch()
		b.Set([]byte(fmt.Sprintf("key%010d", seq)), vals.next(valueSize))
		seq++
		start := time.Now()
		err := db.Write(ctx, b)
		return time.Since(start), err
	}
	// Warm up, and learn the size of a one-write WAL object.
	before := db.Metrics()
	for i := 0; i < 50; i++ {
		if _, err := write(); err != nil {
			return LatencyResult{}, err
		}
	}
	after := db.Metrics()
	objSize := int((after.WALBytesWritten - before.WALBytesWritten) / max(1, after.WALObjectsWritten-before.WALObjectsWritten))
	raw := value(objSize)
	rawN := 0
	putRaw := func() (time.Duration, error) {
		start := time.Now()
		_, err := store.PutIfAbsent(ctx, fmt.Sprintf("raw/%010d", rawN), raw)
		rawN++
		return time.Since(start), err
	}
	for i := 0; i < 50; i++ {
		if _, err := putRaw(); err != nil {
			return LatencyResult{}, err
		}
	}
	var eng, rawS []time.Duration
	for r := 0; r < rounds; r++ {
		for i := 0; i < perRound; i++ {
			d, err := write()
			if err != nil {
				return LatencyResult{}, err
			}
			eng = append(eng, d)
		}
		for i := 0; i < perRound; i++ {
			d, err := putRaw()
			if err != nil {
				return LatencyResult{}, err
			}
			rawS = append(rawS, d)
		}
	}
	res := LatencyResult{ValueBytes: valueSize, WALObjectBytes: objSize, Engine: summarize(eng), RawPut: summarize(rawS)}
	res.P50Ratio = ratio(res.Engine.P50, res.RawPut.P50)
	res.P99Ratio = ratio(res.Engine.P99, res.RawPut.P99)
	return res, nil
}

func benchThroughput(ctx context.Context, bucket string, valueSize, writers, depth int, duration time.Duration) (ThroughputResult, error) {
	store, _, err := s3Store(ctx, bucket)
	if err != nil {
		return ThroughputResult{}, err
	}
	// Each writer appends its own key range ("wNN/" and a counter), the
	// stream workload; naming that range as the partition is how an
	// engine user tells compaction so (see engine.Options.Compaction).
	db, err := engine.Open(ctx, engine.Options{
		Store:      store,
		Compaction: compaction.Options{Partition: compaction.FixedPrefix(len("w00/"))},
	})
	if err != nil {
		return ThroughputResult{}, err
	}
	defer db.Close()
	pool := newPayloads(2).pool
	const warmup = 2 * time.Second
	start := time.Now()
	measureFrom, measureTo := start.Add(warmup), start.Add(warmup+duration)
	var acked atomic.Int64
	var mu sync.Mutex
	var acks []time.Duration
	var m0 engine.Metrics
	var once sync.Once
	errc := make(chan error, writers)
	var wg sync.WaitGroup
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			type inflight struct {
				p *engine.PendingWrite
				t time.Time
			}
			var q []inflight
			var local []time.Duration
			vals := &payloads{pool: pool, r: mrand.New(mrand.NewPCG(uint64(w), 9))}
			for i := 0; ; i++ {
				now := time.Now()
				if now.After(measureTo) {
					break
				}
				if now.After(measureFrom) {
					once.Do(func() { m0 = db.Metrics() })
				}
				b := engine.NewBatch()
				b.Set([]byte(fmt.Sprintf("w%02d/%010d", w, i)), vals.next(valueSize))
				p, err := db.Submit(ctx, b)
				if err != nil {
					errc <- err
					return
				}
				q = append(q, inflight{p, now})
				if len(q) >= depth {
					head := q[0]
					q = q[1:]
					if err := head.p.Wait(ctx); err != nil {
						errc <- err
						return
					}
					done := time.Now()
					if head.t.After(measureFrom) && done.Before(measureTo) {
						acked.Add(1)
						local = append(local, done.Sub(head.t))
					}
				}
			}
			for _, f := range q {
				if err := f.p.Wait(ctx); err != nil {
					errc <- err
					return
				}
			}
			mu.Lock()
			acks = append(acks, local...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	close(errc)
	if err := <-errc; err != nil {
		return ThroughputResult{}, err
	}
	m1 := db.Metrics()
	secs := duration.Seconds()
	objs := float64(m1.WALObjectsWritten - m0.WALObjectsWritten)
	res := ThroughputResult{
		Writers: writers, Depth: depth, ValueBytes: valueSize, Seconds: secs,
		MiBPerSec:     float64(acked.Load()) * float64(valueSize) / secs / (1 << 20),
		WritesPerSec:  float64(acked.Load()) / secs,
		WALObjectsSec: objs / secs,
		Stalls:        m1.WriteStalls - m0.WriteStalls,
		StallSeconds:  (m1.WriteStallTime - m0.WriteStallTime).Seconds(),
		Flushes:       m1.Flushes - m0.Flushes,
		Ack:           summarize(acks),
	}
	avgObj := 0
	if objs > 0 {
		avgObj = int(float64(m1.WALBytesWritten-m0.WALBytesWritten) / objs)
		res.AvgWALObjectKiB = float64(avgObj) / 1024
	}
	// Baseline: raw PUTs of the same object size at the engine's PUT
	// concurrency (WALMaxInFlight, default 4).
	res.RawPutMiBPerSec, err = rawPutBandwidth(ctx, store, max(avgObj, 1024), 4, 5*time.Second)
	if err != nil {
		return res, err
	}
	res.Ratio = ratio(res.MiBPerSec, res.RawPutMiBPerSec)
	return res, nil
}

func rawPutBandwidth(ctx context.Context, store objstore.Store, size, conc int, d time.Duration) (float64, error) {
	payload := value(size)
	var n atomic.Int64
	var firstErr error
	var emu sync.Mutex
	deadline := time.Now().Add(d)
	var wg sync.WaitGroup
	for c := 0; c < conc; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; time.Now().Before(deadline); i++ {
				if _, err := store.PutIfAbsent(ctx, fmt.Sprintf("rawbw/%d/%d", c, i), payload); err != nil {
					emu.Lock()
					firstErr = errors.Join(firstErr, err)
					emu.Unlock()
					return
				}
				n.Add(1)
			}
		}()
	}
	wg.Wait()
	return float64(n.Load()) * float64(size) / d.Seconds() / (1 << 20), firstErr
}

func benchReads(ctx context.Context, bucket string, valueSize, keys int) (ReadsResult, error) {
	store, _, err := s3Store(ctx, bucket)
	if err != nil {
		return ReadsResult{}, err
	}
	opts := engine.Options{Store: store, MemtableSize: 16 << 20}
	db, err := engine.Open(ctx, opts)
	if err != nil {
		return ReadsResult{}, err
	}
	vals := newPayloads(3)
	key := func(i int) []byte { return []byte(fmt.Sprintf("key%010d", i)) }
	var pend []*engine.PendingWrite
	for i := 0; i < keys; i++ {
		b := engine.NewBatch()
		b.Set(key(i), vals.next(valueSize))
		p, err := db.Submit(ctx, b)
		if err != nil {
			return ReadsResult{}, err
		}
		pend = append(pend, p)
		if len(pend) >= 256 {
			for _, p := range pend {
				if err := p.Wait(ctx); err != nil {
					return ReadsResult{}, err
				}
			}
			pend = pend[:0]
		}
	}
	for _, p := range pend {
		if err := p.Wait(ctx); err != nil {
			return ReadsResult{}, err
		}
	}
	if err := db.Flush(ctx); err != nil {
		return ReadsResult{}, err
	}
	db.Close()

	// Reopen: empty block cache, every table read through ranged GETs.
	db, err = engine.Open(ctx, opts)
	if err != nil {
		return ReadsResult{}, err
	}
	defer db.Close()
	res := ReadsResult{Keys: keys, ValueBytes: valueSize, Tables: db.Metrics().Tables}
	r := mrand.New(mrand.NewPCG(1, 2))
	const n = 500
	sample := make([]int, n)
	for i := range sample {
		sample[i] = r.IntN(keys)
	}
	get := func() ([]time.Duration, error) {
		var out []time.Duration
		for _, i := range sample {
			start := time.Now()
			v, err := db.Get(ctx, key(i))
			if err != nil {
				return nil, fmt.Errorf("get %d: %w", i, err)
			}
			if len(v) != valueSize {
				return nil, fmt.Errorf("get %d: %d bytes", i, len(v))
			}
			out = append(out, time.Since(start))
		}
		return out, nil
	}
	cold, err := get()
	if err != nil {
		return res, err
	}
	c0 := db.Metrics().BlockCache
	warm, err := get()
	if err != nil {
		return res, err
	}
	c1 := db.Metrics().BlockCache
	res.GetCold, res.GetWarm = summarize(cold), summarize(warm)
	if d := (c1.Hits - c0.Hits) + (c1.Misses - c0.Misses); d > 0 {
		res.CacheHitRatio = ratio(float64(c1.Hits-c0.Hits), float64(d))
	}
	scan := func(starts []int) ([]time.Duration, error) {
		var out []time.Duration
		for _, s := range starts {
			t0 := time.Now()
			it, err := db.NewIter(ctx, &engine.IterOptions{LowerBound: key(s)})
			if err != nil {
				return nil, err
			}
			got := 0
			for ok := it.First(); ok && got < 100; ok = it.Next() {
				got++
			}
			if err := it.Close(); err != nil {
				return nil, err
			}
			out = append(out, time.Since(t0))
		}
		return out, nil
	}
	starts := make([]int, 200)
	for i := range starts {
		// Far from the sampled gets so the cold scans really are cold.
		starts[i] = r.IntN(keys - 100)
	}
	db.Close()
	if db, err = engine.Open(ctx, opts); err != nil {
		return res, err
	}
	sc, err := scan(starts)
	if err != nil {
		return res, err
	}
	sw, err := scan(starts)
	if err != nil {
		return res, err
	}
	res.Scan100Cold, res.Scan100Warm = summarize(sc), summarize(sw)

	// Baseline: raw 4 KiB ranged GETs of a table object.
	tables, err := store.List(ctx, "sst/", "", 1)
	if err != nil || len(tables) == 0 {
		return res, fmt.Errorf("no table to read for the baseline: %v", err)
	}
	var raw []time.Duration
	for i := 0; i < n; i++ {
		off := r.Int64N(max(1, tables[0].Size-4096))
		t0 := time.Now()
		if _, err := store.GetRange(ctx, tables[0].Key, off, 4096); err != nil {
			return res, err
		}
		raw = append(raw, time.Since(t0))
	}
	res.RawRangedGet = summarize(raw)
	return res, nil
}

func writeEngineMarkdown(path string, r EngineReport) error {
	var b strings.Builder
	fmt.Fprintf(&b, "# Engine benchmark\n\n%s, %s. Command: `make bench-engine`.\n\n", r.When, r.Machine)
	l := r.Latency
	fmt.Fprintf(&b, "## Durable write latency (one writer, %d B value, WAL object %d B)\n\n", l.ValueBytes, l.WALObjectBytes)
	fmt.Fprintf(&b, "| | p50 ms | p90 ms | p99 ms | p99.9 ms | max ms |\n|---|---|---|---|---|---|\n")
	fmt.Fprintf(&b, "| engine Write | %.2f | %.2f | %.2f | %.2f | %.2f |\n", l.Engine.P50, l.Engine.P90, l.Engine.P99, l.Engine.P999, l.Engine.Max)
	fmt.Fprintf(&b, "| raw PUT (If-None-Match) | %.2f | %.2f | %.2f | %.2f | %.2f |\n", l.RawPut.P50, l.RawPut.P90, l.RawPut.P99, l.RawPut.P999, l.RawPut.Max)
	fmt.Fprintf(&b, "\nRatio to raw PUT: p50 %.2f (target ≤ 1.5), p99 %.2f (target ≤ 2).\n\n", l.P50Ratio, l.P99Ratio)
	t := r.Throughput
	fmt.Fprintf(&b, "## Concurrent ingest (%d writers, %d writes in flight each, %d B values, %.0f s)\n\n", t.Writers, t.Depth, t.ValueBytes, t.Seconds)
	fmt.Fprintf(&b, "%.1f MiB/s (target ≥ 50), %.0f writes/s, %.0f WAL objects/s averaging %.0f KiB; ack latency p50 %.1f ms, p99 %.1f ms; %d flushes, %d write stalls (%.1f s).\n",
		t.MiBPerSec, t.WritesPerSec, t.WALObjectsSec, t.AvgWALObjectKiB, t.Ack.P50, t.Ack.P99, t.Flushes, t.Stalls, t.StallSeconds)
	fmt.Fprintf(&b, "Raw PUT bandwidth at that object size and 4 concurrent PUTs: %.1f MiB/s (ratio %.2f).\n\n", t.RawPutMiBPerSec, t.Ratio)
	rd := r.Reads
	fmt.Fprintf(&b, "## Reads (%d keys of %d B in %d tables)\n\n", rd.Keys, rd.ValueBytes, rd.Tables)
	fmt.Fprintf(&b, "| | p50 ms | p99 ms | max ms |\n|---|---|---|---|\n")
	for _, row := range []struct {
		name string
		l    Latency
	}{{"get, cold cache", rd.GetCold}, {"get, warm cache", rd.GetWarm}, {"scan 100 keys, cold", rd.Scan100Cold}, {"scan 100 keys, warm", rd.Scan100Warm}, {"raw ranged GET 4 KiB", rd.RawRangedGet}} {
		fmt.Fprintf(&b, "| %s | %.3f | %.3f | %.3f |\n", row.name, row.l.P50, row.l.P99, row.l.Max)
	}
	fmt.Fprintf(&b, "\nWarm-cache block hit ratio: %.2f.\n", rd.CacheHitRatio)
	return os.WriteFile(path, []byte(b.String()), 0o644)
}

// mountOf finds the mount point holding dir in a /proc/mounts listing and
// its filesystem type.
func mountOf(mounts, dir string) (mountPoint, fsType string) {
	for _, line := range strings.Split(mounts, "\n") {
		f := strings.Fields(line)
		if len(f) < 3 {
			continue
		}
		mp := f[1]
		if (dir == mp || strings.HasPrefix(dir, strings.TrimSuffix(mp, "/")+"/")) && len(mp) >= len(mountPoint) {
			mountPoint, fsType = mp, f[2]
		}
	}
	return mountPoint, fsType
}
