package crashtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"os"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pingcap/failpoint"
	"go.uber.org/goleak"

	"github.com/s2lite/s2lite/engine"
	"github.com/s2lite/s2lite/internal/crashtest/fault"
	"github.com/s2lite/s2lite/internal/s3test"
	"github.com/s2lite/s2lite/objstore"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// gateEnv is set by internal/tools/faulttest.sh after it rewrote the
// failpoint markers. Without it every test here skips, so that `go test
// ./...` stays fast and needs no rewritten tree.
const gateEnv = "S2LITE_FAILPOINTS"

const (
	enginePkg   = "github.com/s2lite/s2lite/engine/"
	objstorePkg = "github.com/s2lite/s2lite/objstore/"
)

// requireFailpoints skips unless the fault tests were asked for, and fails
// if they were but the markers are inert (the tree was not rewritten), so a
// broken setup never passes as a skipped or vacuous run.
func requireFailpoints(t *testing.T) {
	t.Helper()
	if os.Getenv(gateEnv) != "1" {
		t.Skipf("%s not set: run `make fault-test`", gateEnv)
	}
	if err := failpoint.Enable(objstorePkg+"storeList", `return("error")`); err != nil {
		t.Fatal(err)
	}
	_, err := objstore.NewFaultStore(objstore.NewMemory()).List(context.Background(), "", "", 0)
	if err := failpoint.Disable(objstorePkg + "storeList"); err != nil {
		t.Fatal(err)
	}
	if !errors.Is(err, fault.ErrInjected) {
		t.Fatalf("failpoint markers are inert: run through `make fault-test`, which rewrites them (List returned %v)", err)
	}
}

// enable turns a failpoint on for the rest of the test.
func enable(t *testing.T, name, terms string) {
	t.Helper()
	if err := failpoint.Enable(name, terms); err != nil {
		t.Fatalf("enable %s: %v", name, err)
	}
	t.Cleanup(func() { failpoint.Disable(name) })
}

func disable(name string) { failpoint.Disable(name) }

// backend is a store that both the worker process and the test can open.
type backend struct {
	name string
	spec string // for crashtest.OpenStore
}

// backends are the stores every test runs on.
var backends = []struct {
	name string
	make func(*testing.T) backend
}{
	{"local", localBackend},
	{"minio", s3Backend},
}

func localBackend(t *testing.T) backend {
	return backend{name: "local", spec: "dir:" + t.TempDir()}
}

// s3Backend is a fresh prefix on the MinIO that withminio started; its
// objects are removed when the test ends.
func s3Backend(t *testing.T) backend {
	t.Helper()
	if !s3test.Enabled() {
		t.Skip("S2LITE_TEST_S3 not set: run under internal/tools/withminio")
	}
	var b [6]byte
	rand.Read(b[:])
	prefix := "crashtest/" + strings.NewReplacer("/", "_").Replace(t.Name()) + "-" + hex.EncodeToString(b[:])
	be := backend{name: "minio", spec: "s3:" + prefix}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		s, closeStore, err := OpenStore(ctx, be.spec)
		if err != nil {
			t.Errorf("cleanup: %v", err)
			return
		}
		defer closeStore()
		objs, err := s.List(ctx, "", "", 0)
		if err != nil {
			t.Errorf("cleanup: %v", err)
			return
		}
		for _, o := range objs {
			if err := s.Delete(ctx, o.Key); err != nil {
				t.Errorf("cleanup: %v", err)
				return
			}
		}
	})
	return be
}

// openStore opens the backend with the ordinary retrying wrapper and no
// fault injection: what a restarted process would use.
func openStore(t *testing.T, ctx context.Context, be backend) objstore.Store {
	t.Helper()
	s, closeStore, err := OpenStore(ctx, be.spec)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(closeStore)
	return objstore.NewRetrying(s, objstore.RetryOptions{})
}

// scan returns every visible key and value.
func scan(ctx context.Context, db *engine.DB) (map[string]string, error) {
	it, err := db.NewIter(ctx, nil)
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	for ok := it.First(); ok; ok = it.Next() {
		out[string(it.Key())] = string(it.Value())
	}
	if err := it.Error(); err != nil {
		it.Close()
		return nil, err
	}
	return out, it.Close()
}

