package engine

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/s2lite/s2lite/compaction"
	"github.com/s2lite/s2lite/objstore"
	"github.com/s2lite/s2lite/sst"
)

func manualOpts(store objstore.Store, clock *fakeClock) Options {
	return Options{
		Store: store, Now: clock.Now, Table: tableOptsSmall(),
		DisableAutoCompaction: true, GCInterval: -1, GCMinAge: time.Nanosecond,
		Compaction: compaction.Options{L0Trigger: 2, TargetTableSize: 8 << 10},
	}
}

func flushBatch(t *testing.T, db *DB, fill func(b *Batch)) {
	t.Helper()
	b := NewBatch()
	fill(b)
	if err := db.Write(context.Background(), b); err != nil {
		t.Fatal(err)
	}
	if err := db.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func totalEntries(db *DB) (entries, rangeDels uint64) {
	db.manMu.Lock()
	defer db.manMu.Unlock()
	for _, t := range db.man.Tables() {
		entries += t.NumEntries
		rangeDels += t.NumRangeDels
	}
	return
}

// TestCompactionDropsDeadData: after a full compaction, overwritten
// versions, tombstones, range-deleted and expired entries are gone from the
// tables, and reads are unchanged.
func TestCompactionDropsDeadData(t *testing.T) {
	ctx := context.Background()
	clock := newFakeClock()
	db := mustOpen(t, manualOpts(objstore.NewMemory(), clock))
	defer db.Close()
	flushBatch(t, db, func(b *Batch) {
		for i := 0; i < 50; i++ {
			b.Set([]byte(fmt.Sprintf("k%03d", i)), []byte("old"))
		}
	})
	flushBatch(t, db, func(b *Batch) {
		for i := 0; i < 10; i++ {
			b.Set([]byte(fmt.Sprintf("k%03d", i)), []byte("new")) // shadows
		}
		b.Delete([]byte("k010"))                      // tombstone
		b.DeleteRange([]byte("k020"), []byte("k030")) // range deletion
		for i := 40; i < 50; i++ {
			b.SetWithExpiry([]byte(fmt.Sprintf("k%03d", i)), []byte("ttl"), clock.Now().Add(time.Second))
		}
	})
	clock.Advance(2 * time.Second)
	before := scanDB(t, db, "", "")
	if err := db.Compact(ctx); err != nil {
		t.Fatal(err)
	}
	if got := scanDB(t, db, "", ""); strings.Join(got, ",") != strings.Join(before, ",") {
		t.Fatalf("compaction changed what reads see:\n%v\n%v", before, got)
	}
	entries, rds := totalEntries(db)
	// 50 keys - 1 deleted - 10 range-deleted - 10 expired = 29 live.
	if entries != 29 || rds != 0 {
		t.Fatalf("after a bottom compaction: %d entries and %d range deletions, want 29 and 0", entries, rds)
	}
	m := db.Metrics()
	if m.L0Tables != 0 || len(m.RunTables) != 1 || m.Compaction.Compactions == 0 {
		t.Fatalf("unexpected shape after compaction: %+v", m)
	}
}

// TestAppendOnlyMoves: append-only keys produce disjoint tables, which
// compaction files into a run without rewriting them.
func TestAppendOnlyMoves(t *testing.T) {
	ctx := context.Background()
	opts := manualOpts(objstore.NewMemory(), newFakeClock())
	opts.Compaction.L0MaxTables = 2 // disjoint flushes never make L0 deep
	db := mustOpen(t, opts)
	defer db.Close()
	for f := 0; f < 6; f++ {
		flushBatch(t, db, func(b *Batch) {
			for i := 0; i < 20; i++ {
				b.Set([]byte(fmt.Sprintf("s1/%06d", f*20+i)), []byte("v"))
			}
		})
		if err := db.Compact(ctx); err != nil {
			t.Fatal(err)
		}
	}
	m := db.Metrics()
	if m.Compaction.Compactions != 0 || m.Compaction.Moves == 0 || m.Compaction.BytesWritten != 0 {
		t.Fatalf("append-only tables were rewritten: %+v", m.Compaction)
	}
	if got := len(scanDB(t, db, "", "")); got != 120 {
		t.Fatalf("%d keys after moves, want 120", got)
	}
}

// TestExpiredTableDropped: a table whose entries all expired and that
// nothing older overlaps is dropped without being rewritten.
func TestExpiredTableDropped(t *testing.T) {
	ctx := context.Background()
	clock := newFakeClock()
	db := mustOpen(t, manualOpts(objstore.NewMemory(), clock))
	defer db.Close()
	flushBatch(t, db, func(b *Batch) {
		for i := 0; i < 20; i++ {
			b.SetWithExpiry([]byte(fmt.Sprintf("a%03d", i)), []byte("x"), clock.Now().Add(time.Minute))
		}
	})
	flushBatch(t, db, func(b *Batch) { b.Set([]byte("z"), []byte("keep")) })
	if err := db.Compact(ctx); err != nil {
		t.Fatal(err)
	}
	if db.Metrics().Compaction.Drops != 0 {
		t.Fatal("dropped a table before its entries expired")
	}
	clock.Advance(2 * time.Minute)
	if err := db.Compact(ctx); err != nil {
		t.Fatal(err)
	}
	m := db.Metrics()
	if m.Compaction.Drops != 1 {
		t.Fatalf("expired table not dropped: %+v", m.Compaction)
	}
	if got := scanDB(t, db, "", ""); len(got) != 1 || got[0] != "z=keep" {
		t.Fatalf("after the drop: %v", got)
	}
}

// TestGCDeletesOnlyUnreferenced: garbage collection removes replaced
// tables, replayed WAL objects and old manifests, keeps everything the
// current version references and every fence, and the data survives a
// reopen.
func TestGCDeletesOnlyUnreferenced(t *testing.T) {
	ctx := context.Background()
	store := objstore.NewMemory()
	clock := newFakeClock()
	opts := manualOpts(store, clock)
	db := mustOpen(t, opts)
	for f := 0; f < 5; f++ {
		flushBatch(t, db, func(b *Batch) {
			for i := 0; i < 30; i++ {
				b.Set([]byte(fmt.Sprintf("k%03d", (f*7+i)%60)), []byte(fmt.Sprint(f)))
			}
		})
	}
	if err := db.Compact(ctx); err != nil {
		t.Fatal(err)
	}
	before := scanDB(t, db, "", "")
	st, err := db.CollectGarbage(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.TablesDeleted == 0 || st.WALObjectsDeleted == 0 || st.ManifestsDeleted == 0 || st.FencesKept == 0 {
		t.Fatalf("gc did too little: %+v", st)
	}
	checkTablesExist(t, db, store)
	db.manMu.Lock()
	live := len(db.man.Tables())
	db.manMu.Unlock()
	if n := len(keysWithPrefix(t, store, "sst/")); n != live {
		t.Fatalf("%d table objects remain for %d live tables", n, live)
	}
	db.Close()
	db = mustOpen(t, opts)
	defer db.Close()
	if got := scanDB(t, db, "", ""); strings.Join(got, ",") != strings.Join(before, ",") {
		t.Fatal("data changed across gc and reopen")
	}
}

// TestGCKeepsFencesAgainstZombies: after garbage collection, a writer
// fenced long ago still cannot acknowledge anything, because the fence
// that stopped it is never collected.
func TestGCKeepsFencesAgainstZombies(t *testing.T) {
	ctx := context.Background()
	store := objstore.NewMemory()
	clock := newFakeClock()
	opts := manualOpts(store, clock)
	zombie := mustOpen(t, opts)
	defer zombie.Close()
	writeN(t, zombie, 3)
	db := mustOpen(t, opts) // fences the zombie at the next WAL id
	defer db.Close()
	for f := 0; f < 3; f++ {
		// Overlapping flushes: each adds one to L0's depth.
		flushBatch(t, db, func(b *Batch) {
			b.Set([]byte("a"), []byte("v"))
			b.Set([]byte(fmt.Sprint("k", f)), []byte("v"))
		})
	}
	if _, err := db.CollectGarbage(ctx); err != nil {
		t.Fatal(err)
	}
	b := NewBatch()
	b.Set([]byte("zombie"), []byte("x"))
	if err := zombie.Write(ctx, b); !errors.Is(err, ErrFenced) {
		t.Fatalf("zombie write after gc: got %v, want ErrFenced", err)
	}
}

// TestCheckpointFrozenWhileWritesContinue: a reader opened at a checkpoint
// sees the state at the checkpoint, while the writer goes on writing,
// compacting and collecting garbage.
func TestCheckpointFrozenWhileWritesContinue(t *testing.T) {
	ctx := context.Background()
	store := objstore.NewMemory()
	clock := newFakeClock()
	opts := manualOpts(store, clock)
	db := mustOpen(t, opts)
	defer db.Close()
	writeN(t, db, 40)
	if _, err := db.CreateCheckpoint(ctx, "cp1", 0); err != nil {
		t.Fatal(err)
	}
	if _, err := db.CreateCheckpoint(ctx, "cp1", 0); !errors.Is(err, ErrCheckpointExists) {
		t.Fatalf("duplicate checkpoint: %v", err)
	}
	frozen := scanDB(t, db, "", "")
	for f := 0; f < 4; f++ {
		flushBatch(t, db, func(b *Batch) {
			b.DeleteRange([]byte("key00000"), []byte("key00020"))
			b.Set([]byte(fmt.Sprint("new", f)), []byte("v"))
		})
	}
	if err := db.Compact(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := db.CollectGarbage(ctx); err != nil {
		t.Fatal(err)
	}
	ro, err := OpenCheckpoint(ctx, opts, "cp1")
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	if got := scanDB(t, ro, "", ""); strings.Join(got, ",") != strings.Join(frozen, ",") {
		t.Fatalf("checkpoint reader sees %d entries, want the frozen %d", len(got), len(frozen))
	}
	if err := ro.Write(ctx, NewBatch()); !errors.Is(err, ErrReadOnly) {
		t.Fatalf("write to a checkpoint: %v", err)
	}
	cps, err := db.ListCheckpoints(ctx)
	if err != nil || len(cps) != 1 || cps[0].Name != "cp1" {
		t.Fatalf("list: %v, %v", cps, err)
	}
	if err := db.DeleteCheckpoint(ctx, "cp1"); err != nil {
		t.Fatal(err)
	}
	if _, err := OpenCheckpoint(ctx, opts, "cp1"); !errors.Is(err, ErrCheckpointNotFound) {
		t.Fatalf("open deleted checkpoint: %v", err)
	}
}

// TestL0Stall: with compaction off and a tiny L0 limit, a writer waits (it
// does not fail) until compaction makes room, and the metrics show it.
func TestL0Stall(t *testing.T) {
	ctx := context.Background()
	opts := manualOpts(objstore.NewMemory(), newFakeClock())
	opts.L0StopWrites = 2
	db := mustOpen(t, opts)
	defer db.Close()
	for f := 0; f < 2; f++ {
		// Overlapping flushes: each adds one to L0's depth.
		flushBatch(t, db, func(b *Batch) {
			b.Set([]byte("a"), []byte("v"))
			b.Set([]byte(fmt.Sprint("k", f)), []byte("v"))
		})
	}
	done := make(chan error, 1)
	go func() {
		b := NewBatch()
		b.Set([]byte("late"), []byte("v"))
		done <- db.Write(ctx, b)
	}()
	deadline := time.Now().Add(5 * time.Second)
	for db.Metrics().WritersStalledNow == 0 {
		if time.Now().After(deadline) {
			t.Fatal("writer did not stall")
		}
		time.Sleep(time.Millisecond)
	}
	select {
	case err := <-done:
		t.Fatalf("write finished during the stall: %v", err)
	default:
	}
	if err := db.Compact(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatalf("stalled write failed: %v", err)
	}
	if m := db.Metrics(); m.WriteStalls == 0 {
		t.Fatalf("stall not counted: %+v", m)
	}
}

// TestGCSparesUnInstalledUploads: garbage collection never deletes a table
// this process uploaded and has not installed yet, however small the
// minimum age; once installed (or abandoned) the usual rules apply.
func TestGCSparesUnInstalledUploads(t *testing.T) {
	ctx := context.Background()
	store := objstore.NewMemory()
	db := mustOpen(t, manualOpts(store, newFakeClock()))
	defer db.Close()
	w := sst.NewWriter(tableOptsSmall())
	if err := w.Add(sst.Key{User: []byte("k"), Seq: 1, Kind: sst.KindSet}, 0, []byte("v")); err != nil {
		t.Fatal(err)
	}
	data, props, err := w.Finish()
	if err != nil {
		t.Fatal(err)
	}
	tb, err := db.uploadTable(ctx, data, props)
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Millisecond)
	if _, err := db.CollectGarbage(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := store.GetRange(ctx, tb.ObjectKey(), 0, 1); err != nil {
		t.Fatalf("gc deleted a table awaiting installation: %v", err)
	}
	db.releaseUploads(tb.ObjectKey()) // abandoned
	if _, err := db.CollectGarbage(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := store.GetRange(ctx, tb.ObjectKey(), 0, 1); !errors.Is(err, objstore.ErrNotFound) {
		t.Fatalf("abandoned upload survived gc: %v", err)
	}
}

// TestFenceWatch: a writer that writes nothing still learns, within the
// check interval, that a newer writer opened the database.
func TestFenceWatch(t *testing.T) {
	store := objstore.NewMemory()
	opts := Options{Store: store, FenceCheckInterval: 10 * time.Millisecond}
	old := mustOpen(t, opts)
	defer old.Close()
	if old.Fenced() {
		t.Fatal("fenced before anyone else opened")
	}
	time.Sleep(50 * time.Millisecond) // our own flushes and bumps must not count
	if old.Fenced() {
		t.Fatal("fenced by its own manifest")
	}
	newer := mustOpen(t, opts)
	defer newer.Close()
	deadline := time.Now().Add(5 * time.Second)
	for !old.Fenced() {
		if time.Now().After(deadline) {
			t.Fatal("an idle writer never noticed it was fenced")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if newer.Fenced() {
		t.Fatal("the newer writer thinks it is fenced")
	}
}
