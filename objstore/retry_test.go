package objstore_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/s2lite/s2lite/objstore"
)

var errBoom = errors.New("boom")

// flaky is a test double for the retry wrapper: a Memory whose next
// failures calls fail with failErr. If applyOnFailure is set, a failing put
// is applied before the error is returned, like a lost response.
type flaky struct {
	*objstore.Memory
	failures       atomic.Int64
	calls          atomic.Int64
	failErr        error
	applyOnFailure bool
	hang           bool // block until ctx is done instead of answering
}

func newFlaky(failures int, failErr error) *flaky {
	f := &flaky{Memory: objstore.NewMemory(), failErr: failErr}
	f.failures.Store(int64(failures))
	return f
}

func (f *flaky) fail(ctx context.Context) error {
	f.calls.Add(1)
	if f.hang {
		<-ctx.Done()
		return fmt.Errorf("flaky: %w", ctx.Err())
	}
	if f.failures.Add(-1) >= 0 {
		return f.failErr
	}
	return nil
}

func (f *flaky) Get(ctx context.Context, key string) ([]byte, string, error) {
	if err := f.fail(ctx); err != nil {
		return nil, "", err
	}
	return f.Memory.Get(ctx, key)
}

func (f *flaky) PutIfAbsent(ctx context.Context, key string, data []byte) (string, error) {
	if err := f.fail(ctx); err != nil {
		if f.applyOnFailure {
			f.Memory.PutIfAbsent(ctx, key, data)
		}
		return "", err
	}
	return f.Memory.PutIfAbsent(ctx, key, data)
}

func fastRetry() objstore.RetryOptions {
	return objstore.RetryOptions{InitialBackoff: time.Millisecond, MaxBackoff: 5 * time.Millisecond, Deadline: 5 * time.Second}
}

func TestTransient(t *testing.T) {
	err := objstore.Transient(errBoom)
	if !errors.Is(err, objstore.ErrTransient) || !errors.Is(err, errBoom) || !objstore.IsTransient(err) {
		t.Fatalf("Transient(boom) = %v: does not match both", err)
	}
	if err.Error() != "boom" {
		t.Errorf("message = %q, want the original", err.Error())
	}
	wrapped := fmt.Errorf("context: %w", err)
	if !objstore.IsTransient(wrapped) || !errors.Is(wrapped, errBoom) {
		t.Errorf("wrapping loses transience: %v", wrapped)
	}
	if objstore.Transient(nil) != nil {
		t.Error("Transient(nil) != nil")
	}
	if objstore.IsTransient(errBoom) || objstore.IsTransient(nil) {
		t.Error("plain errors reported transient")
	}
}

func TestRetryRecovers(t *testing.T) {
	ctx := context.Background()
	f := newFlaky(3, objstore.Transient(errBoom))
	mustPut(t, ctx, f.Memory, "k", []byte("v"))
	var logs bytes.Buffer
	var mu sync.Mutex
	opts := fastRetry()
	opts.Logger = slog.New(slog.NewTextHandler(lockedWriter{&mu, &logs}, nil))
	s := objstore.NewRetrying(f, opts)

	data, _, err := s.Get(ctx, "k")
	if err != nil || string(data) != "v" {
		t.Fatalf("Get = %q, %v", data, err)
	}
	if n := f.calls.Load(); n != 4 {
		t.Errorf("calls = %d, want 4", n)
	}
	mu.Lock()
	defer mu.Unlock()
	if got := strings.Count(logs.String(), "retrying"); got != 3 {
		t.Errorf("logged %d retries, want 3:\n%s", got, logs.String())
	}
}

type lockedWriter struct {
	mu *sync.Mutex
	w  *bytes.Buffer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func TestRetryReturnsPermanentErrorsAtOnce(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		err  error
	}{
		{"plain", errBoom},
		{"not found", objstore.ErrNotFound},
		// Even if something marks them transient, these answers are final.
		{"transient not found", objstore.Transient(objstore.ErrNotFound)},
		{"precondition", objstore.ErrPreconditionFailed},
		{"canceled", context.Canceled},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFlaky(100, tc.err)
			s := objstore.NewRetrying(f, fastRetry())
			_, _, err := s.Get(ctx, "k")
			if !errors.Is(err, tc.err) {
				t.Fatalf("Get: %v, want %v", err, tc.err)
			}
			if n := f.calls.Load(); n != 1 {
				t.Errorf("calls = %d, want 1", n)
			}
		})
	}
}