// batches checks that state holds only whole, correct batches and returns
// their ids. A key that belongs to no batch, a wrong value, or a batch with
// some of its keys missing is an error: an unacknowledged batch may be
// visible after a crash, but only entirely.
func batches(state map[string]string) (map[string]bool, error) {
	count := map[string]int{}
	for k, v := range state {
		id, _, ok := ParseKey(k)
		if !ok {
			return nil, fmt.Errorf("unexpected key %q", k)
		}
		if want := string(Value(k, ValueSize(k))); v != want {
			return nil, fmt.Errorf("key %q has a wrong value (%d bytes, want %d): %.60q", k, len(v), len(want), v)
		}
		count[id]++
	}
	ids := map[string]bool{}
	var partial []string
	for id, n := range count {
		if n != BatchSize(id) {
			partial = append(partial, fmt.Sprintf("%s (%d of %d keys)", id, n, BatchSize(id)))
		}
		ids[id] = true
	}
	if len(partial) > 0 {
		sort.Strings(partial)
		return nil, fmt.Errorf("%d batches are partially visible: %v", len(partial), partial[:min(len(partial), 10)])
	}
	return ids, nil
}

// ledger is what the test knows about one store: every batch ever
// acknowledged, and every batch a check ever saw. Both only grow: a batch
// once seen is in the replayed prefix of the log, which no later recovery
// may change.
type ledger struct {
	mu    sync.Mutex
	acked map[string]bool
	seen  map[string]bool
}

func newLedger() *ledger { return &ledger{acked: map[string]bool{}, seen: map[string]bool{}} }

func (l *ledger) ack(id string) {
	l.mu.Lock()
	l.acked[id] = true
	l.mu.Unlock()
}

func (l *ledger) ackedCopy() map[string]bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return maps.Clone(l.acked)
}

// checkResult summarises one verification.
type checkResult struct {
	visible       int // batches visible
	acked         int // batches ever acknowledged
	unackedInView int // visible batches never acknowledged (in flight at a crash)
}

func (r checkResult) String() string {
	return fmt.Sprintf("%d batches visible, %d acknowledged, %d visible but never acknowledged", r.visible, r.acked, r.unackedInView)
}

// verify recovers store as a restarted process would, twice, and checks
// the promise against the ledger: every acknowledged batch is present with
// its exact values, every batch is whole, everything seen before is still
// there, and the second recovery finds exactly what the first did.
func (l *ledger) verify(t *testing.T, ctx context.Context, store objstore.Store) checkResult {
	t.Helper()
	opts := engine.Options{Store: store, GCInterval: -1, DisableAutoCompaction: true}
	var states [2]map[string]string
	for i := range states {
		db, err := engine.Open(ctx, opts)
		if err != nil {
			t.Fatalf("recovery %d: open: %v", i+1, err)
		}
		states[i], err = scan(ctx, db)
		if err == nil && i == 0 {
			err = l.pointReads(ctx, db)
		}
		if cerr := db.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			t.Fatalf("recovery %d: %v", i+1, err)
		}
	}
	if !maps.Equal(states[0], states[1]) {
		t.Fatalf("the second recovery differs from the first: %d vs %d keys", len(states[0]), len(states[1]))
	}
	ids, err := batches(states[0])
	if err != nil {
		t.Fatal(err)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	var lost, vanished []string
	for id := range l.acked {
		if !ids[id] {
			lost = append(lost, id)
		}
	}
	for id := range l.seen {
		if !ids[id] && !l.acked[id] {
			vanished = append(vanished, id)
		}
	}
	if len(lost) > 0 {
		slices.Sort(lost)
		t.Fatalf("%d acknowledged batches are lost, e.g. %v", len(lost), lost[:min(len(lost), 10)])
	}
	if len(vanished) > 0 {
		slices.Sort(vanished)
		t.Fatalf("%d batches visible in an earlier recovery have vanished, e.g. %v", len(vanished), vanished[:min(len(vanished), 10)])
	}
	res := checkResult{visible: len(ids), acked: len(l.acked)}
	for id := range ids {
		l.seen[id] = true
		if !l.acked[id] {
			res.unackedInView++
		}
	}
	return res
}

// pointReads reads a sample of acknowledged keys with Get, which takes a
// different path (bloom filters, single blocks) from the scan.
func (l *ledger) pointReads(ctx context.Context, db *engine.DB) error {
	l.mu.Lock()
	ids := slices.Sorted(maps.Keys(l.acked))
	l.mu.Unlock()
	step := max(1, len(ids)/200)
	for i := 0; i < len(ids); i += step {
		k := BatchKey(ids[i], BatchSize(ids[i])-1)
		v, err := db.Get(ctx, []byte(k))
		if err != nil {
			return fmt.Errorf("get acknowledged %q: %w", k, err)
		}
		if string(v) != string(Value(k, ValueSize(k))) {
			return fmt.Errorf("get acknowledged %q: wrong value", k)
		}
	}
	return nil
}
