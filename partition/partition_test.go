package partition

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/s2lite/s2lite/objstore"
)

// Home must never change for a given P: basins would be looked for where
// they are not. The pinned values are FNV-1a 64 residues computed
// independently of this code.
func TestHomeIsStable(t *testing.T) {
	for _, c := range []struct {
		basin string
		p     int
		want  int
	}{
		{"my-basin", 16, 7}, {"my-basin", 1024, 263},
		{"logs-prod", 16, 0}, {"logs-prod", 1024, 912},
		{"a-basin-name", 16, 0}, {"a-basin-name", 1024, 160},
	} {
		if got := Home(c.basin, c.p); got != c.want {
			t.Fatalf("Home(%q, %d) = %d, want %d", c.basin, c.p, got, c.want)
		}
	}
	seen := map[int]int{}
	for i := range 1600 {
		seen[Home(fmt.Sprintf("basin-%d", i), 16)]++
	}
	for p := range 16 {
		if seen[p] < 50 {
			t.Fatalf("1600 names spread badly over 16 partitions: %v", seen)
		}
	}
}

func TestEstablishAgreesUnderRaces(t *testing.T) {
	ctx := context.Background()
	store := objstore.NewMemory()
	if _, ok, err := Load(ctx, store); ok || err != nil {
		t.Fatalf("empty bucket: ok=%v err=%v", ok, err)
	}
	var wg sync.WaitGroup
	got := make([]Layout, 8)
	for i := range got {
		wg.Go(func() {
			l, err := Establish(ctx, store, 4+i)
			if err != nil {
				t.Error(err)
			}
			got[i] = l
		})
	}
	wg.Wait()
	for _, l := range got {
		if l != got[0] {
			t.Fatalf("nodes disagree on the layout: %+v", got)
		}
	}
	if l, err := Establish(ctx, store, 99); err != nil || l != got[0] {
		t.Fatalf("a later start changed the layout: %+v %v", l, err)
	}
	if _, err := Establish(ctx, objstore.NewMemory(), 0); !errors.Is(err, ErrBadLayout) {
		t.Fatalf("0 partitions: %v", err)
	}
	if _, err := store.Put(ctx, LayoutKey, []byte(`{"partitions":-3}`)); err != nil {
		t.Fatal(err)
	}
	if _, _, err := Load(ctx, store); !errors.Is(err, ErrBadLayout) {
		t.Fatalf("a damaged layout record must be named: %v", err)
	}
}

func TestFoundListsPartitionsWithADatabase(t *testing.T) {
	ctx := context.Background()
	store := objstore.NewMemory()
	l := Layout{Partitions: 4}
	for _, key := range []string{"manifest/00001", "p/1/manifest/00001", "p/3/wal/00001", "p/3/manifest/00002", "p/2/sst/00009"} {
		if _, err := store.Put(ctx, key, []byte("x")); err != nil {
			t.Fatal(err)
		}
	}
	got, err := Found(ctx, store, l)
	if err != nil || len(got) != 3 || got[0] != 1 || got[1] != 2 || got[2] != 3 {
		t.Fatalf("Found = %v, %v; want [1 2 3] (2 has no manifest: damaged, not absent)", got, err)
	}
	if Prefix(Root) != "" || Prefix(3) != "p/3/" || Name(Root) != "root" || Name(2) != "p2" {
		t.Fatal("prefixes or names changed")
	}
	if u := l.Units(); len(u) != 5 || u[0] != Root || u[4] != 3 {
		t.Fatalf("Units = %v", u)
	}
}
