package objstore_test

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/s2lite/s2lite/objstore"
)

func TestCounting(t *testing.T) {
	ctx := context.Background()
	c := objstore.NewCounting(objstore.NewMemory())

	etag := mustPut(t, ctx, c, "a", make([]byte, 100))
	mustPut(t, ctx, c, "b", make([]byte, 50))
	mustGet(t, ctx, c, "a")
	if _, _, err := c.Get(ctx, "missing"); !errors.Is(err, objstore.ErrNotFound) {
		t.Fatal(err)
	}
	if _, err := c.GetRange(ctx, "a", 10, 20); err != nil {
		t.Fatal(err)
	}
	if _, err := c.PutIfAbsent(ctx, "c", make([]byte, 7)); err != nil {
		t.Fatal(err)
	}
	if _, err := c.PutIfAbsent(ctx, "c", make([]byte, 7)); !errors.Is(err, objstore.ErrPreconditionFailed) {
		t.Fatal(err)
	}
	if _, err := c.PutIfMatch(ctx, "a", make([]byte, 3), etag); err != nil {
		t.Fatal(err)
	}
	if err := c.Delete(ctx, "b"); err != nil {
		t.Fatal(err)
	}
	before := c.Stats()
	if _, err := c.List(ctx, "", "", 0); err != nil {
		t.Fatal(err)
	}

	want := objstore.CountingStats{
		Get:         objstore.OpStats{Requests: 2, Errors: 1, Bytes: 100},
		GetRange:    objstore.OpStats{Requests: 1, Bytes: 20},
		Put:         objstore.OpStats{Requests: 2, Bytes: 150},
		PutIfAbsent: objstore.OpStats{Requests: 2, Errors: 1, Bytes: 7},
		PutIfMatch:  objstore.OpStats{Requests: 1, Bytes: 3},
		Delete:      objstore.OpStats{Requests: 1},
		List:        objstore.OpStats{Requests: 1, Bytes: 2}, // a and c
	}
	if got := c.Stats(); got != want {
		t.Fatalf("Stats = %+v\nwant    %+v", got, want)
	}
	if got, want := c.Stats().Total(), (objstore.OpStats{Requests: 10, Errors: 2, Bytes: 282}); got != want {
		t.Errorf("Total = %+v, want %+v", got, want)
	}
	if got := c.Stats().Sub(before); got != (objstore.CountingStats{List: objstore.OpStats{Requests: 1, Bytes: 2}}) {
		t.Errorf("Sub = %+v, want just the List", got)
	}
}

func TestCountingConcurrent(t *testing.T) {
	ctx := context.Background()
	c := objstore.NewCounting(objstore.NewMemory())
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 100 {
				if _, err := c.Put(ctx, "k", []byte("xy")); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	if got := c.Stats().Put; got != (objstore.OpStats{Requests: 800, Bytes: 1600}) {
		t.Fatalf("Put stats = %+v", got)
	}
}
