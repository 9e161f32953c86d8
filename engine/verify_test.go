package engine

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/s2lite/s2lite/manifest"
	"github.com/s2lite/s2lite/objstore"
)

// writeKeys writes n one-key batches k<from>..k<from+n-1>.
func writeKeys(t *testing.T, db *DB, from, n int) {
	t.Helper()
	for i := from; i < from+n; i++ {
		b := NewBatch()
		b.Set(fmt.Appendf(nil, "k%05d", i), fmt.Appendf(nil, "v%d", i))
		if err := db.Write(context.Background(), b); err != nil {
			t.Fatal(err)
		}
	}
}

func verifyOK(t *testing.T, store objstore.Store, deep bool) *VerifyReport {
	t.Helper()
	rep, err := Verify(context.Background(), store, VerifyOptions{Deep: deep})
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK() {
		t.Fatalf("problems: %v", rep.Problems)
	}
	return rep
}

func TestVerifyWholeDatabase(t *testing.T) {
	ctx := context.Background()
	store := objstore.NewMemory()
	if rep := verifyOK(t, store, false); !rep.Empty {
		t.Fatalf("an empty store: %+v", rep)
	}
	db := mustOpen(t, Options{Store: store, DisableAutoCompaction: true})
	writeKeys(t, db, 0, 50)
	if err := db.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	writeKeys(t, db, 50, 30) // in the WAL only
	rep := verifyOK(t, store, true)
	if rep.Tables == 0 || rep.WALApplied != 30 || rep.LastSeq != 80 || rep.AckedThrough.IsZero() {
		t.Fatalf("report %+v", rep)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	// What verify says is what a recovery finds.
	db = mustOpen(t, Options{Store: store})
	defer db.Close()
	if got := db.visibleSeq.Load(); got != rep.LastSeq {
		t.Fatalf("recovery made %d visible, verify said %d", got, rep.LastSeq)
	}
	if got := mustGet(t, db, "k00079"); got != "v79" {
		t.Fatalf("k00079 = %q", got)
	}
}

func TestVerifyAndOpenCatchMissingTable(t *testing.T) {
	ctx := context.Background()
	store := objstore.NewMemory()
	db := mustOpen(t, Options{Store: store, DisableAutoCompaction: true})
	writeKeys(t, db, 0, 20)
	if err := db.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	m, err := manifest.NewStore(store, nil).Latest(ctx)
	if err != nil || len(m.Tables()) == 0 {
		t.Fatalf("manifest %v %v", m, err)
	}
	key := m.Tables()[0].ObjectKey()
	if err := store.Delete(ctx, key); err != nil {
		t.Fatal(err)
	}
	// The running database notices when a read needs the table.
	db.tables = newTableSet(db.lost, db.cache) // drop cached readers
	db.current = db.tables.version(db.man)
	if _, err := db.Get(ctx, []byte("k00001")); err == nil {
		t.Fatal("a read of a deleted table succeeded")
	}
	if err := db.Lost(); !errors.Is(err, ErrMissingObjects) || !strings.Contains(err.Error(), key) {
		t.Fatalf("Lost: %v", err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	rep, err := Verify(ctx, store, VerifyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if rep.OK() || !strings.Contains(strings.Join(rep.Problems, "\n"), "table "+key+" is missing") {
		t.Fatalf("verify problems: %v", rep.Problems)
	}
	_, err = Open(ctx, Options{Store: store})
	if !errors.Is(err, ErrMissingObjects) || !strings.Contains(err.Error(), key) {
		t.Fatalf("Open of a database without one of its tables: %v", err)
	}
}

func TestVerifyCatchesWALDamageAndGaps(t *testing.T) {
	ctx := context.Background()
	newDB := func() (objstore.Store, *VerifyReport) {
		store := objstore.NewMemory()
		db := mustOpen(t, Options{Store: store, DisableAutoCompaction: true})
		writeKeys(t, db, 0, 40)
		if err := db.Close(); err != nil {
			t.Fatal(err)
		}
		return store, verifyOK(t, store, false)
	}

	// A damaged object.
	store, rep := newDB()
	key := walKey(rep.WALFrom + 5)
	data, _, err := store.Get(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	data[len(data)/2] ^= 0xff
	if _, err := store.Put(ctx, key, data); err != nil {
		t.Fatal(err)
	}
	if rep, _ := Verify(ctx, store, VerifyOptions{}); rep.OK() || !strings.Contains(rep.Problems[0], key+" is damaged") {
		t.Fatalf("damaged WAL: %v", rep.Problems)
	}

	// A gap in the middle of the log.
	store, rep = newDB()
	key = walKey(rep.WALFrom + 3)
	if err := store.Delete(ctx, key); err != nil {
		t.Fatal(err)
	}
	rep, err = Verify(ctx, store, VerifyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if rep.OK() || !strings.Contains(rep.Problems[0], key+" is missing but") {
		t.Fatalf("WAL gap: %v", rep.Problems)
	}

	// A crash's in-flight leftovers after the end are not a problem.
	store, rep = newDB()
	for i := uint64(1); i <= 3; i++ {
		fake := encodeWAL(&walObject{epoch: rep.WriterEpoch, id: rep.WALEnd + i, firstSeq: rep.LastSeq + 10*i}, nil)
		if _, err := store.Put(ctx, walKey(rep.WALEnd+i), fake); err != nil {
			t.Fatal(err)
		}
	}
	verifyOK(t, store, false)
}

func TestOpenRefusesObjectsWithoutManifest(t *testing.T) {
	ctx := context.Background()
	store := objstore.NewMemory()
	db := mustOpen(t, Options{Store: store})
	writeKeys(t, db, 0, 5)
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	infos, err := store.List(ctx, "manifest/", "", 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range infos {
		if err := store.Delete(ctx, o.Key); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := Open(ctx, Options{Store: store}); !errors.Is(err, ErrNoManifest) {
		t.Fatalf("Open without a manifest: %v", err)
	}
	rep, err := Verify(ctx, store, VerifyOptions{})
	if err != nil || rep.OK() || rep.Empty {
		t.Fatalf("verify without a manifest: %+v %v", rep, err)
	}
}

func TestScheduledCheckpoints(t *testing.T) {
	ctx := context.Background()
	store := objstore.NewMemory()
	db := mustOpen(t, Options{Store: store, CheckpointInterval: 50 * time.Millisecond, CheckpointRetention: time.Minute})
	writeKeys(t, db, 0, 10)
	deadline := time.Now().Add(10 * time.Second)
	var cps []Checkpoint
	for len(cps) < 2 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
		var err error
		if cps, err = ListCheckpointsIn(ctx, store); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if len(cps) < 2 {
		t.Fatalf("scheduled checkpoints: %+v", cps)
	}
	for _, cp := range cps {
		if !strings.HasPrefix(cp.Name, AutoCheckpointPrefix) || cp.ExpiresAt.Sub(cp.CreatedAt) < time.Minute {
			t.Fatalf("checkpoint %+v", cp)
		}
	}
	// Each is a restore point: it opens and holds what was written before.
	old, err := OpenCheckpoint(ctx, Options{Store: store}, cps[0].Name)
	if err != nil {
		t.Fatal(err)
	}
	defer old.Close()
	if got := mustGet(t, old, "k00009"); got != "v9" {
		t.Fatalf("k00009 = %q", got)
	}
}
