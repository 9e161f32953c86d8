package server

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/s2lite/s2lite/engine"
	"github.com/s2lite/s2lite/objstore"
)

// outageStore fails every request while down.
type outageStore struct {
	objstore.Store
	down atomic.Bool
}

var errOutage = errors.New("injected outage")

func (s *outageStore) GetRange(ctx context.Context, key string, off, n int64) ([]byte, error) {
	if s.down.Load() {
		return nil, errOutage
	}
	return s.Store.GetRange(ctx, key, off, n)
}

// TestReadyFollowsTheStore: /ready turns 503 within seconds of the store
// stopping to answer and back to 200 once it answers; /health, the
// liveness probe, stays 200 throughout.
func TestReadyFollowsTheStore(t *testing.T) {
	store := &outageStore{Store: objstore.NewMemory()}
	var db atomic.Pointer[engine.DB]
	e := newEnv(t, envOptions{store: store, server: Options{Durable: func() error {
		if d := db.Load(); d != nil {
			return d.StorageErr()
		}
		return nil
	}}})
	db.Store(e.db)
	ready := func() int { return e.call("GET", "/ready", nil).status }
	waitStatus := func(want int, within time.Duration) time.Duration {
		t.Helper()
		start := time.Now()
		for ready() != want {
			if time.Since(start) > within {
				t.Fatalf("/ready did not turn %d within %v", want, within)
			}
			time.Sleep(50 * time.Millisecond)
		}
		return time.Since(start)
	}
	waitStatus(http.StatusOK, 5*time.Second)
	store.down.Store(true)
	took := waitStatus(http.StatusServiceUnavailable, 10*time.Second)
	r := e.call("GET", "/ready", nil)
	if !strings.Contains(string(r.body), "did not answer") {
		t.Fatalf("/ready body %q", r.body)
	}
	if h := e.call("GET", "/health", nil); h.status != http.StatusOK {
		t.Fatalf("/health during a store outage: %s", h)
	}
	store.down.Store(false)
	back := waitStatus(http.StatusOK, 10*time.Second)
	t.Logf("/ready turned 503 %v after the outage began, 200 %v after it ended", took.Round(time.Millisecond), back.Round(time.Millisecond))
}
