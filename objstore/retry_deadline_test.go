package objstore_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/s2lite/s2lite/objstore"
)

// hangingStore blocks every Put until the context ends, as a store that
// stopped answering does.
type hangingStore struct{ objstore.Store }

func (hangingStore) Put(ctx context.Context, key string, data []byte) (string, error) {
	<-ctx.Done()
	return "", ctx.Err()
}

// TestRetryDeadlineIsNotACallerTimeout: when the retry budget runs out, the
// error says so, is transient, and is not a context error, because the
// caller's own context is still live (a server must not answer it as the
// client's request timing out).
func TestRetryDeadlineIsNotACallerTimeout(t *testing.T) {
	s := objstore.NewRetrying(hangingStore{objstore.NewMemory()}, objstore.RetryOptions{Deadline: 50 * time.Millisecond})
	_, err := s.Put(context.Background(), "k", []byte("v"))
	if !errors.Is(err, objstore.ErrRetryDeadline) || !objstore.IsTransient(err) {
		t.Fatalf("got %v; want a transient ErrRetryDeadline", err)
	}
	if errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("a spent retry budget looks like the caller's timeout: %v", err)
	}
}
