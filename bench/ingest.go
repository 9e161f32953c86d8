package main

import (
	"context"
	"encoding/binary"
	"flag"
	"fmt"
	mrand "math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/s2lite/s2lite/compaction"
	"github.com/s2lite/s2lite/engine"
	"github.com/s2lite/s2lite/stream"
)

// IngestReport is the JSON written by `bench ingest`.
type IngestReport struct {
	When       string        `json:"when"`
	Machine    string        `json:"machine"`
	Streams    int           `json:"streams"`
	ValueBytes int           `json:"value_bytes"`
	UserMiB    float64       `json:"user_mib"`
	Seconds    float64       `json:"seconds"`
	Points     []IngestPoint `json:"points"`
	// Final figures after compaction settled and garbage was collected.
	WriteAmp float64 `json:"write_amplification"`
	SpaceAmp float64 `json:"space_amplification"`
}

// IngestPoint samples the tree and read latency as data grows.
type IngestPoint struct {
	UserMiB     float64 `json:"user_mib"`
	WriteAmp    float64 `json:"write_amplification"`
	TablesTotal int     `json:"tables_written_so_far"`
	L0Tables    int     `json:"l0_tables"`
	Runs        int     `json:"runs"`
	LiveTables  int     `json:"live_tables"`
	GetP50      float64 `json:"get_p50_ms"`
	GetP99      float64 `json:"get_p99_ms"`
}

// streamKey is the stream layer's record key shape ('r/', then a stream id
// and a sequence number, both big-endian), so each stream's keys only grow.
func streamKey(stream, seq uint64) []byte {
	k := make([]byte, 0, 18)
	k = append(k, 'r', '/')
	k = binary.BigEndian.AppendUint64(k, stream)
	return binary.BigEndian.AppendUint64(k, seq)
}

func runIngest(args []string) error {
	fs := flag.NewFlagSet("ingest", flag.ExitOnError)
	out, bucket := commonFlags(fs)
	streams := fs.Int("streams", 16, "streams appended to round-robin")
	valueSize := fs.Int("value", 1024, "record size in bytes")
	totalMiB := fs.Int("mib", 512, "user bytes to ingest, MiB")
	points := fs.Int("points", 8, "how many times to sample along the way")
	fs.Parse(args)
	ctx := context.Background()

	store, counting, err := s3Store(ctx, *bucket)
	if err != nil {
		return err
	}
	opts := engine.Options{
		Store: store, MemtableSize: 16 << 20, GCMinAge: time.Second, GCInterval: 2 * time.Second,
		// The stream layer's partitioning, as the server configures it.
		Compaction: compaction.Options{Partition: stream.CompactionPartition},
	}
	db, err := engine.Open(ctx, opts)
	if err != nil {
		return err
	}
	defer db.Close()
	vals := newPayloads(4)
	next := make([]uint64, *streams)
	total := int64(*totalMiB) << 20
	perPoint := total / int64(*points)
	rep := IngestReport{When: time.Now().UTC().Format(time.RFC3339), Machine: machine(), Streams: *streams, ValueBytes: *valueSize}
	var user int64
	start := time.Now()
	r := mrand.New(mrand.NewPCG(7, 8))
	var pend []*engine.PendingWrite
	wait := func() error {
		for _, p := range pend {
			if err := p.Wait(ctx); err != nil {
				return err
			}
		}
		pend = pend[:0]
		return nil
	}
	for user < total {
		for i := 0; i < 64; i++ {
			s := uint64(r.IntN(*streams))
			b := engine.NewBatch()
			k := streamKey(s, next[s])
			next[s]++
			b.Set(k, vals.next(*valueSize))
			p, err := db.Submit(ctx, b)
			if err != nil {
				return err
			}
			pend = append(pend, p)
			user += int64(len(k) + *valueSize)
		}
		if len(pend) >= 1024 {
			if err := wait(); err != nil {
				return err
			}
		}
		if user/perPoint > int64(len(rep.Points)) {
			if err := wait(); err != nil {
				return err
			}
			st := counting.Stats()
			pt, err := samplePoint(ctx, db, st.PutIfAbsent.Bytes+st.Put.Bytes, user, next, r)
			if err != nil {
				return err
			}
			rep.Points = append(rep.Points, pt)
			fmt.Printf("%6.0f MiB: write amp %.2f, %d tables written, L0 %d, runs %d, live tables %d, get p50 %.2f ms p99 %.2f ms\n",
				pt.UserMiB, pt.WriteAmp, pt.TablesTotal, pt.L0Tables, pt.Runs, pt.LiveTables, pt.GetP50, pt.GetP99)
		}
	}
	if err := wait(); err != nil {
		return err
	}
	rep.Seconds = time.Since(start).Seconds()
	rep.UserMiB = float64(user) / (1 << 20)
	// Settle: flush, compact, and collect garbage once the minimum age passed.
	if err := db.Flush(ctx); err != nil {
		return err
	}
	if err := db.Compact(ctx); err != nil {
		return err
	}
	time.Sleep(opts.GCMinAge + 100*time.Millisecond)
	if _, err := db.CollectGarbage(ctx); err != nil {
		return err
	}
	// Every record must still be there, exactly once.
	var want uint64
	for _, n := range next {
		want += n
	}
	it, err := db.NewIter(ctx, nil)
	if err != nil {
		return err
	}
	var got uint64
	var liveBytes int64
	for ok := it.First(); ok; ok = it.Next() {
		got++
		liveBytes += int64(len(it.Key()) + len(it.Value()))
	}
	if err := it.Close(); err != nil {
		return err
	}
	m := db.Metrics()
	fmt.Printf("verified: %d records present of %d written, %d live bytes; %d tables, %d bytes\n", got, want, liveBytes, m.Tables, m.TableBytes)
	if got != want {
		return fmt.Errorf("%d records present, %d written", got, want)
	}
	rep.WriteAmp = ratio(float64(counting.Stats().PutIfAbsent.Bytes+counting.Stats().Put.Bytes), float64(user))
	objs, err := store.List(ctx, "", "", 0)
	if err != nil {
		return err
	}
	var stored int64
	for _, o := range objs {
		stored += o.Size
	}
	rep.SpaceAmp = ratio(float64(stored), float64(user))
	fmt.Printf("ingested %.0f MiB in %.1f s (%.1f MiB/s): write amplification %.2f, space amplification %.2f (after compaction and gc)\n",
		rep.UserMiB, rep.Seconds, rep.UserMiB/rep.Seconds, rep.WriteAmp, rep.SpaceAmp)
	if err := writeJSON(*out, "ingest.json", rep); err != nil {
		return err
	}
	return writeIngestMarkdown(filepath.Join(*out, "ingest.md"), rep)
}

