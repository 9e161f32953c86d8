package compaction

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/s2lite/s2lite/manifest"
	"github.com/s2lite/s2lite/sst"
)

// tree is an in-memory database driven the way the engine drives this
// package: flushes prepend L0 tables, and after each flush compactions are
// picked, run and applied until the policy finds nothing to do.
type tree struct {
	t    *testing.T
	s    *store
	m    *manifest.Manifest
	opts Options
	now  int64
	// check verifies every compaction: visible data unchanged, output
	// shape and Stats. Off for the write-amplification measurements.
	check bool
	r     *reader

	flushed, written int64 // bytes of flushed and of compaction-written tables
	st               Stats // summed over the Runs
}

func newTree(t *testing.T, opts Options, check bool) *tree {
	s := newStore()
	return &tree{t: t, s: s, m: &manifest.Manifest{}, opts: opts, now: 1000, check: check, r: newReader(t, s)}
}

// flush writes es and rds as the newest L0 table, then compacts.
func (tr *tree) flush(es []entry, rds []sst.RangeDel) {
	t := tr.t
	t.Helper()
	tbl := tr.s.build(t, tr.opts.Table, es, rds)
	tr.flushed += tbl.Size
	m := tr.m.Clone()
	m.L0 = append([]manifest.Table{tbl}, m.L0...)
	tr.m = m
	for range 100 {
		p := Pick(tr.m, tr.now, tr.opts)
		if p == nil {
			return
		}
		tr.compact(p)
	}
	t.Fatalf("compaction does not settle: %v", layout(tr.m))
}

func (tr *tree) compact(p *Plan) {
	t := tr.t
	t.Helper()
	inputs := p.Inputs(tr.m)
	var out []manifest.Table
	switch {
	case len(inputs) == 0:
	case p.Move:
		out = MoveOutput(inputs)
	default:
		var st Stats
		var err error
		out, st, err = Run(t.Context(), tr.m, p, tr.s.open, tr.s.write, tr.now, tr.opts)
		if err != nil {
			t.Fatal(err)
		}
		tr.written += st.BytesWritten
		tr.st.InputTables += st.InputTables
		tr.st.OutputTables += st.OutputTables
		tr.st.PassthroughTables += st.PassthroughTables
		tr.st.PassthroughBytes += st.PassthroughBytes
		if tr.check {
			window := make([]table, len(inputs))
			minSeq, maxSeq := inputs[0].MinSeq, inputs[0].MaxSeq
			for i, tbl := range inputs {
				window[i].es, window[i].rds, _ = tr.s.contents(t, tbl)
				minSeq, maxSeq = min(minSeq, tbl.MinSeq), max(maxSeq, tbl.MaxSeq)
			}
			passed := passedThrough(inputs, out)
			checkOutput(t, tr.s, out, passed, p.Bottom, minSeq, maxSeq, tr.opts)
			checkStats(t, st, window, inputs, out, passed, p.Bottom, tr.now)
		}
	}
	after, err := Apply(tr.m, p, out)
	if err != nil {
		t.Fatal(err)
	}
	if tr.check {
		for _, at := range []int64{tr.now, 1500, 2000} {
			if before, got := tr.r.visible(tr.m, at), tr.r.visible(after, at); !sameMap(before, got) {
				t.Fatalf("plan %s, at %d, visible before vs after compaction:\n%s", describe(p), at, diffMap(before, got))
			}
		}
	}
	tr.m = after
}

// TestRunPassthroughModel drives a tree with the stream layer's workload:
// keys that only grow within each partition, appended to partitions at
// random, with some overwrites, deletes, expiries, trims of a partition's
// head and rare deletions across partitions. Most compactions then pass
// tables through, and every one must leave what is visible unchanged.
func TestRunPassthroughModel(t *testing.T) {
	seeds := 40
	if testing.Short() {
		seeds = 10
	}
	var total Stats
	for seed := range seeds {
		t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) {
			st := testRunPassthroughModel(t, uint64(seed))
			total.InputTables += st.InputTables
			total.PassthroughTables += st.PassthroughTables
		})
	}
	t.Logf("%d of %d input tables passed through", total.PassthroughTables, total.InputTables)
	if !t.Failed() && total.PassthroughTables*5 < total.InputTables {
		t.Fatalf("only %d of %d input tables passed through: the test does not exercise passthrough", total.PassthroughTables, total.InputTables)
	}
}

