package crashtest

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/s2lite/s2lite/engine"
	"github.com/s2lite/s2lite/objstore"
)

// manifestOutage wraps a store. Once armed, the next manifest version PUT
// takes effect but reports a transient failure, and every manifest PUT
// after it fails too until healed: the reply of a successful PUT was lost,
// then storage went away for longer than the retry deadline.
type manifestOutage struct {
	objstore.Store
	mu    sync.Mutex
	state int // 0 passing, 1 armed, 2 down
}

func (m *manifestOutage) set(state int) {
	m.mu.Lock()
	m.state = state
	m.mu.Unlock()
}

func (m *manifestOutage) PutIfAbsent(ctx context.Context, key string, data []byte) (string, error) {
	if !strings.HasPrefix(key, "manifest/0") {
		return m.Store.PutIfAbsent(ctx, key, data)
	}
	m.mu.Lock()
	state := m.state
	if state == 1 {
		m.state = 2
	}
	m.mu.Unlock()
	switch state {
	case 1:
		if _, err := m.Store.PutIfAbsent(ctx, key, data); err != nil {
			return "", err
		}
		return "", objstore.Transient(fmt.Errorf("put %s: reply lost", key))
	case 2:
		return "", objstore.Transient(fmt.Errorf("put %s: storage unavailable", key))
	}
	return m.Store.PutIfAbsent(ctx, key, data)
}

// TestManifestReplyLostThenOutage: a flush's manifest version lands, the
// reply is lost and the retries run out of time. The flush is retried with
// a new table and the same version number, which now holds other bytes.
// The engine must recognise its own earlier version (by the writer identity
// in it) and adopt it, not take the conflict for a newer writer and fence
// itself for good; it recovers by itself when storage heals.
func TestManifestReplyLostThenOutage(t *testing.T) {
	ctx := context.Background()
	mem := objstore.NewMemory()
	outage := &manifestOutage{Store: mem}
	store := objstore.NewRetrying(outage, objstore.RetryOptions{
		InitialBackoff: time.Millisecond, MaxBackoff: 10 * time.Millisecond, Deadline: 100 * time.Millisecond,
	})
	db, err := engine.Open(ctx, engine.Options{Store: store, GCInterval: -1, DisableAutoCompaction: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	l := newLedger()
	write := func(run, n int) error {
		for i := range n {
			id := BatchID(run, 0, i)
			if err := db.Write(ctx, NewBatch(id)); err != nil {
				return fmt.Errorf("batch %s: %w", id, err)
			}
			l.ack(id)
		}
		return nil
	}
	if err := write(1, 20); err != nil {
		t.Fatal(err)
	}

	// The flush's manifest version lands, its reply is lost, and storage
	// stays down past the retry deadline.
	outage.set(1)
	fctx, cancel := context.WithTimeout(ctx, 400*time.Millisecond)
	ferr := db.Flush(fctx)
	cancel()
	t.Logf("flush during the outage: %v", ferr)
	outage.set(0)

	// Storage is healthy again; give the flusher time to retry.
	time.Sleep(300 * time.Millisecond)
	werr := write(2, 20)
	t.Logf("engine state after storage healed: %v", db.Err())

	// Whatever happened, nothing acknowledged may be lost.
	db.Close()
	res := l.verify(t, ctx, mem)
	t.Logf("recovered: %v", res)
	if werr != nil {
		t.Fatalf("the engine did not recover after storage healed: %v", werr)
	}
}

// holdOneWALPut wraps a store: once armed with a key, the PUT of that key
// hangs until released and then fails without reaching the store, while
// other PUTs go through. A crash at that moment leaves a gap in the log with an object
// after it, as a process death with several PUTs in flight does.
type holdOneWALPut struct {
	objstore.Store
	mu      sync.Mutex
	armed   string
	release chan struct{}
}

func (h *holdOneWALPut) PutIfAbsent(ctx context.Context, key string, data []byte) (string, error) {
	h.mu.Lock()
	hold := key == h.armed
	if hold {
		h.armed = ""
	}
	h.mu.Unlock()
	if hold {
		<-h.release
		return "", fmt.Errorf("put %s: the process died", key)
	}
	return h.Store.PutIfAbsent(ctx, key, data)
}

// TestFirstWriteAfterGapRecovery: after recovering a log with a gap
// followed by an orphaned object (both from the crashed writer), Open fences
// the gap and must then skip past the orphan, so that the new writer's first
// writes do not collide with it and fail against a healthy store. A heal
// after in-flight PUTs failed out of order relies on the same skip.
func TestFirstWriteAfterGapRecovery(t *testing.T) {
	ctx := context.Background()
	mem := objstore.NewMemory()
	hold := &holdOneWALPut{Store: mem, release: make(chan struct{})}
	// Two tiny writes must have PUTs in flight at once: no concurrency gate.
	old, err := engine.Open(ctx, engine.Options{Store: hold, GCInterval: -1, DisableAutoCompaction: true, WALParallelBytes: -1})
	if err != nil {
		t.Fatal(err)
	}
	if err := old.Write(ctx, NewBatch(BatchID(1, 0, 0))); err != nil {
		t.Fatal(err)
	}
	before, err := mem.List(ctx, "wal/", "", 0)
	if err != nil {
		t.Fatal(err)
	}
	next, err := strconv.ParseUint(strings.TrimPrefix(before[len(before)-1].Key, "wal/"), 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	hold.mu.Lock()
	hold.armed = fmt.Sprintf("wal/%020d", next+1)
	hold.mu.Unlock()
	// The first of these hangs; the second lands after the gap it leaves.
	for i := 1; i <= 2; i++ {
		if _, err := old.Submit(ctx, NewBatch(BatchID(1, 0, i))); err != nil {
			t.Fatal(err)
		}
	}
	for deadline := time.Now().Add(5 * time.Second); ; {
		after, err := mem.List(ctx, "wal/", "", 0)
		if err != nil {
			t.Fatal(err)
		}
		if len(after) > len(before) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the second PUT never landed")
		}
		time.Sleep(time.Millisecond)
	}

	// The old writer is now as good as dead; a new one recovers.
	db, err := engine.Open(ctx, engine.Options{Store: mem, GCInterval: -1, DisableAutoCompaction: true})
	if err != nil {
		t.Fatal(err)
	}
	werr := db.Write(ctx, NewBatch(BatchID(2, 0, 0)))
	close(hold.release)
	old.Close()
	db.Close()
	if werr != nil {
		t.Fatalf("the first write after recovery failed on a healthy store: %v", werr)
	}
}
