// Package membudget is one server-wide budget of memory, in bytes, that
// every large consumer reserves from before it allocates and returns to
// when done: request bodies as their bytes arrive, decoded append inputs,
// S2S frames, read-session buffers. A consumer that cannot get memory
// fails fast with ErrExhausted (the server answers 429, retryable) or, in
// Wait, waits for others to return theirs.
//
// It is written here rather than taken from golang.org/x/sync/semaphore
// because the server needs what a semaphore does not say: how much is in
// use and at peak (metrics, returning memory to the OS after a burst) and
// whether a reservation was refused lately (readiness).
package membudget

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"
)

// ErrExhausted is returned when a reservation does not fit in the budget.
var ErrExhausted = errors.New("server memory budget exhausted")

// Budget is a limit on the bytes reserved at once. A nil *Budget is
// unlimited and keeps no account.
type Budget struct {
	limit int64
	now   func() time.Time

	mu        sync.Mutex
	used      int64
	peak      int64
	refusedAt time.Time
	freed     chan struct{} // closed and replaced on every release
}

// New returns a budget of limit bytes.
func New(limit int64) *Budget {
	return &Budget{limit: limit, now: time.Now, freed: make(chan struct{})}
}

// Limit is the budget's size in bytes.
func (b *Budget) Limit() int64 {
	if b == nil {
		return 0
	}
	return b.limit
}

// Used is the number of bytes reserved now.
func (b *Budget) Used() int64 {
	if b == nil {
		return 0
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.used
}

// TakePeak returns the most bytes reserved at once since the last call,
// and starts a new period at the current use.
func (b *Budget) TakePeak() int64 {
	if b == nil {
		return 0
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	p := b.peak
	b.peak = b.used
	return p
}

// RefusedWithin reports whether a reservation was refused in the last d.
func (b *Budget) RefusedWithin(d time.Duration) bool {
	if b == nil {
		return false
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	return !b.refusedAt.IsZero() && b.now().Sub(b.refusedAt) < d
}

// TryReserve reserves n bytes if they fit, and reports whether they did.
func (b *Budget) TryReserve(n int64) bool {
	if b == nil || n <= 0 {
		return true
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.used+n > b.limit {
		b.refusedAt = b.now()
		return false
	}
	b.add(n)
	return true
}

// force reserves n bytes even past the limit: for memory already
// allocated, which must be accounted for so that others wait.
func (b *Budget) force(n int64) {
	if b == nil || n <= 0 {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.add(n)
}

func (b *Budget) add(n int64) {
	b.used += n
	b.peak = max(b.peak, b.used)
}

// Release returns n bytes.
func (b *Budget) Release(n int64) {
	if b == nil || n <= 0 {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.used -= n
	if b.used < 0 {
		panic("membudget: released more than reserved")
	}
	close(b.freed)
	b.freed = make(chan struct{})
}

// Reserve reserves n bytes, waiting for others to release memory until
// ctx ends (its error is returned) or maxWait passes (ErrExhausted). A
// request larger than the whole budget fails at once.
func (b *Budget) Reserve(ctx context.Context, n int64, maxWait time.Duration) error {
	if b == nil || n <= 0 {
		return nil
	}
	if n > b.limit {
		b.TryReserve(n) // records the refusal
		return ErrExhausted
	}
	var timeout <-chan time.Time
	for {
		b.mu.Lock()
		if b.used+n <= b.limit {
			b.add(n)
			b.mu.Unlock()
			return nil
		}
		b.refusedAt = b.now()
		freed := b.freed
		b.mu.Unlock()
		if timeout == nil {
			t := time.NewTimer(maxWait)
			defer t.Stop()
			timeout = t.C
		}
		select {
		case <-freed:
		case <-timeout:
			return ErrExhausted
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// Lease is one consumer's share of a budget (a request, a session): it
// grows and shrinks with the consumer's memory and returns everything on
// Close. A Lease is safe for concurrent use; a nil *Lease does nothing.
type Lease struct {
	b    *Budget
	held atomic.Int64
}

// NewLease starts an empty lease on b (nil when b is nil).
func (b *Budget) NewLease() *Lease {
	if b == nil {
		return nil
	}
	return &Lease{b: b}
}

// Grow reserves n more bytes, failing fast with ErrExhausted.
func (l *Lease) Grow(n int64) error {
	if l == nil || n <= 0 {
		return nil
	}
	if !l.b.TryReserve(n) {
		return ErrExhausted
	}
	l.held.Add(n)
	return nil
}

// GrowWait reserves n more bytes, waiting as Budget.Reserve does.
func (l *Lease) GrowWait(ctx context.Context, n int64, maxWait time.Duration) error {
	if l == nil || n <= 0 {
		return nil
	}
	if err := l.b.Reserve(ctx, n, maxWait); err != nil {
		return err
	}
	l.held.Add(n)
	return nil
}

// Account records n bytes already allocated, even past the limit.
func (l *Lease) Account(n int64) {
	if l == nil || n <= 0 {
		return
	}
	l.b.force(n)
	l.held.Add(n)
}

// Shrink returns n bytes (at most what the lease holds).
func (l *Lease) Shrink(n int64) {
	if l == nil || n <= 0 {
		return
	}
	for {
		h := l.held.Load()
		m := min(n, h)
		if l.held.CompareAndSwap(h, h-m) {
			l.b.Release(m)
			return
		}
	}
}

// Held is what the lease holds now.
func (l *Lease) Held() int64 {
	if l == nil {
		return 0
	}
	return l.held.Load()
}

// Close returns everything the lease holds.
func (l *Lease) Close() {
	if l == nil {
		return
	}
	l.b.Release(l.held.Swap(0))
}