func testRunPassthroughModel(t *testing.T, seed uint64) Stats {
	rng := rand.New(rand.NewPCG(seed, 0xa99e))
	opts := Options{
		L0Trigger:       2 + rng.IntN(3),
		MaxRuns:         2 + rng.IntN(3),
		TargetTableSize: []int64{512, 2 << 10}[rng.IntN(2)],
		Table:           sst.WriterOptions{BlockSize: []int{64, 256}[rng.IntN(2)]},
		Partition:       FixedPrefix(3),
	}
	tr := newTree(t, opts, true)
	parts := 1 + rng.IntN(6)
	next := make([]int, parts)
	key := func(p, i int) string { return fmt.Sprintf("p%02d/%05d", p, i) }
	for p := range parts {
		tr.r.probes = append(tr.r.probes, fmt.Sprintf("p%02d", p), fmt.Sprintf("p%02d/", p), fmt.Sprintf("p%02d/~", p))
	}
	var seq uint64
	for range 10 + rng.IntN(30) {
		var tt table
		for range 5 + rng.IntN(40) {
			seq++
			p := rng.IntN(parts)
			switch r := rng.IntN(100); {
			case r < 2 && next[p] > 0: // overwrite a recent record
				tt.es = append(tt.es, set(key(p, max(0, next[p]-1-rng.IntN(3))), seq, 0, fmt.Sprint("over", seq)))
			case r < 5 && next[p] > 0:
				tt.es = append(tt.es, del(key(p, rng.IntN(next[p])), seq))
			case r < 7: // trim the partition's head
				tt.rds = append(tt.rds, rdel(key(p, 0), key(p, 1+rng.IntN(next[p]+1)), seq))
			case r < 8 && p+1 < parts:
				q := p + 1 + rng.IntN(parts-p-1)
				tt.rds = append(tt.rds, rdel(key(p, rng.IntN(next[p]+1)), key(q, rng.IntN(next[q]+1)), seq))
			default: // append
				var expiry int64
				switch rng.IntN(40) {
				case 0:
					expiry = 500
				case 1:
					expiry = 1500
				}
				k := key(p, next[p])
				next[p]++
				tt.es = append(tt.es, set(k, seq, expiry, fmt.Sprint(seq, strings.Repeat("v", rng.IntN(30)))))
				tr.r.probes = append(tr.r.probes, k, k+"a")
			}
		}
		tr.flush(tt.es, tt.rds)
	}
	return tr.st
}

