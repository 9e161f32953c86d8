package engine

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/s2lite/s2lite/compaction"
	"github.com/s2lite/s2lite/objstore"
)

// fakeClock is an injectable clock that tests move by hand.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func newFakeClock() *fakeClock { return &fakeClock{now: time.UnixMilli(1_700_000_000_000)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// model is the plain map the engine is checked against.
type model struct {
	vals   map[string]string
	expiry map[string]int64 // Unix ms; absent = never
}

func newModel() *model { return &model{vals: map[string]string{}, expiry: map[string]int64{}} }

func (m *model) apply(b *Batch) {
	for _, o := range b.ops {
		switch o.kind {
		case opSet:
			m.vals[string(o.key)] = string(o.value)
			if o.expiry != 0 {
				m.expiry[string(o.key)] = o.expiry
			} else {
				delete(m.expiry, string(o.key))
			}
		case opDelete:
			delete(m.vals, string(o.key))
			delete(m.expiry, string(o.key))
		case opDeleteRange:
			for k := range m.vals {
				if k >= string(o.key) && k < string(o.value) {
					delete(m.vals, k)
					delete(m.expiry, k)
				}
			}
		}
	}
}

func (m *model) get(k string, now int64) (string, bool) {
	v, ok := m.vals[k]
	if !ok {
		return "", false
	}
	if e, ok := m.expiry[k]; ok && e <= now {
		return "", false
	}
	return v, true
}

func (m *model) scan(lo, hi string, now int64) []string {
	var out []string
	for k := range m.vals {
		if (lo == "" || k >= lo) && (hi == "" || k < hi) {
			if v, ok := m.get(k, now); ok {
				out = append(out, k+"="+v)
			}
		}
	}
	slices.Sort(out)
	return out
}

func scanDB(t testing.TB, db *DB, lo, hi string) []string {
	t.Helper()
	opts := &IterOptions{}
	if lo != "" {
		opts.LowerBound = []byte(lo)
	} else {
		// Scans from the start announce a long scan, so that the tables
		// of a run start reading ahead before the merge reaches them.
		opts.ScanBytes = 1 << 20
	}
	if hi != "" {
		opts.UpperBound = []byte(hi)
	}
	it, err := db.NewIter(context.Background(), opts)
	if err != nil {
		t.Fatalf("new iter: %v", err)
	}
	var out []string
	var prev []byte
	for ok := it.First(); ok; ok = it.Next() {
		if prev != nil && bytes.Compare(prev, it.Key()) >= 0 {
			t.Fatalf("iterator out of order: %q then %q", prev, it.Key())
		}
		prev = append(prev[:0], it.Key()...)
		out = append(out, string(it.Key())+"="+string(it.Value()))
	}
	if err := it.Close(); err != nil {
		t.Fatalf("iterate: %v", err)
	}
	return out
}

func randKey(r *rand.Rand) string { return fmt.Sprintf("key%04d", r.IntN(400)) }

func randBatch(r *rand.Rand, clock *fakeClock, step int) *Batch {
	b := NewBatch()
	for n := 1 + r.IntN(4); n > 0; n-- {
		k := []byte(randKey(r))
		switch p := r.IntN(100); {
		case p < 55:
			b.Set(k, []byte(fmt.Sprintf("v%d-%d", step, r.IntN(1000))))
		case p < 75:
			ttl := time.Duration(1+r.IntN(5000)) * time.Millisecond
			b.SetWithExpiry(k, []byte(fmt.Sprintf("t%d", step)), clock.Now().Add(ttl))
		case p < 92:
			b.Delete(k)
		default:
			end := []byte(randKey(r))
			if bytes.Compare(k, end) > 0 {
				k, end = end, k
			}
			if bytes.Equal(k, end) {
				end = append(end, 0)
			}
			b.DeleteRange(k, end)
		}
	}
	return b
}

