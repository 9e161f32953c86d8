package sst

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"sort"
	"sync/atomic"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// memObject is a ReadableObject over a byte slice that counts reads.
type memObject struct {
	data  []byte
	reads atomic.Int64
	bytes atomic.Int64
}

func newMemObject(b []byte) *memObject { return &memObject{data: b} }

func (o *memObject) ReadAt(ctx context.Context, off, n int64) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if off < 0 || n < 0 || off > int64(len(o.data)) || n > int64(len(o.data))-off {
		return nil, fmt.Errorf("memObject: read [%d, +%d) out of range of %d bytes", off, n, len(o.data))
	}
	o.reads.Add(1)
	o.bytes.Add(n)
	// A copy, as a real GET would return, so tests that corrupt o.data do
	// not reach into blocks already handed out.
	return bytes.Clone(o.data[off : off+n]), nil
}

func (o *memObject) ReadInto(ctx context.Context, off int64, bufs [][]byte) error {
	return readIntoVia(ctx, o.ReadAt, off, bufs)
}

// readIntoVia implements ReadInto with a ReadAt, for test objects whose
// ReadAt does something of its own (logs, stalls, fails).
func readIntoVia(ctx context.Context, readAt func(context.Context, int64, int64) ([]byte, error), off int64, bufs [][]byte) error {
	var n int64
	for _, b := range bufs {
		n += int64(len(b))
	}
	data, err := readAt(ctx, off, n)
	if err != nil {
		return err
	}
	if int64(len(data)) != n {
		return fmt.Errorf("read %d of %d bytes at %d: %w", len(data), n, off, ErrCorrupt)
	}
	for _, b := range bufs {
		data = data[copy(b, data):]
	}
	return nil
}

func (o *memObject) Size() int64 { return int64(len(o.data)) }

// entry is a point entry of the test model.
type entry struct {
	key    Key
	expiry int64
	value  []byte
}

func (e entry) String() string {
	return fmt.Sprintf("%s exp=%d val=%q", e.key, e.expiry, e.value)
}

func sameEntry(a, b entry) bool {
	return Compare(a.key, b.key) == 0 && a.key.Kind == b.key.Kind &&
		a.expiry == b.expiry && bytes.Equal(a.value, b.value)
}

// randEntries returns n sorted, distinct entries over about n/3 user keys,
// so most user keys have several versions.
func randEntries(rng *rand.Rand, n int) []entry {
	users := make([][]byte, max(n/3, 1))
	for i := range users {
		// Shared prefixes exercise prefix compression.
		users[i] = fmt.Appendf(nil, "user%04d/%x", rng.IntN(2000), rng.Uint32()%64)
	}
	seen := map[string]bool{}
	var out []entry
	for len(out) < n {
		e := entry{key: Key{User: users[rng.IntN(len(users))], Seq: 1 + rng.Uint64N(1000)}}
		e.key.Kind = KindSet
		if rng.IntN(5) == 0 {
			e.key.Kind = KindDelete
		}
		id := fmt.Sprintf("%s/%d/%d", e.key.User, e.key.Seq, e.key.Kind)
		if seen[id] {
			continue
		}
		seen[id] = true
		if rng.IntN(2) == 0 {
			e.expiry = 1 + rng.Int64N(1e12)
		}
		if e.key.Kind == KindSet {
			switch rng.IntN(3) {
			case 0: // compressible
				e.value = bytes.Repeat([]byte{byte('a' + rng.IntN(26))}, rng.IntN(200))
			case 1:
				e.value = make([]byte, rng.IntN(100))
				for i := range e.value {
					e.value[i] = byte(rng.Uint32())
				}
			}
		}
		out = append(out, e)
	}
	sort.Slice(out, func(i, j int) bool { return Compare(out[i].key, out[j].key) < 0 })
	return out
}

func randRangeDels(rng *rand.Rand, n int) []RangeDel {
	out := make([]RangeDel, n)
	for i := range out {
		a, b := rng.IntN(2000), rng.IntN(2000)
		if a == b {
			b++
		}
		a, b = min(a, b), max(a, b)
		out[i] = RangeDel{
			Start: fmt.Appendf(nil, "user%04d", a),
			End:   fmt.Appendf(nil, "user%04d", b),
			Seq:   1 + rng.Uint64N(1000),
		}
	}
	return out
}

func buildTable(t testing.TB, opts WriterOptions, es []entry, rds []RangeDel) ([]byte, Properties) {
	t.Helper()
	w := NewWriter(opts)
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
	b, p, err := w.Finish()
	if err != nil {
		t.Fatal(err)
	}
	return b, p
}

func openTable(t testing.TB, b []byte, opts ReaderOptions) (*Reader, *memObject) {
	t.Helper()
	obj := newMemObject(b)
	r, err := Open(context.Background(), obj, opts)
	if err != nil {
		t.Fatal(err)
	}
	return r, obj
}

// modelGet is the specification of Reader.Get.
func modelGet(es []entry, user []byte, seq uint64) (entry, bool) {
	i := sort.Search(len(es), func(i int) bool { return bytes.Compare(es[i].key.User, user) >= 0 })
	for ; i < len(es) && bytes.Equal(es[i].key.User, user); i++ {
		if es[i].key.Seq <= seq {
			return es[i], true
		}
	}
	return entry{}, false
}

// collect iterates from First to the end.
func collect(it *Iter) []entry {
	var out []entry
	for ok := it.First(); ok; ok = it.Next() {
		out = append(out, iterEntry(it))
	}
	return out
}

func iterEntry(it *Iter) entry {
	k := it.Key()
	k.User = bytes.Clone(k.User)
	return entry{key: k, expiry: it.Expiry(), value: bytes.Clone(it.Value())}
}