func samplePoint(ctx context.Context, db *engine.DB, written, user int64, next []uint64, r *mrand.Rand) (IngestPoint, error) {
	m := db.Metrics()
	pt := IngestPoint{
		UserMiB:     float64(user) / (1 << 20),
		WriteAmp:    ratio(float64(written), float64(user)),
		TablesTotal: int(m.FlushTables + m.Compaction.Compactions), // lower bound: flushed tables plus compactions
		L0Tables:    m.L0Tables,
		Runs:        len(m.RunTables),
		LiveTables:  m.Tables,
	}
	var lat []time.Duration
	for i := 0; i < 300; i++ {
		s := uint64(r.IntN(len(next)))
		if next[s] == 0 {
			continue
		}
		k := streamKey(s, r.Uint64N(next[s]))
		t0 := time.Now()
		if _, err := db.Get(ctx, k); err != nil {
			return pt, fmt.Errorf("get: %w", err)
		}
		lat = append(lat, time.Since(t0))
	}
	l := summarize(lat)
	pt.GetP50, pt.GetP99 = l.P50, l.P99
	return pt, nil
}

func writeIngestMarkdown(path string, r IngestReport) error {
	var b strings.Builder
	fmt.Fprintf(&b, "# Sustained ingest of append-only stream keys\n\n%s, %s. Command: `make bench-ingest`.\n\n", r.When, r.Machine)
	fmt.Fprintf(&b, "%d streams appended round-robin, %d B records, %.0f MiB in %.1f s (%.1f MiB/s).\n\n", r.Streams, r.ValueBytes, r.UserMiB, r.Seconds, r.UserMiB/r.Seconds)
	fmt.Fprintf(&b, "| user MiB | write amp so far | L0 tables | runs | live tables | get p50 ms | get p99 ms |\n|---|---|---|---|---|---|---|\n")
	for _, p := range r.Points {
		fmt.Fprintf(&b, "| %.0f | %.2f | %d | %d | %d | %.2f | %.2f |\n", p.UserMiB, p.WriteAmp, p.L0Tables, p.Runs, p.LiveTables, p.GetP50, p.GetP99)
	}
	fmt.Fprintf(&b, "\nAfter compaction settled and garbage collection: write amplification %.2f (bytes PUT to the store per user byte, WAL included; target ≤ 3), space amplification %.2f (bytes stored per user byte).\n", r.WriteAmp, r.SpaceAmp)
	return os.WriteFile(path, []byte(b.String()), 0o644)
}
