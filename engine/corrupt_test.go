package engine

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/s2lite/s2lite/manifest"
	"github.com/s2lite/s2lite/objstore"
	"github.com/s2lite/s2lite/sst"
)

// flipByte corrupts one byte of an object in place.
func flipByte(t *testing.T, s objstore.Store, key string, at int) {
	t.Helper()
	ctx := context.Background()
	data, _, err := s.Get(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	data[at%len(data)] ^= 0x01
	if _, err := s.Put(ctx, key, data); err != nil {
		t.Fatal(err)
	}
}

func keysWithPrefix(t *testing.T, s objstore.Store, prefix string) []string {
	t.Helper()
	objs, err := s.List(context.Background(), prefix, "", 0)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, o := range objs {
		if !strings.HasSuffix(o.Key, "LATEST") {
			out = append(out, o.Key)
		}
	}
	return out
}

func writeN(t *testing.T, db *DB, n int) {
	t.Helper()
	for i := 0; i < n; i++ {
		b := NewBatch()
		b.Set([]byte(fmt.Sprintf("key%05d", i)), []byte(strings.Repeat("v", 100)))
		if err := db.Write(context.Background(), b); err != nil {
			t.Fatal(err)
		}
	}
}

func TestCorruptWALDetected(t *testing.T) {
	for _, at := range []int{0, 5, 9, 20, 60, -1} {
		store := objstore.NewMemory()
		db := mustOpen(t, Options{Store: store})
		writeN(t, db, 5)
		db.Close()
		wals := keysWithPrefix(t, store, walPrefix)
		target := wals[len(wals)-2] // a WAL object holding writes
		data, _, _ := store.Get(context.Background(), target)
		flipByte(t, store, target, (at+len(data))%len(data))
		_, err := Open(context.Background(), Options{Store: store})
		if !errors.Is(err, ErrCorruptWAL) {
			t.Fatalf("flip at %d of %s: Open returned %v, want ErrCorruptWAL", at, target, err)
		}
	}
}

func TestCorruptManifestDetected(t *testing.T) {
	store := objstore.NewMemory()
	db := mustOpen(t, Options{Store: store})
	writeN(t, db, 3)
	db.Close()
	mans := keysWithPrefix(t, store, "manifest/")
	flipByte(t, store, mans[len(mans)-1], 30)
	if _, err := Open(context.Background(), Options{Store: store}); !errors.Is(err, manifest.ErrCorrupt) {
		t.Fatalf("Open returned %v, want manifest.ErrCorrupt", err)
	}
}

func TestCorruptTableDetected(t *testing.T) {
	ctx := context.Background()
	store := objstore.NewMemory()
	db := mustOpen(t, Options{Store: store, Table: tableOptsSmall()})
	writeN(t, db, 200)
	if err := db.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	db.Close()
	tables := keysWithPrefix(t, store, "sst/")
	if len(tables) != 1 {
		t.Fatalf("want one table, have %v", tables)
	}
	data, _, _ := store.Get(ctx, tables[0])
	// Flip a byte in the data region and one in the metadata at the end.
	for _, at := range []int{100, len(data) - 30} {
		s2 := objstore.NewMemory()
		for _, k := range append(keysWithPrefix(t, store, ""), "manifest/LATEST") {
			if d, _, err := store.Get(ctx, k); err == nil {
				s2.Put(ctx, k, d)
			}
		}
		flipByte(t, s2, tables[0], at)
		db := mustOpen(t, Options{Store: s2})
		it, err := db.NewIter(ctx, nil)
		if err == nil {
			n := 0
			for ok := it.First(); ok; ok = it.Next() {
				if string(it.Value()) != strings.Repeat("v", 100) {
					t.Fatalf("corrupt table returned wrong data for %s", it.Key())
				}
				n++
			}
			err = it.Close()
			if err == nil && n == 200 {
				t.Fatalf("flip at %d went unnoticed", at)
			}
		}
		if !errors.Is(err, sst.ErrCorrupt) {
			t.Fatalf("flip at %d: got %v, want sst.ErrCorrupt", at, err)
		}
		db.Close()
	}
}
