package engine

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"go.uber.org/goleak"

	"github.com/s2lite/s2lite/objstore"
	"github.com/s2lite/s2lite/sst"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func mustOpen(t testing.TB, opts Options) *DB {
	t.Helper()
	db, err := Open(context.Background(), opts)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	return db
}

func mustGet(t testing.TB, db *DB, key string) string {
	t.Helper()
	v, err := db.Get(context.Background(), []byte(key))
	if err != nil {
		t.Fatalf("get %q: %v", key, err)
	}
	return string(v)
}

func TestWriteGetReopen(t *testing.T) {
	ctx := context.Background()
	store := objstore.NewMemory()
	db := mustOpen(t, Options{Store: store})
	for i := 0; i < 100; i++ {
		b := NewBatch()
		b.Set([]byte(fmt.Sprintf("k%03d", i)), []byte(fmt.Sprintf("v%d", i)))
		if err := db.Write(ctx, b); err != nil {
			t.Fatal(err)
		}
	}
	b := NewBatch()
	b.Delete([]byte("k005"))
	b.DeleteRange([]byte("k010"), []byte("k020"))
	if err := db.Write(ctx, b); err != nil {
		t.Fatal(err)
	}
	check := func(db *DB) {
		t.Helper()
		if got := mustGet(t, db, "k001"); got != "v1" {
			t.Fatalf("k001 = %q", got)
		}
		for _, k := range []string{"k005", "k010", "k019"} {
			if _, err := db.Get(ctx, []byte(k)); !errors.Is(err, ErrNotFound) {
				t.Fatalf("%s: want ErrNotFound, got %v", k, err)
			}
		}
		if got := mustGet(t, db, "k020"); got != "v20" {
			t.Fatalf("k020 = %q", got)
		}
		it, err := db.NewIter(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for ok := it.First(); ok; ok = it.Next() {
			n++
		}
		if err := it.Close(); err != nil {
			t.Fatal(err)
		}
		if n != 100-11 {
			t.Fatalf("iterated %d keys, want %d", n, 89)
		}
	}
	check(db)
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	db = mustOpen(t, Options{Store: store})
	check(db)
	if err := db.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if m := db.Metrics(); m.L0Tables != 1 {
		t.Fatalf("after flush: %d L0 tables", m.L0Tables)
	}
	check(db)
	db.Close()
	db = mustOpen(t, Options{Store: store})
	defer db.Close()
	check(db)
}

func tableOptsSmall() sst.WriterOptions { return sst.WriterOptions{BlockSize: 256} }
