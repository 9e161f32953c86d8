package engine

import (
	"context"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/s2lite/s2lite/objstore"
)

// heldWALStore holds every WAL PUT until released, once holding is on
// (Open writes a fence of its own), and counts how many are held at once.
type heldWALStore struct {
	objstore.Store
	holding atomic.Bool
	mu      sync.Mutex
	held    int
	release chan struct{}
}

func (s *heldWALStore) PutIfAbsent(ctx context.Context, key string, data []byte) (string, error) {
	if s.holding.Load() && strings.HasPrefix(key, walPrefix) {
		s.mu.Lock()
		s.held++
		s.mu.Unlock()
		select {
		case <-s.release:
		case <-ctx.Done():
		}
		s.mu.Lock()
		s.held--
		s.mu.Unlock()
	}
	return s.Store.PutIfAbsent(ctx, key, data)
}

func (s *heldWALStore) heldNow() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.held
}

// waitHeld waits until exactly n WAL PUTs are held, and checks that no more
// start within a short while.
func (s *heldWALStore) expectHeld(t *testing.T, n int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for s.heldNow() < n {
		if time.Now().After(deadline) {
			t.Fatalf("%d WAL PUTs in flight, want %d", s.heldNow(), n)
		}
		time.Sleep(time.Millisecond)
	}
	time.Sleep(50 * time.Millisecond)
	if got := s.heldNow(); got != n {
		t.Fatalf("%d WAL PUTs in flight, want %d", got, n)
	}
}

// TestWALParallelBytes: while a WAL PUT is in flight, small writes wait and
// go together in the next object instead of starting concurrent PUTs; once
// enough bytes wait, more PUTs start, up to WALMaxInFlight. With the gate
// disabled every free slot starts a PUT.
func TestWALParallelBytes(t *testing.T) {
	ctx := context.Background()
	submit := func(t *testing.T, db *DB, valueBytes int) *PendingWrite {
		t.Helper()
		b := NewBatch()
		b.Set([]byte("k"), make([]byte, valueBytes))
		p, err := db.Submit(ctx, b)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	open := func(t *testing.T, gate int) (*DB, *heldWALStore) {
		store := &heldWALStore{Store: objstore.NewMemory(), release: make(chan struct{})}
		db := mustOpen(t, Options{Store: store, WALMaxInFlight: 4, WALParallelBytes: gate})
		store.holding.Store(true)
		return db, store
	}

	t.Run("gated", func(t *testing.T) {
		db, store := open(t, 64<<10)
		defer db.Close()
		var ps []*PendingWrite
		ps = append(ps, submit(t, db, 100))
		store.expectHeld(t, 1)
		for range 10 {
			ps = append(ps, submit(t, db, 100)) // 1 KiB waiting: below the gate
		}
		store.expectHeld(t, 1)
		ps = append(ps, submit(t, db, 70<<10)) // past 64 KiB: a second PUT
		store.expectHeld(t, 2)
		ps = append(ps, submit(t, db, 100)) // 100 B waiting, gate now 128 KiB
		store.expectHeld(t, 2)
		close(store.release)
		for _, p := range ps {
			if err := p.Wait(ctx); err != nil {
				t.Fatal(err)
			}
		}
		// The first write alone, the next 11 together, then the last. The
		// counter is bumped just after a group's writers are told, so it
		// may lag the last Wait by a moment.
		for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(time.Millisecond) {
			got := db.Metrics().GroupsCommitted
			if got == 3 {
				break
			}
			if got > 3 || time.Now().After(deadline) {
				t.Fatalf("%d WAL objects with writes, want 3", got)
			}
		}
	})

	t.Run("disabled", func(t *testing.T) {
		db, store := open(t, -1)
		defer db.Close()
		var ps []*PendingWrite
		for i := range 6 {
			ps = append(ps, submit(t, db, 100))
			store.expectHeld(t, min(i+1, 4))
		}
		close(store.release)
		for _, p := range ps {
			if err := p.Wait(ctx); err != nil {
				t.Fatal(err)
			}
		}
	})
}
