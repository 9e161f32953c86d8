package compaction

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"

	"go.uber.org/goleak"

	"github.com/s2lite/s2lite/manifest"
	"github.com/s2lite/s2lite/sst"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// memObject is an sst.ReadableObject over a byte slice.
type memObject []byte

func (o memObject) Size() int64 { return int64(len(o)) }

func (o memObject) ReadAt(ctx context.Context, off, n int64) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if off < 0 || n < 0 || off > int64(len(o)) || n > int64(len(o))-off {
		return nil, fmt.Errorf("memObject: read [%d, +%d) out of range of %d bytes", off, n, len(o))
	}
	return o[off : off+n : off+n], nil
}

func (o memObject) ReadInto(ctx context.Context, off int64, bufs [][]byte) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	for _, b := range bufs {
		if off+int64(len(b)) > int64(len(o)) {
			return fmt.Errorf("memObject: read [%d, +%d) out of range of %d bytes", off, len(b), len(o))
		}
		off += int64(copy(b, o[off:]))
	}
	return nil
}

// store keeps tables in memory and provides the Opener and Writer a
// compaction needs.
type store struct {
	mu      sync.Mutex
	objs    map[string][]byte
	next    uint64
	opens   int
	openErr error // returned by open when set
}

func newStore() *store { return &store{objs: map[string][]byte{}, next: 1} }

func (s *store) open(ctx context.Context, t manifest.Table) (*sst.Reader, error) {
	s.mu.Lock()
	data, ok := s.objs[t.ObjectKey()]
	s.opens++
	err := s.openErr
	s.mu.Unlock()
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, fmt.Errorf("no object %s", t.ObjectKey())
	}
	return sst.Open(ctx, memObject(data), sst.ReaderOptions{})
}

// write is a Writer, filling the manifest entry from props like the engine.
func (s *store) write(ctx context.Context, data []byte, props sst.Properties) (manifest.Table, error) {
	if err := ctx.Err(); err != nil {
		return manifest.Table{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	t := manifest.Table{
		FileNum: s.next, Epoch: 1, Size: int64(len(data)),
		Smallest: props.SmallestKey, Largest: props.LargestKey,
		MinSeq: props.MinSeq, MaxSeq: props.MaxSeq,
		NumEntries: props.NumEntries, NumRangeDels: props.NumRangeDels,
		MinExpiry: props.MinExpiry, MaxExpiry: props.MaxExpiry,
		NumWithoutExpiry: props.NumWithoutExpiry,
	}
	s.next++
	s.objs[t.ObjectKey()] = bytes.Clone(data) // data is only valid during the call
	return t, nil
}

// entry is a point entry of the test models.
type entry struct {
	key    sst.Key
	expiry int64
	value  []byte
}

func (e entry) String() string {
	return fmt.Sprintf("%s exp=%d val=%q", e.key, e.expiry, e.value)
}

func set(k string, seq uint64, expiry int64, v string) entry {
	return entry{sst.Key{User: []byte(k), Seq: seq, Kind: sst.KindSet}, expiry, []byte(v)}
}

func del(k string, seq uint64) entry {
	return entry{key: sst.Key{User: []byte(k), Seq: seq, Kind: sst.KindDelete}}
}

func rdel(start, end string, seq uint64) sst.RangeDel {
	return sst.RangeDel{Start: []byte(start), End: []byte(end), Seq: seq}
}

// build writes a table of es (in any order) and rds and returns its entry.
func (s *store) build(t testing.TB, opts sst.WriterOptions, es []entry, rds []sst.RangeDel) manifest.Table {
	t.Helper()
	es = slices.Clone(es)
	slices.SortFunc(es, func(a, b entry) int { return sst.Compare(a.key, b.key) })
	w := sst.NewWriter(opts)
	for _, e := range es {
		if err := w.Add(e.key, e.expiry, e.value); err != nil {
			t.Fatal(err)
		}
	}
	for _, rd := range rds {
		if err := w.AddRangeDel(rd); err != nil {
			t.Fatal(err)
		}
	}
	data, props, err := w.Finish()
	if err != nil {
		t.Fatal(err)
	}
	tbl, err := s.write(context.Background(), data, props)
	if err != nil {
		t.Fatal(err)
	}
	return tbl
}

// contents reads a table back whole.
func (s *store) contents(t testing.TB, tbl manifest.Table) ([]entry, []sst.RangeDel, sst.Properties) {
	t.Helper()
	ctx := context.Background()
	r, err := s.open(ctx, tbl)
	if err != nil {
		t.Fatal(err)
	}
	it := r.NewIter(ctx)
	var es []entry
	for ok := it.First(); ok; ok = it.Next() {
		k := it.Key()
		k.User = bytes.Clone(k.User)
		es = append(es, entry{k, it.Expiry(), bytes.Clone(it.Value())})
	}
	if err := it.Close(); err != nil {
		t.Fatal(err)
	}
	return es, slices.Clone(r.RangeDels()), r.Properties()
}
