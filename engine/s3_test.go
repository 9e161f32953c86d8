package engine

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/s2lite/s2lite/internal/s3test"
)

// TestModelS3 runs the randomized model test against a real MinIO.
func TestModelS3(t *testing.T) {
	store := s3test.Store(t)
	steps := 600
	if testing.Short() {
		steps = 300
	}
	runModel(t, store, 11, steps)
}

// TestFencingS3: a second writer on the same bucket path fences the first;
// the first acknowledges nothing afterwards, and nothing either acknowledged
// is lost.
func TestFencingS3(t *testing.T) {
	ctx := context.Background()
	store := s3test.Store(t)
	a := mustOpen(t, Options{Store: store})
	defer a.Close()
	var acked sync.Map
	var wg sync.WaitGroup
	stop := make(chan struct{})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			b := NewBatch()
			k := fmt.Sprintf("a%05d", i)
			b.Set([]byte(k), []byte(k))
			err := a.Write(ctx, b)
			if err == nil {
				acked.Store(k, true)
				continue
			}
			if !errors.Is(err, ErrFenced) {
				t.Errorf("writer a: %v", err)
			}
			return
		}
	}()
	// Let a write for a while, then open b.
	for a.Metrics().WritesCommitted < 20 {
		time.Sleep(time.Millisecond)
	}
	b := mustOpen(t, Options{Store: store})
	defer b.Close()
	close(stop)
	wg.Wait()
	batch := NewBatch()
	batch.Set([]byte("after"), []byte("x"))
	if err := a.Write(ctx, batch); !errors.Is(err, ErrFenced) {
		t.Fatalf("write by fenced writer: got %v, want ErrFenced", err)
	}
	if err := b.Write(ctx, batch); err != nil {
		t.Fatal(err)
	}
	n := 0
	acked.Range(func(k, _ any) bool {
		n++
		if v, err := b.Get(ctx, []byte(k.(string))); err != nil || string(v) != k.(string) {
			t.Fatalf("acknowledged %s lost after fencing: %q, %v", k, v, err)
		}
		return true
	})
	if n < 20 {
		t.Fatalf("only %d writes acknowledged", n)
	}
}