func TestRetryPutIfAbsentPreconditionNotRetried(t *testing.T) {
	ctx := context.Background()
	f := newFlaky(0, nil)
	mustPut(t, ctx, f.Memory, "k", []byte("taken"))
	s := objstore.NewRetrying(f, fastRetry())
	if _, err := s.PutIfAbsent(ctx, "k", []byte("mine")); !errors.Is(err, objstore.ErrPreconditionFailed) {
		t.Fatalf("PutIfAbsent: %v, want ErrPreconditionFailed", err)
	}
	if n := f.calls.Load(); n != 1 {
		t.Errorf("calls = %d, want 1", n)
	}
}

// The documented ambiguity: the first attempt lands, its answer is lost,
// and the retry reports the caller's own write as a lost race.
func TestRetryAmbiguousPutIfAbsent(t *testing.T) {
	ctx := context.Background()
	f := newFlaky(1, objstore.Transient(errBoom))
	f.applyOnFailure = true
	s := objstore.NewRetrying(f, fastRetry())
	if _, err := s.PutIfAbsent(ctx, "k", []byte("mine")); !errors.Is(err, objstore.ErrPreconditionFailed) {
		t.Fatalf("PutIfAbsent: %v, want ErrPreconditionFailed", err)
	}
	// Reading back resolves it.
	if data, _ := mustGet(t, ctx, f.Memory, "k"); string(data) != "mine" {
		t.Fatalf("stored %q", data)
	}
}

func TestRetryDeadline(t *testing.T) {
	ctx := context.Background()
	f := newFlaky(1<<30, objstore.Transient(errBoom))
	s := objstore.NewRetrying(f, objstore.RetryOptions{
		InitialBackoff: time.Millisecond, MaxBackoff: 10 * time.Millisecond, Deadline: 100 * time.Millisecond,
	})
	start := time.Now()
	_, _, err := s.Get(ctx, "k")
	elapsed := time.Since(start)
	if !objstore.IsTransient(err) || !errors.Is(err, errBoom) {
		t.Fatalf("Get: %v, want the transient boom", err)
	}
	if elapsed < 100*time.Millisecond || elapsed > 2*time.Second {
		t.Errorf("gave up after %v, want about 100ms", elapsed)
	}
	if n := f.calls.Load(); n < 3 {
		t.Errorf("only %d calls before the deadline", n)
	}
}

// A request that hangs is cut off at the deadline and reported as
// transient, not as the caller's context expiring.
func TestRetryDeadlineCutsHangingAttempt(t *testing.T) {
	f := newFlaky(0, nil)
	f.hang = true
	s := objstore.NewRetrying(f, objstore.RetryOptions{Deadline: 50 * time.Millisecond})
	start := time.Now()
	_, _, err := s.Get(context.Background(), "k")
	if !objstore.IsTransient(err) {
		t.Fatalf("Get: %v, want transient", err)
	}
	if elapsed := time.Since(start); elapsed > 2*time.Second {
		t.Errorf("took %v", elapsed)
	}
}

func TestRetryContextCancel(t *testing.T) {
	f := newFlaky(1<<30, objstore.Transient(errBoom))
	s := objstore.NewRetrying(f, objstore.RetryOptions{
		InitialBackoff: 5 * time.Millisecond, MaxBackoff: 20 * time.Millisecond, Deadline: time.Minute,
	})
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(50*time.Millisecond, cancel)
	start := time.Now()
	_, _, err := s.Get(ctx, "k")
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Get: %v, want context.Canceled", err)
	}
	if elapsed := time.Since(start); elapsed > 2*time.Second {
		t.Errorf("cancel took %v to take effect", elapsed)
	}

	// Already canceled: no attempt at all would be ideal, one is allowed.
	f.calls.Store(0)
	if _, _, err := s.Get(ctx, "k"); !errors.Is(err, context.Canceled) {
		t.Fatalf("Get with canceled ctx: %v", err)
	}
	if n := f.calls.Load(); n > 1 {
		t.Errorf("calls with canceled ctx = %d", n)
	}
}