// TestIngestWriteAmplification simulates the ingest benchmark in memory:
// 16 streams appended at random, records keyed like the stream layer's
// ('r/', stream id, sequence number, both big-endian), memtables flushed as
// L0 tables of half the target table size, each flush followed by
// compactions until the policy is satisfied. It measures the bytes
// compactions write per byte flushed.
//
// Each flushed table spans every stream, so merging it into a run is one
// rewrite that nothing in compaction can avoid: at least about 1 byte per
// byte flushed over time. Without partitions the output tables span every
// stream too, and each merge with an older run rewrites that run again;
// with partitions but without passthrough, the older run is rewritten all
// the same. With both, the older run's tables hold older keys of their
// stream than anything newer and pass through, so each byte is rewritten
// once: WAL, flush and compaction come to about 3 bytes written per user
// byte.
func TestIngestWriteAmplification(t *testing.T) {
	const user = 4 << 20
	measure := func(opts Options) (flushed, written float64, st Stats) {
		const (
			streams   = 16
			valueSize = 256
			memtable  = 32 << 10
		)
		opts.TargetTableSize = 2 * memtable
		opts.Table = sst.WriterOptions{DisableCompression: true}
		tr := newTree(t, opts, false)
		rng := rand.New(rand.NewPCG(7, 8))
		next := make([]uint64, streams)
		var es []entry
		var size, total int64
		for seq := uint64(1); total < user; seq++ {
			s := rng.Uint64N(streams)
			k := make([]byte, 0, 18)
			k = append(k, 'r', '/')
			k = binary.BigEndian.AppendUint64(k, s)
			k = binary.BigEndian.AppendUint64(k, next[s])
			next[s]++
			v := make([]byte, valueSize)
			for i := range v {
				v[i] = byte(rng.Uint32())
			}
			es = append(es, entry{sst.Key{User: k, Seq: seq, Kind: sst.KindSet}, 0, v})
			size += int64(len(k) + len(v))
			total += int64(len(k) + len(v))
			if size >= memtable {
				tr.flush(es, nil)
				es, size = nil, 0
			}
		}
		return float64(tr.flushed) / user, float64(tr.written) / user, tr.st
	}
	flushed, plain, plainSt := measure(Options{})
	_, noPass, _ := measure(Options{Partition: FixedPrefix(10), noPassthrough: true})
	_, both, bothSt := measure(Options{Partition: FixedPrefix(10)})
	t.Logf("per user byte: flushed %.2f; written by compaction %.2f without partitions (%d of %d input tables passed through), "+
		"%.2f with partitions but no passthrough, %.2f with both (%d of %d passed through)",
		flushed, plain, plainSt.PassthroughTables, plainSt.InputTables, noPass, both, bothSt.PassthroughTables, bothSt.InputTables)
	if both > 1.02*flushed {
		t.Errorf("with partitions and passthrough, compaction writes %.2f bytes per user byte, %.2f flushed: want each flushed byte rewritten at most once",
			both, flushed)
	}
	if plain < both+0.5 || noPass < both+0.5 {
		t.Errorf("compaction writes %.2f bytes per user byte with neither, %.2f with partitions only, %.2f with both: want both alone well above",
			plain, noPass, both)
	}
}

// TestRunPassthroughErrors checks the failures that can strike when a
// table is passed through: opening it for its properties at the bottom,
// and uploading the table finished before it.
func TestRunPassthroughErrors(t *testing.T) {
	setup := func() (*store, *manifest.Manifest, *Plan) {
		s := newStore()
		run := []manifest.Table{
			s.build(t, sst.WriterOptions{}, []entry{set("k000", 1, 0, "v"), set("k001", 2, 0, "v")}, nil),
			s.build(t, sst.WriterOptions{}, []entry{set("k002", 3, 0, "v")}, nil),
		}
		l0 := s.build(t, sst.WriterOptions{}, []entry{set("k001", 10, 0, "new")}, nil)
		m := &manifest.Manifest{L0: []manifest.Table{l0}, Levels: [][]manifest.Table{run}}
		p := newPlan(m, 1, 0, 1)
		if !p.Bottom || p.Move {
			t.Fatalf("plan %s", describe(p))
		}
		return s, m, p
	}
	boom := errors.New("boom")

	s, m, p := setup()
	out, st, err := Run(t.Context(), m, p, s.open, s.write, 0, Options{})
	if err != nil || st.PassthroughTables != 1 || len(out) != 2 || !sameTable(out[1], m.Levels[0][1]) {
		t.Fatalf("Run = %v, %+v, %v: want the last table passed through", fileNums(out), st, err)
	}

	s, m, p = setup()
	open := func(ctx context.Context, tbl manifest.Table) (*sst.Reader, error) {
		if sameTable(tbl, m.Levels[0][1]) {
			return nil, boom
		}
		return s.open(ctx, tbl)
	}
	if _, _, err := Run(t.Context(), m, p, open, s.write, 0, Options{}); !errors.Is(err, boom) {
		t.Fatalf("Run with open failing = %v, want %v", err, boom)
	}

	s, m, p = setup()
	write := func(ctx context.Context, data []byte, props sst.Properties) (manifest.Table, error) {
		return manifest.Table{}, boom
	}
	if _, _, err := Run(t.Context(), m, p, s.open, write, 0, Options{}); !errors.Is(err, boom) {
		t.Fatalf("Run with write failing = %v, want %v", err, boom)
	}
}
