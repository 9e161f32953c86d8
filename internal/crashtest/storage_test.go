package crashtest

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/s2lite/s2lite/engine"
	"github.com/s2lite/s2lite/objstore"
)

// storageFault is a period of object store misbehaviour injected into a
// live engine through the FaultStore failpoints.
type storageFault struct {
	name       string
	failpoints map[string]string // failpoint -> terms
	// writesFail: the fault is bad enough that writers must see errors.
	writesFail bool
	// failedVisible: some writes fail after they became durable, so some
	// failed batches must be visible (whole) once the log heals.
	failedVisible bool
	what          string
}

var allOps = []string{"storeGet", "storeGetRange", "storePut", "storePutIfAbsent", "storePutIfMatch", "storeDelete", "storeList"}

func everyOp(terms string) map[string]string {
	m := map[string]string{}
	for _, op := range allOps {
		m[objstorePkg+op] = terms
	}
	return m
}

// inStore names failpoints of the FaultStore.
func inStore(fps map[string]string) map[string]string {
	m := map[string]string{}
	for op, terms := range fps {
		m[objstorePkg+op] = terms
	}
	return m
}

// storageFaults are documented in README.md.
var storageFaults = []storageFault{
	{name: "wal-put-errors", failpoints: inStore(map[string]string{"storePutIfAbsent": `return("error@wal/")`}), writesFail: true,
		what: "WAL PUTs fail until the retry deadline: writers get errors, the log heals once storage does"},
	{name: "permanent-errors", failpoints: inStore(map[string]string{"storePutIfAbsent": `15%return("permanent")`, "storeGetRange": `15%return("permanent")`}), writesFail: true,
		what: "non-retryable PUT and read errors on every kind of object (WAL, tables, manifests)"},
	{name: "lost-replies", failpoints: inStore(map[string]string{"storePutIfAbsent": `30%return("lost")->30%return("error")`, "storePut": `30%return("lost")`}),
		what: "PUTs take effect but report failure: the retry loses to its own first attempt and the engine reads back"},
	{name: "timeouts", failpoints: inStore(map[string]string{"storePutIfAbsent": `10%return("timeout")`, "storeGet": `10%return("timeout")`, "storeGetRange": `10%return("timeout")`}), writesFail: true,
		what: "requests hang until the retry deadline"},
	{name: "slow", failpoints: everyOp(`return("sleep(25)")`),
		what: "every request is slow: writes still succeed, only later"},
	{name: "outage", failpoints: everyOp(`return("error")`), writesFail: true,
		what: "nothing works for a while: every write fails, reads of tables fail, the engine heals afterwards"},
	{name: "read-errors", failpoints: inStore(map[string]string{"storeGet": `30%return("error")->10%return("permanent")`, "storeGetRange": `30%return("error")->10%return("permanent")`}),
		what: "reads fail: readers see errors or the right data, never wrong or missing data"},
	{name: "durable-but-failed", failpoints: map[string]string{enginePkg + "walAfterPut": `10%return("error")`}, writesFail: true, failedVisible: true,
		what: "WAL PUTs land but the engine treats them as failed: writers get errors, the heal makes those batches visible whole"},
	{name: "background-errors", failpoints: map[string]string{
		enginePkg + "flushAfterUpload": `50%return("error")`, enginePkg + "compactAfterUpload": `50%return("error")`,
		enginePkg + "gcBeforeDelete": `30%return("error")`},
		what: "flushes, compactions and garbage collection fail and retry: writers and readers do not notice"},
}

const (
	healthyBefore = 300 * time.Millisecond
	faultPeriod   = time.Second
	// After the fault, writes may still fail while PUTs started under it
	// run out their retry deadline and the log heals; after that, none may.
	healGrace    = time.Second
	healedPeriod = 700 * time.Millisecond
	retryLimit   = 400 * time.Millisecond
)

// TestStorageFaults injects each storage fault into a live engine with
// concurrent writers and readers, then heals storage, and checks: writers
// get errors and never acknowledgements for what is not durable; readers
// never see a partial batch or lose an acknowledged one; the engine accepts
// writes again on its own; a fresh recovery holds every acknowledged batch.
func TestStorageFaults(t *testing.T) {
	requireFailpoints(t)
	for _, bk := range backends {
		t.Run(bk.name, func(t *testing.T) {
			be := bk.make(t)
			l := newLedger()
			for i, f := range storageFaults {
				t.Run(f.name, func(t *testing.T) {
					t.Logf("verifies: %s", f.what)
					runStorageFault(t, be, l, i+1, f)
				})
			}
		})
	}
}

