package membudget

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"
)

func TestTryReserveAndRelease(t *testing.T) {
	b := New(100)
	if !b.TryReserve(60) || !b.TryReserve(40) {
		t.Fatal("reservations within the limit refused")
	}
	if b.RefusedWithin(time.Minute) {
		t.Fatal("refusal reported before any")
	}
	if b.TryReserve(1) {
		t.Fatal("reservation past the limit granted")
	}
	if !b.RefusedWithin(time.Minute) {
		t.Fatal("refusal not reported")
	}
	b.Release(60)
	if got := b.Used(); got != 40 {
		t.Fatalf("used %d, want 40", got)
	}
	if got := b.TakePeak(); got != 100 {
		t.Fatalf("peak %d, want 100", got)
	}
	if got := b.TakePeak(); got != 40 {
		t.Fatalf("peak after reset %d, want 40", got)
	}
}

func TestReleaseMoreThanReservedPanics(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("no panic")
		}
	}()
	New(10).Release(1)
}

func TestReserveWaitsForRelease(t *testing.T) {
	b := New(100)
	b.TryReserve(100)
	done := make(chan error, 1)
	go func() { done <- b.Reserve(context.Background(), 50, time.Minute) }()
	select {
	case err := <-done:
		t.Fatalf("reserve returned %v before memory was released", err)
	case <-time.After(20 * time.Millisecond):
	}
	b.Release(50)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if got := b.Used(); got != 100 {
		t.Fatalf("used %d, want 100", got)
	}
}

func TestReserveGivesUp(t *testing.T) {
	b := New(100)
	b.TryReserve(100)
	if err := b.Reserve(context.Background(), 1, 10*time.Millisecond); !errors.Is(err, ErrExhausted) {
		t.Fatalf("got %v, want ErrExhausted", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := b.Reserve(ctx, 1, time.Minute); !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v, want context.Canceled", err)
	}
	if err := New(10).Reserve(context.Background(), 11, time.Minute); !errors.Is(err, ErrExhausted) {
		t.Fatalf("larger than the budget: got %v", err)
	}
}

func TestLease(t *testing.T) {
	b := New(100)
	l := b.NewLease()
	if err := l.Grow(70); err != nil {
		t.Fatal(err)
	}
	if err := l.Grow(31); !errors.Is(err, ErrExhausted) {
		t.Fatalf("got %v, want ErrExhausted", err)
	}
	l.Account(50) // already allocated: accounted past the limit
	if got := b.Used(); got != 120 {
		t.Fatalf("used %d, want 120", got)
	}
	l.Shrink(1000)
	if l.Held() != 0 || b.Used() != 0 {
		t.Fatalf("held %d used %d after shrinking everything", l.Held(), b.Used())
	}
	_ = l.Grow(10)
	l.Close()
	l.Close()
	if b.Used() != 0 {
		t.Fatalf("used %d after close", b.Used())
	}
	var nilLease *Lease
	if err := nilLease.Grow(1 << 40); err != nil {
		t.Fatal("a nil lease refused")
	}
	nilLease.Close()
	var nilBudget *Budget
	if nilBudget.NewLease() != nil || !nilBudget.TryReserve(1<<40) {
		t.Fatal("a nil budget is not unlimited")
	}
}

// Concurrent leases never hold more than the limit and return to zero.
func TestConcurrentLeases(t *testing.T) {
	const limit = 1000
	b := New(limit)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			l := b.NewLease()
			defer l.Close()
			for i := range 2000 {
				n := int64((g*7+i)%50 + 1)
				if l.GrowWait(context.Background(), n, time.Second) == nil {
					if u := b.Used(); u > limit {
						t.Errorf("used %d past the limit", u)
					}
				}
				if i%3 == 0 {
					l.Shrink(n)
				}
				if l.Held() > limit/8 {
					l.Shrink(l.Held())
				}
			}
		})
	}
	wg.Wait()
	if b.Used() != 0 {
		t.Fatalf("used %d after every lease closed", b.Used())
	}
}
