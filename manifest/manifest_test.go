package manifest

import (
	"context"
	"errors"
	"testing"

	"go.uber.org/goleak"

	"github.com/s2lite/s2lite/objstore"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func sample(version uint64) *Manifest {
	return &Manifest{
		Version: version, WriterEpoch: 3, NextFileNum: 9, LastSeq: 100,
		WALReplayFrom: 17, WALEpochFloor: 2,
		L0: []Table{{FileNum: 8, Epoch: 3, Size: 4096, Smallest: []byte("a"), Largest: []byte("z"), MinSeq: 1, MaxSeq: 100, NumEntries: 100}},
	}
}

func TestEncodeDecode(t *testing.T) {
	m := sample(7)
	data, err := Encode(m)
	if err != nil {
		t.Fatal(err)
	}
	got, err := Decode(data)
	if err != nil {
		t.Fatal(err)
	}
	if got.Version != 7 || got.L0[0].ObjectKey() != m.L0[0].ObjectKey() || string(got.L0[0].Largest) != "z" {
		t.Fatalf("round trip mismatch: %+v", got)
	}
	// Every single flipped byte and every truncation is detected.
	for i := range data {
		bad := append([]byte(nil), data...)
		bad[i] ^= 0x40
		if _, err := Decode(bad); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("flip at %d: got %v, want ErrCorrupt", i, err)
		}
	}
	for n := 0; n < len(data); n++ {
		if _, err := Decode(data[:n]); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("truncated to %d: got %v, want ErrCorrupt", n, err)
		}
	}
}

func TestWriteConflictAndRetry(t *testing.T) {
	ctx := context.Background()
	s := NewStore(objstore.NewMemory(), nil)
	m := sample(1)
	if err := s.Write(ctx, m); err != nil {
		t.Fatal(err)
	}
	// The same bytes again: an earlier attempt whose reply was lost.
	if err := s.Write(ctx, m); err != nil {
		t.Fatalf("idempotent rewrite: %v", err)
	}
	other := sample(1)
	other.WriterEpoch = 4
	if err := s.Write(ctx, other); !errors.Is(err, ErrConflict) {
		t.Fatalf("got %v, want ErrConflict", err)
	}
}

func TestLatest(t *testing.T) {
	ctx := context.Background()
	objs := objstore.NewMemory()
	s := NewStore(objs, nil)
	if m, err := s.Latest(ctx); err != nil || m != nil {
		t.Fatalf("empty store: %v, %v", m, err)
	}
	for v := uint64(1); v <= 37; v++ {
		if err := s.Write(ctx, sample(v)); err != nil {
			t.Fatal(err)
		}
		m, err := s.Latest(ctx)
		if err != nil || m.Version != v {
			t.Fatalf("after writing %d: latest %v, %v", v, m, err)
		}
	}
	// A stale hint is only a starting point.
	if _, err := objs.Put(ctx, hintKey, []byte("3")); err != nil {
		t.Fatal(err)
	}
	if m, err := s.Latest(ctx); err != nil || m.Version != 37 {
		t.Fatalf("stale hint: %v, %v", m, err)
	}
	// A missing hint means searching from the start.
	if err := objs.Delete(ctx, hintKey); err != nil {
		t.Fatal(err)
	}
	if m, err := s.Latest(ctx); err != nil || m.Version != 37 {
		t.Fatalf("no hint: %v, %v", m, err)
	}
	// A hint pointing at a collected version falls back to a bounded LIST.
	for v := uint64(1); v <= 30; v++ {
		if err := objs.Delete(ctx, Key(v)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := objs.Put(ctx, hintKey, []byte("5")); err != nil {
		t.Fatal(err)
	}
	if m, err := s.Latest(ctx); err != nil || m.Version != 37 {
		t.Fatalf("dangling hint: %v, %v", m, err)
	}
	if err := objs.Delete(ctx, hintKey); err != nil {
		t.Fatal(err)
	}
	if m, err := s.Latest(ctx); err != nil || m.Version != 37 {
		t.Fatalf("no hint, old versions collected: %v, %v", m, err)
	}
	vs, err := s.Versions(ctx)
	if err != nil || len(vs) != 7 || vs[0] != 31 {
		t.Fatalf("versions: %v, %v", vs, err)
	}
}

func TestLatestProbeCost(t *testing.T) {
	ctx := context.Background()
	objs := objstore.NewCounting(objstore.NewMemory())
	s := NewStore(objs, nil)
	for v := uint64(1); v <= 1000; v++ {
		if err := s.Write(ctx, sample(v)); err != nil {
			t.Fatal(err)
		}
	}
	before := objs.Stats()
	if m, err := s.Latest(ctx); err != nil || m.Version != 1000 {
		t.Fatalf("latest: %v, %v", m, err)
	}
	after := objs.Stats()
	if after.List.Requests != before.List.Requests {
		t.Fatalf("Latest with a fresh hint issued a LIST")
	}
	// Hint + probe of the hinted version + probe of the next + load.
	if n := after.GetRange.Requests - before.GetRange.Requests + after.Get.Requests - before.Get.Requests; n > 4 {
		t.Fatalf("Latest with a fresh hint cost %d reads", n)
	}
}