func runStorageFault(t *testing.T, be backend, l *ledger, run int, f storageFault) {
	ctx := context.Background()
	base, closeStore, err := OpenStore(ctx, be.spec)
	if err != nil {
		t.Fatal(err)
	}
	defer closeStore()
	store := objstore.NewRetrying(objstore.NewFaultStore(base), objstore.RetryOptions{
		InitialBackoff: 5 * time.Millisecond, MaxBackoff: 50 * time.Millisecond, Deadline: retryLimit,
	})
	opts := WorkerOptions(store)
	opts.GCMinAge = 2 * time.Second // readers keep a version for a while under faults
	db, err := engine.Open(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if db != nil {
			db.Close()
		}
	}()

	load := startLoad(ctx, db, l, run)
	time.Sleep(healthyBefore)
	faultStart := time.Now()
	for fp, terms := range f.failpoints {
		enable(t, fp, terms)
	}
	time.Sleep(faultPeriod)
	for fp := range f.failpoints {
		disable(fp)
	}
	healed := time.Now()
	time.Sleep(healGrace + healedPeriod)
	st := load.stop()
	if err := load.violation(); err != nil {
		t.Fatal(err)
	}

	// Failures the fault caused: a write can fail after the fault ended,
	// once its retries (or a heal attempt it waited for) ran out of time.
	duringFault := st.failedBetween(faultStart, healed.Add(healGrace))
	lateFailures := st.failedBetween(healed.Add(healGrace), time.Now())
	lateAcks := st.ackedBetween(healed.Add(healGrace), time.Now())
	m := db.Metrics()
	t.Logf("%d acked, %d failed (%d caused by the fault, %d after the grace period), %d heals, %d flush errors; reads: %d ok, %d failed",
		st.acked, st.failed, duringFault, lateFailures, m.Heals, m.FlushErrors, load.readsOK.Load(), load.readsFailed.Load())
	if f.writesFail && duringFault == 0 {
		t.Errorf("no write failed during the fault: the case tested nothing")
	}
	if f.writesFail && m.Heals == 0 {
		t.Errorf("writes failed but the log never healed")
	}
	if lateFailures > 0 || lateAcks == 0 {
		t.Fatalf("the engine did not recover by itself: %d failures and %d acks more than %v after storage healed; last error: %v",
			lateFailures, lateAcks, healGrace, st.lastErr)
	}

	// What readers see live must be what a restart recovers.
	live, err := scan(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	failedVisible := 0
	for _, id := range st.failedIDs {
		if _, ok := live[BatchKey(id, 0)]; ok {
			failedVisible++
		}
	}
	t.Logf("%d failed batches are visible: they became durable before their failure was reported", failedVisible)
	if f.failedVisible && failedVisible == 0 {
		t.Errorf("no failed batch became visible: the case tested nothing")
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	db = nil
	res := l.verify(t, ctx, openStore(t, ctx, be))
	recovered, err := recoveredState(ctx, be)
	if err != nil {
		t.Fatal(err)
	}
	if len(live) != len(recovered) {
		t.Fatalf("recovered %d keys, readers saw %d before the restart", len(recovered), len(live))
	}
	for k, v := range live {
		if recovered[k] != v {
			t.Fatalf("key %q differs between the live engine and the recovered one", k)
		}
	}
	t.Logf("recovered: %v", res)
}

// recoveredState opens the store once more and returns everything visible.
func recoveredState(ctx context.Context, be backend) (map[string]string, error) {
	s, closeStore, err := OpenStore(ctx, be.spec)
	if err != nil {
		return nil, err
	}
	defer closeStore()
	db, err := engine.Open(ctx, engine.Options{Store: objstore.NewRetrying(s, objstore.RetryOptions{}), GCInterval: -1, DisableAutoCompaction: true})
	if err != nil {
		return nil, err
	}
	state, err := scan(ctx, db)
	if cerr := db.Close(); err == nil {
		err = cerr
	}
	return state, err
}

// load runs writers and readers against a live engine.
type load struct {
	cancel context.CancelFunc
	wg     sync.WaitGroup
	l      *ledger

	mu       sync.Mutex
	outcomes []outcome
	ackedIDs []string // for readers to pick from
	bad      error    // first violation seen by a reader or writer

	readsOK, readsFailed atomic.Int64
}

type outcome struct {
	id  string
	at  time.Time
	err error
}

type loadStats struct {
	acked, failed int
	failedIDs     []string
	outcomes      []outcome
	lastErr       error
}

func (s loadStats) failedBetween(from, to time.Time) int {
	n := 0
	for _, o := range s.outcomes {
		if o.err != nil && !o.at.Before(from) && o.at.Before(to) {
			n++
		}
	}
	return n
}

func (s loadStats) ackedBetween(from, to time.Time) int {
	n := 0
	for _, o := range s.outcomes {
		if o.err == nil && !o.at.Before(from) && o.at.Before(to) {
			n++
		}
	}
	return n
}

const (
	loadWriters = 4
	loadReaders = 2
)

func startLoad(ctx context.Context, db *engine.DB, l *ledger, run int) *load {
	ctx, cancel := context.WithCancel(ctx)
	ld := &load{cancel: cancel, l: l}
	for w := range loadWriters {
		ld.wg.Go(func() { ld.write(ctx, db, run, w) })
	}
	for r := range loadReaders {
		ld.wg.Go(func() { ld.read(ctx, db, r) })
	}
	return ld
}

func (ld *load) stop() loadStats {
	ld.cancel()
	ld.wg.Wait()
	ld.mu.Lock()
	defer ld.mu.Unlock()
	st := loadStats{outcomes: ld.outcomes}
	for _, o := range ld.outcomes {
		if o.err == nil {
			st.acked++
		} else {
			st.failed++
			st.failedIDs = append(st.failedIDs, o.id)
			st.lastErr = o.err
		}
	}
	return st
}

func (ld *load) violation() error {
	ld.mu.Lock()
	defer ld.mu.Unlock()
	return ld.bad
}

func (ld *load) fail(err error) {
	ld.mu.Lock()
	if ld.bad == nil {
		ld.bad = err
	}
	ld.mu.Unlock()
}

// write submits batches two at a time and records every outcome.
// ErrFenced is a violation: no other writer exists, so only a bug can fence
// this one.
func (ld *load) write(ctx context.Context, db *engine.DB, run, w int) {
	seq := 0
	for ctx.Err() == nil {
		var ids []string
		var ps []*engine.PendingWrite
		failed := false
		for range 2 {
			id := BatchID(run, w, seq)
			seq++
			p, err := db.Submit(ctx, NewBatch(id))
			if err != nil {
				if ctx.Err() == nil {
					ld.record(id, err)
				}
				failed = true
				break
			}
			ids, ps = append(ids, id), append(ps, p)
		}
		for i, p := range ps {
			err := p.Err()
			ld.record(ids[i], err)
			failed = failed || err != nil
		}
		if failed {
			select {
			case <-time.After(10 * time.Millisecond):
			case <-ctx.Done():
			}
		}
	}
}

func (ld *load) record(id string, err error) {
	if errors.Is(err, engine.ErrFenced) {
		ld.fail(fmt.Errorf("writer fenced with no other writer around (batch %s): %w", id, err))
	}
	if err == nil {
		ld.l.ack(id)
	}
	ld.mu.Lock()
	defer ld.mu.Unlock()
	ld.outcomes = append(ld.outcomes, outcome{id, time.Now(), err})
	if err == nil {
		ld.ackedIDs = append(ld.ackedIDs, id)
	}
}

// read alternates point reads of acknowledged batches with full scans. A
// read may fail while storage does; it may never return a wrong value, miss
// an acknowledged batch, or show part of a batch.
func (ld *load) read(ctx context.Context, db *engine.DB, r int) {
	rng := rand.New(rand.NewPCG(uint64(r), uint64(time.Now().UnixNano())))
	for i := 0; ctx.Err() == nil; i++ {
		if i%10 == 9 {
			ld.scanCheck(ctx, db)
		} else {
			ld.getCheck(ctx, db, rng)
		}
		select {
		case <-time.After(5 * time.Millisecond):
		case <-ctx.Done():
		}
	}
}

func (ld *load) getCheck(ctx context.Context, db *engine.DB, rng *rand.Rand) {
	ld.mu.Lock()
	n := len(ld.ackedIDs)
	var id string
	if n > 0 {
		id = ld.ackedIDs[rng.IntN(n)]
	}
	ld.mu.Unlock()
	if id == "" {
		return
	}
	for i := range BatchSize(id) {
		k := BatchKey(id, i)
		v, err := db.Get(ctx, []byte(k))
		switch {
		case errors.Is(err, engine.ErrNotFound):
			ld.fail(fmt.Errorf("acknowledged key %q not found by a live reader", k))
			return
		case err != nil:
			ld.readsFailed.Add(1)
			return
		case string(v) != string(Value(k, ValueSize(k))):
			ld.fail(fmt.Errorf("live reader got a wrong value for %q", k))
			return
		}
	}
	ld.readsOK.Add(1)
}

func (ld *load) scanCheck(ctx context.Context, db *engine.DB) {
	before := ld.l.ackedCopy() // acknowledged before the snapshot: all must be in it
	state, err := scan(ctx, db)
	if err != nil {
		ld.readsFailed.Add(1)
		return
	}
	ids, err := batches(state)
	if err != nil {
		ld.fail(fmt.Errorf("live scan: %w", err))
		return
	}
	for id := range before {
		if !ids[id] {
			ld.fail(fmt.Errorf("live scan misses acknowledged batch %s", id))
			return
		}
	}
	ld.readsOK.Add(1)
}
