package backup

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/s2lite/s2lite/engine"
	"github.com/s2lite/s2lite/internal/s3test"
	"github.com/s2lite/s2lite/objstore"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// writer writes one-key batches k<i> until stopped and records which were
// acknowledged, and when.
type writer struct {
	db    *engine.DB
	mu    sync.Mutex
	acked map[int]time.Time
	next  int
	stop  chan struct{}
	done  chan error
}

func startWriter(db *engine.DB) *writer {
	w := &writer{db: db, acked: map[int]time.Time{}, stop: make(chan struct{}), done: make(chan error, 1)}
	go func() {
		for {
			// About a thousand writes a second: enough to keep flushes,
			// compactions and collections busy, few enough WAL objects to
			// copy slowly.
			select {
			case <-w.stop:
				w.done <- nil
				return
			case <-time.After(time.Millisecond):
			}
			b := engine.NewBatch()
			b.Set(key(w.next), []byte(strings.Repeat("v", 200)))
			if err := db.Write(context.Background(), b); err != nil {
				w.done <- err
				return
			}
			w.mu.Lock()
			w.acked[w.next] = time.Now()
			w.next++
			w.mu.Unlock()
		}
	}()
	return w
}

// atLeast waits until n writes were acknowledged: on a loaded machine a
// write can take tens of milliseconds, and a test that counts on some
// history must not take a fixed time for it.
func (w *writer) atLeast(t *testing.T, n int) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		w.mu.Lock()
		got := w.next
		w.mu.Unlock()
		if got >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("only %d writes acknowledged in a minute, want %d", got, n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func (w *writer) halt(t *testing.T) {
	t.Helper()
	close(w.stop)
	if err := <-w.done; err != nil {
		t.Fatal(err)
	}
}

// ackedBefore returns the keys acknowledged before t.
func (w *writer) ackedBefore(t time.Time) []int {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []int
	for k, at := range w.acked {
		if at.Before(t) {
			out = append(out, k)
		}
	}
	return out
}

func key(i int) []byte { return fmt.Appendf(nil, "k%08d", i) }

// smallOptions make flushes, compactions and collections happen often.
func smallOptions(store objstore.Store) engine.Options {
	return engine.Options{Store: store, GCMinAge: 300 * time.Millisecond, GCInterval: -1, MemtableSize: 32 << 10}
}

// checkCopy opens the destination and checks that every key in want is
// there and that no key beyond what was ever written is.
func checkCopy(t *testing.T, dst objstore.Store, want []int, written int) int {
	t.Helper()
	ctx := context.Background()
	rep, err := engine.Verify(ctx, dst, engine.VerifyOptions{Deep: true})
	if err != nil || !rep.OK() {
		t.Fatalf("verify of the copy: %v %v", err, rep)
	}
	db, err := engine.Open(ctx, engine.Options{Store: dst, GCInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, k := range want {
		if _, err := db.Get(ctx, key(k)); err != nil {
			t.Fatalf("key %d, acknowledged before the copy began, is not in it: %v", k, err)
		}
	}
	it, err := db.NewIter(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer it.Close()
	n := 0
	for ok := it.First(); ok; ok = it.Next() {
		n++
	}
	if n > written {
		t.Fatalf("the copy holds %d keys, only %d were written", n, written)
	}
	return n
}

func TestOnlineBackupWhileWriting(t *testing.T) {
	ctx := context.Background()
	src, dst := objstore.NewMemory(), objstore.NewMemory()
	db, err := engine.Open(ctx, smallOptions(src))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	w := startWriter(db)
	// The copy must meet tables and WAL both: wait for a flush rather
	// than a fixed time, which a loaded machine may not fill.
	time.Sleep(200 * time.Millisecond)
	for deadline := time.Now().Add(30 * time.Second); db.Metrics().FlushTables == 0; {
		if time.Now().After(deadline) {
			t.Fatal("no flush within 30 s of writing")
		}
		time.Sleep(10 * time.Millisecond)
	}

	began := time.Now()
	st, err := Copy(ctx, src, dst, Options{GCMinAge: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if st.Tables == 0 || st.TablesCopied != st.Tables || st.WAL == 0 {
		t.Fatalf("stats %+v", st)
	}
	// The pin is gone.
	if cps, _ := engine.ListCheckpointsIn(ctx, src); len(cps) != 0 {
		t.Fatalf("checkpoints left: %+v", cps)
	}
	// A second copy transfers only what is new.
	time.Sleep(200 * time.Millisecond)
	st2, err := Copy(ctx, src, dst, Options{GCMinAge: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if st2.ManifestVersion < st.ManifestVersion {
		t.Fatalf("second copy of an older version: %+v (first %+v)", st2, st)
	}
	t.Logf("second copy: %d of %d tables and %d of %d WAL objects transferred", st2.TablesCopied, st2.Tables, st2.WALCopied, st2.WAL)
	w.halt(t)
	wantBefore := w.ackedBefore(began)
	if len(wantBefore) == 0 {
		t.Fatal("nothing was acknowledged before the copy")
	}
	got := checkCopy(t, dst, wantBefore, w.next)
	t.Logf("acknowledged before the first copy: %d; the copy holds %d; written %d", len(wantBefore), got, w.next)
}

// slowStore delays every read of a table, so that a copy outlives the
// source's GC minimum age many times over.
type slowStore struct {
	objstore.Store
	delay  time.Duration
	reads  atomic.Int64
	onRead func(n int64)
}

func (s *slowStore) Get(ctx context.Context, key string) ([]byte, string, error) {
	if strings.HasPrefix(key, "sst/") || strings.HasPrefix(key, "wal/") {
		n := s.reads.Add(1)
		if strings.HasPrefix(key, "wal/") && n > 1 {
			// The tables are the slow part; the WAL, which grows while
			// the copy runs, is read at full speed.
			return s.Store.Get(ctx, key)
		}
		if s.onRead != nil {
			s.onRead(n)
		}
		d := s.delay
		if n == 1 {
			// However few objects there are, the copy outlives the
			// minimum age several times.
			d += 1500 * time.Millisecond
		}
		select {
		case <-time.After(d):
		case <-ctx.Done():
			return nil, "", ctx.Err()
		}
	}
	return s.Store.Get(ctx, key)
}

// TestSlowBackupOutlivesGC: a copy held open far past the GC minimum age,
// with compaction and collection forced again and again on the source
// while it runs, still completes whole, because its pin holds the version.
// Without the pin (removed by the test half way), the same copy fails
// loudly instead of producing a broken backup.
func TestSlowBackupOutlivesGC(t *testing.T) {
	for kind, mk := range storeKinds() {
		for _, unpin := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/unpinned=%v", kind, unpin), func(t *testing.T) {
				slowBackup(t, mk(t), unpin)
			})
		}
	}
}

func slowBackup(t *testing.T, mem objstore.Store, unpin bool) {
	{
		{
			ctx := context.Background()
			dst := objstore.NewMemory()
			db, err := engine.Open(ctx, smallOptions(mem))
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			w := startWriter(db)
			time.Sleep(300 * time.Millisecond)
			if err := db.Flush(ctx); err != nil {
				t.Fatal(err)
			}

			// Churn the source while the copy runs: flush, compact,
			// collect, every 50 ms.
			churnStop := make(chan struct{})
			churnDone := make(chan struct{})
			var collected atomic.Int64
			go func() {
				defer close(churnDone)
				for {
					select {
					case <-churnStop:
						return
					case <-time.After(50 * time.Millisecond):
					}
					_ = db.Flush(ctx)
					_ = db.Compact(ctx)
					if gs, err := db.CollectGarbage(ctx); err == nil {
						collected.Add(int64(gs.TablesDeleted + gs.WALObjectsDeleted))
					}
				}
			}()
			src := &slowStore{Store: mem, delay: 40 * time.Millisecond}
			if unpin {
				src.onRead = func(n int64) {
					if n == 1 {
						cps, _ := engine.ListCheckpointsIn(ctx, mem)
						for _, cp := range cps {
							_ = engine.Unpin(ctx, mem, cp.Name)
						}
					}
				}
			}
			began := time.Now()
			st, err := Copy(ctx, src, dst, Options{GCMinAge: 300 * time.Millisecond, Parallel: 1})
			took := time.Since(began)
			close(churnStop)
			<-churnDone
			w.halt(t)
			if unpin {
				if err == nil {
					t.Fatalf("a copy whose pin was removed succeeded (took %v, %d objects collected meanwhile): %+v", took, collected.Load(), st)
				}
				if !strings.Contains(err.Error(), "deleted from the source") && !strings.Contains(err.Error(), "was not retained") {
					t.Fatalf("unexpected error: %v", err)
				}
				rep, verr := engine.Verify(ctx, dst, engine.VerifyOptions{})
				if verr != nil || rep.OK() {
					t.Fatalf("the failed copy's destination verifies as whole: %+v %v", rep, verr)
				}
				return
			}
			if err != nil {
				t.Fatalf("copy (took %v): %v", took, err)
			}
			if took < 3*300*time.Millisecond || collected.Load() == 0 {
				t.Fatalf("the copy took %v and the source collected %d objects meanwhile: not the slow case", took, collected.Load())
			}
			checkCopy(t, dst, w.ackedBefore(began), w.next)
			t.Logf("copy took %v (%d tables, %d WAL), %d objects collected meanwhile", took, st.Tables, st.WAL, collected.Load())
		}
	}
}

func TestDivergedDestinationRefused(t *testing.T) {
	ctx := context.Background()
	src, dst := objstore.NewMemory(), objstore.NewMemory()
	db, err := engine.Open(ctx, smallOptions(src))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	w := startWriter(db)
	time.Sleep(100 * time.Millisecond)
	w.halt(t)
	if _, err := Copy(ctx, src, dst, Options{}); err != nil {
		t.Fatal(err)
	}
	// The copy is opened and written to: it is a database of its own now.
	other, err := engine.Open(ctx, engine.Options{Store: dst, GCInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	b := engine.NewBatch()
	b.Set([]byte("only-in-the-copy"), []byte("x"))
	if err := other.Write(ctx, b); err != nil {
		t.Fatal(err)
	}
	if err := other.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := Copy(ctx, src, dst, Options{}); !errors.Is(err, ErrDiverged) {
		t.Fatalf("copy over a diverged destination: %v", err)
	}
}

// TestRestoreToTime copies a checkpoint plus the WAL up to a moment: the
// result holds everything acknowledged before it and nothing after.
func TestRestoreToTime(t *testing.T) {
	for kind, mk := range storeKinds() {
		t.Run(kind, func(t *testing.T) { restoreToTime(t, mk(t)) })
	}
}

func restoreToTime(t *testing.T, src objstore.Store) {
	ctx := context.Background()
	db, err := engine.Open(ctx, smallOptions(src))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	write := func(from, to int) {
		for i := from; i < to; i++ {
			b := engine.NewBatch()
			b.Set(key(i), []byte("v"))
			if err := db.Write(ctx, b); err != nil {
				t.Fatal(err)
			}
		}
	}
	write(0, 100)
	if _, err := db.CreateCheckpoint(ctx, "auto-1", time.Hour); err != nil {
		t.Fatal(err)
	}
	write(100, 200)
	time.Sleep(20 * time.Millisecond)
	point := time.Now()
	time.Sleep(20 * time.Millisecond)
	write(200, 300)

	dst := objstore.NewMemory()
	st, err := Copy(ctx, src, dst, Options{Checkpoint: "auto-1", Until: point})
	if err != nil {
		t.Fatal(err)
	}
	if st.AckedThrough.After(point) {
		t.Fatalf("copied WAL written at %v, after %v", st.AckedThrough, point)
	}
	n := checkCopy(t, dst, intsUpTo(200), 300)
	if n != 200 {
		t.Fatalf("restored %d keys, want exactly the 200 written before the point", n)
	}
	// A point-in-time restore needs an empty destination.
	if _, err := Copy(ctx, src, dst, Options{Checkpoint: "auto-1", Until: point}); err == nil {
		t.Fatal("a restore into a non-empty destination succeeded")
	}
}

func intsUpTo(n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = i
	}
	return out
}

// TestPromoteLaggingReplica: a replica kept by asynchronous replication
// lacks the newest objects, in no particular order (here: the tables of
// the newest manifest versions and WAL objects near the end). Promoting it
// copies its latest consistent state into a new store, which holds a
// prefix of what the writer acknowledged: keys 0..n-1 with no hole.
func TestPromoteLaggingReplica(t *testing.T) {
	for kind, mk := range storeKinds() {
		t.Run(kind, func(t *testing.T) { promoteLaggingReplica(t, mk(t), mk(t)) })
	}
}

func promoteLaggingReplica(t *testing.T, src, replica objstore.Store) {
	ctx := context.Background()
	db, err := engine.Open(ctx, smallOptions(src))
	if err != nil {
		t.Fatal(err)
	}
	w := startWriter(db)
	time.Sleep(400 * time.Millisecond)
	// The replica below misses some of the last 20 WAL objects: there
	// must be a history before them for the promoted copy to hold.
	w.atLeast(t, 60)
	w.halt(t)
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	// The replica: everything but the two newest tables and every third
	// of the last 20 WAL objects.
	all, err := src.List(ctx, "", "", 0)
	if err != nil {
		t.Fatal(err)
	}
	var wal []string
	for _, o := range all {
		if strings.HasPrefix(o.Key, "wal/") {
			wal = append(wal, o.Key)
		}
	}
	skip := map[string]bool{}
	newestTables := tablesByAge(t, src)
	for _, k := range newestTables[max(0, len(newestTables)-2):] {
		skip[k] = true
	}
	for i := max(0, len(wal)-20); i < len(wal); i += 3 {
		skip[wal[i]] = true
	}
	for _, o := range all {
		if skip[o.Key] {
			continue
		}
		data, _, err := src.Get(ctx, o.Key)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := replica.Put(ctx, o.Key, data); err != nil {
			t.Fatal(err)
		}
	}
	rep, err := engine.Verify(ctx, replica, engine.VerifyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("the replica as it is: %v", rep.Problems)

	dst := objstore.NewMemory()
	if _, err := Copy(ctx, replica, dst, Options{FromReplica: true}); err != nil {
		t.Fatal(err)
	}
	if cps, _ := engine.ListCheckpointsIn(ctx, replica); len(cps) != 0 {
		t.Fatalf("promotion wrote to the replica: %+v", cps)
	}
	n := checkCopy(t, dst, nil, w.next)
	// A prefix: every key below n, none above.
	pdb, err := engine.Open(ctx, engine.Options{Store: dst, GCInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer pdb.Close()
	for i := range n {
		if _, err := pdb.Get(ctx, key(i)); err != nil {
			t.Fatalf("the promoted copy holds %d keys but not key %d: not a prefix of the acknowledged writes", n, i)
		}
	}
	t.Logf("written %d, promoted copy holds the first %d", w.next, n)
	if n == 0 {
		t.Fatal("the promoted copy holds nothing")
	}
}

// tablesByAge orders table keys by their creation (modification) time.
func tablesByAge(t *testing.T, s objstore.Store) []string {
	t.Helper()
	infos, err := s.List(context.Background(), "sst/", "", 0)
	if err != nil {
		t.Fatal(err)
	}
	sort.Slice(infos, func(i, j int) bool { return infos[i].LastModified.Before(infos[j].LastModified) })
	out := make([]string, 0, len(infos))
	for _, o := range infos {
		out = append(out, o.Key)
	}
	return out
}

// storeKinds are the stores the tests run on: memory, a local directory
// and, under withminio, MinIO.
func storeKinds() map[string]func(t *testing.T) objstore.Store {
	kinds := map[string]func(t *testing.T) objstore.Store{
		"memory": func(*testing.T) objstore.Store { return objstore.NewMemory() },
		"local": func(t *testing.T) objstore.Store {
			s, err := objstore.NewLocal(t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			return s
		},
	}
	if s3test.Enabled() {
		kinds["minio"] = func(t *testing.T) objstore.Store {
			return objstore.NewRetrying(s3test.Store(t), objstore.RetryOptions{})
		}
	}
	return kinds
}

// TestMigrationBetweenStores copies a live database between every pair of
// store kinds (memory, a local directory and, under withminio, MinIO), with
// its writer running, and checks each copy.
func TestMigrationBetweenStores(t *testing.T) {
	kinds := storeKinds()
	for from, mkFrom := range kinds {
		for to, mkTo := range kinds {
			if from == to {
				continue
			}
			t.Run(from+"-to-"+to, func(t *testing.T) {
				ctx := context.Background()
				src, dst := mkFrom(t), mkTo(t)
				db, err := engine.Open(ctx, smallOptions(src))
				if err != nil {
					t.Fatal(err)
				}
				defer db.Close()
				w := startWriter(db)
				time.Sleep(200 * time.Millisecond)
				began := time.Now()
				if _, err := Copy(ctx, src, dst, Options{GCMinAge: 300 * time.Millisecond}); err != nil {
					t.Fatal(err)
				}
				w.halt(t)
				checkCopy(t, dst, w.ackedBefore(began), w.next)
			})
		}
	}
}
