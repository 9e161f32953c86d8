package objstore

import (
	"context"
	"errors"
	"testing"
)

func TestPrefixedKeepsKeysApart(t *testing.T) {
	ctx := context.Background()
	base := NewMemory()
	a, b := WithPrefix(base, "p/1/"), WithPrefix(base, "p/2/")
	if _, err := a.Put(ctx, "wal/1", []byte("a")); err != nil {
		t.Fatal(err)
	}
	if _, err := b.PutIfAbsent(ctx, "wal/1", []byte("b")); err != nil {
		t.Fatalf("same key in another prefix: %v", err)
	}
	if _, err := a.PutIfAbsent(ctx, "wal/1", []byte("x")); !errors.Is(err, ErrPreconditionFailed) {
		t.Fatalf("put-if-absent over an existing key: %v", err)
	}
	got, _, err := b.Get(ctx, "wal/1")
	if err != nil || string(got) != "b" {
		t.Fatalf("b: %q %v", got, err)
	}
	if _, err := a.Put(ctx, "wal/2", []byte("a2")); err != nil {
		t.Fatal(err)
	}
	infos, err := a.List(ctx, "wal/", "wal/1", 0)
	if err != nil || len(infos) != 1 || infos[0].Key != "wal/2" {
		t.Fatalf("list after wal/1: %+v %v", infos, err)
	}
	all, err := base.List(ctx, "", "", 0)
	if err != nil || len(all) != 3 || all[0].Key != "p/1/wal/1" {
		t.Fatalf("base keys: %+v %v", all, err)
	}
	if WithPrefix(base, "") != Store(base) {
		t.Fatal("an empty prefix must return the store itself")
	}
}
