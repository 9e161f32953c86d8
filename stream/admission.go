package stream

import (
	"context"
	"sync"
)

// admission is the server-wide budget of metered bytes in flight (accepted
// appends not yet durable). Waiters are served first come, first served,
// so a large batch is not starved by a stream of small ones.
type admission struct {
	mu       sync.Mutex
	capacity int64
	used     int64
	waiters  []*admissionWaiter
}

type admissionWaiter struct {
	n     int64
	ready chan struct{}
}

func newAdmission(capacity int64) *admission { return &admission{capacity: capacity} }

// acquire waits until n bytes fit, or ctx ends. n is at most the capacity.
func (a *admission) acquire(ctx context.Context, n int64) error {
	n = min(n, a.capacity)
	a.mu.Lock()
	if len(a.waiters) == 0 && a.used+n <= a.capacity {
		a.used += n
		a.mu.Unlock()
		return nil
	}
	w := &admissionWaiter{n: n, ready: make(chan struct{})}
	a.waiters = append(a.waiters, w)
	a.mu.Unlock()
	select {
	case <-w.ready:
		return nil
	case <-ctx.Done():
		a.mu.Lock()
		defer a.mu.Unlock()
		select {
		case <-w.ready:
			// Granted while we gave up: hand it back.
			a.used -= n
			a.grantLocked()
		default:
			for i, x := range a.waiters {
				if x == w {
					a.waiters = append(a.waiters[:i], a.waiters[i+1:]...)
					break
				}
			}
			// Removing the head may let the next waiters in.
			a.grantLocked()
		}
		return ctx.Err()
	}
}

// release returns n bytes taken by acquire.
func (a *admission) release(n int64) {
	a.mu.Lock()
	a.used -= min(n, a.capacity)
	a.grantLocked()
	a.mu.Unlock()
}

func (a *admission) grantLocked() {
	for len(a.waiters) > 0 && a.used+a.waiters[0].n <= a.capacity {
		w := a.waiters[0]
		a.waiters = a.waiters[1:]
		a.used += w.n
		close(w.ready)
	}
}

// inUse reports the bytes currently held (for tests and metrics).
func (a *admission) inUse() int64 {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.used
}