// TestModelRandomized runs random batches, flushes, reopens, crash-reopens
// (a new writer fencing the old one) and clock moves against the model.
func TestModelRandomized(t *testing.T) {
	stores := map[string]func(t *testing.T) objstore.Store{
		"memory": func(t *testing.T) objstore.Store { return objstore.NewMemory() },
		"local": func(t *testing.T) objstore.Store {
			s, err := objstore.NewLocal(t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			return s
		},
	}
	for name, mk := range stores {
		t.Run(name, func(t *testing.T) {
			steps := 3000
			if name == "local" || testing.Short() {
				steps = 1500
			}
			for _, seed := range []uint64{1, 2} {
				t.Run(fmt.Sprint("seed", seed), func(t *testing.T) {
					runModel(t, mk(t), seed, steps)
				})
			}
		})
	}
}

func runModel(t *testing.T, store objstore.Store, seed uint64, steps int) {
	ctx := context.Background()
	r := rand.New(rand.NewPCG(seed, seed*7919))
	clock := newFakeClock()
	opts := Options{
		Store:        store,
		Now:          clock.Now,
		MemtableSize: 8 << 10, // flush often so tables pile up
		Table:        tableOptsSmall(),
		// Compaction and garbage collection run as explicit steps, so
		// that GC never races a background flush with this tiny min age.
		DisableAutoCompaction: true,
		GCInterval:            -1,
		GCMinAge:              time.Nanosecond,
		Compaction:            compaction.Options{L0Trigger: 3, TargetTableSize: 16 << 10},
	}
	if seed%2 == 1 {
		// Four partitions of 100 keys: flushes write a table per large
		// partition and pack the rest, so range deletions are clipped
		// across tables of one flush and L0 holds key-disjoint tables of
		// one sequence range.
		opts.Compaction.Partition = compaction.FixedPrefix(len("key0"))
		opts.FlushPartitionMinBytes = 1 << 10
	}
	db := mustOpen(t, opts)
	defer func() { db.Close() }()
	var compactions, gcDeleted uint64
	retire := func(d *DB) {
		mt := d.Metrics()
		compactions += mt.Compaction.Compactions
		gcDeleted += mt.GCDeleted
	}
	m := newModel()
	check := func(what string) {
		t.Helper()
		now := clock.Now().UnixMilli()
		for i := 0; i < 20; i++ {
			k := randKey(r)
			want, wok := m.get(k, now)
			got, err := db.Get(ctx, []byte(k))
			if wok != (err == nil) || (wok && string(got) != want) {
				t.Fatalf("%s: get %s = %q, %v; model %q, %v", what, k, got, err, want, wok)
			}
			if err != nil && !errors.Is(err, ErrNotFound) {
				t.Fatalf("%s: get %s: %v", what, k, err)
			}
		}
		lo, hi := randKey(r), randKey(r)
		if lo > hi {
			lo, hi = hi, lo
		}
		if r.IntN(4) == 0 {
			lo, hi = "", ""
		}
		if got, want := scanDB(t, db, lo, hi), m.scan(lo, hi, now); !slices.Equal(got, want) {
			t.Fatalf("%s: scan [%s,%s):\n got  %v\n want %v", what, lo, hi, got, want)
		}
	}
	for step := 0; step < steps; step++ {
		switch p := r.IntN(1000); {
		case p < 700:
			b := randBatch(r, clock, step)
			if err := db.Write(ctx, b); err != nil {
				t.Fatalf("step %d: write: %v", step, err)
			}
			m.apply(b)
		case p < 800:
			// Pipelined submits, acknowledged in order.
			var ps []*PendingWrite
			for n := 2 + r.IntN(6); n > 0; n-- {
				b := randBatch(r, clock, step)
				p, err := db.Submit(ctx, b)
				if err != nil {
					t.Fatalf("step %d: submit: %v", step, err)
				}
				ps = append(ps, p)
				m.apply(b)
			}
			for _, p := range ps {
				if err := p.Wait(ctx); err != nil {
					t.Fatalf("step %d: pipelined write: %v", step, err)
				}
			}
		case p < 850:
			check(fmt.Sprintf("step %d", step))
		case p < 880:
			clock.Advance(time.Duration(r.IntN(3000)) * time.Millisecond)
		case p < 900:
			if err := db.Flush(ctx); err != nil {
				t.Fatalf("step %d: flush: %v", step, err)
			}
		case p < 915:
			retire(db)
			if err := db.Close(); err != nil {
				t.Fatal(err)
			}
			db = mustOpen(t, opts)
			check(fmt.Sprintf("step %d after reopen", step))
		case p < 945:
			if err := db.Compact(ctx); err != nil {
				t.Fatalf("step %d: compact: %v", step, err)
			}
			check(fmt.Sprintf("step %d after compaction", step))
		case p < 955:
			if err := db.Flush(ctx); err != nil {
				t.Fatalf("step %d: flush: %v", step, err)
			}
			if _, err := db.CollectGarbage(ctx); err != nil {
				t.Fatalf("step %d: gc: %v", step, err)
			}
			check(fmt.Sprintf("step %d after gc", step))
		case p < 970:
			// A crash: a new writer opens while the old one is still alive.
			old := db
			retire(old)
			db = mustOpen(t, opts)
			b := NewBatch()
			b.Set([]byte("zombie"), []byte("x"))
			if err := old.Write(ctx, b); !errors.Is(err, ErrFenced) {
				t.Fatalf("step %d: write by fenced writer: got %v, want ErrFenced", step, err)
			}
			old.Close()
			check(fmt.Sprintf("step %d after crash-reopen", step))
		}
	}
	check("end")
	checkTablesExist(t, db, store)
	retire(db)
	t.Logf("compactions %d, gc deleted %d, final runs %v", compactions, gcDeleted, db.Metrics().RunTables)
	if steps >= 1000 && (compactions == 0 || gcDeleted == 0) {
		t.Fatalf("the run exercised no rewriting compaction or no garbage collection")
	}
}

// checkTablesExist verifies garbage collection never removed a referenced
// table.
func checkTablesExist(t *testing.T, db *DB, store objstore.Store) {
	t.Helper()
	db.manMu.Lock()
	m := db.man
	db.manMu.Unlock()
	for _, tb := range m.Tables() {
		if _, err := store.GetRange(context.Background(), tb.ObjectKey(), 0, 1); err != nil {
			t.Fatalf("referenced table %s: %v", tb.ObjectKey(), err)
		}
	}
}
