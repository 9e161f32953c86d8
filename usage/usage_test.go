package usage

import (
	"bytes"
	"context"
	"errors"
	"sort"
	"sync"
	"testing"
	"time"
)

// memStore is a Store in memory that can fail writes and keeps expiries.
type memStore struct {
	mu     sync.Mutex
	kv     map[string][]byte
	fail   bool
	writes int
}

func newMemStore() *memStore { return &memStore{kv: map[string][]byte{}} }

func (m *memStore) Scan(_ context.Context, prefix []byte, fn func(k, v []byte) error) error {
	m.mu.Lock()
	var keys []string
	for k := range m.kv {
		if bytes.HasPrefix([]byte(k), prefix) {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	vals := make([][]byte, len(keys))
	for i, k := range keys {
		vals[i] = m.kv[k]
	}
	m.mu.Unlock()
	for i, k := range keys {
		if err := fn([]byte(k), vals[i]); err != nil {
			return err
		}
	}
	return nil
}

func (m *memStore) Write(_ context.Context, b *Batch) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.fail {
		return errors.New("injected write failure")
	}
	m.writes++
	for _, op := range b.Ops {
		if op.Delete {
			delete(m.kv, string(op.Key))
		} else {
			m.kv[string(op.Key)] = append([]byte(nil), op.Value...)
		}
	}
	return nil
}

type clock struct{ t time.Time }

func (c *clock) now() time.Time      { return c.t }
func (c *clock) add(d time.Duration) { c.t = c.t.Add(d) }
func (c *clock) unix() uint32        { return uint32(c.t.Unix()) }
func newClock() *clock               { return &clock{time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)} }
func openRec(t *testing.T, s Store, c *clock) *Recorder {
	t.Helper()
	r, err := Open(context.Background(), s, Options{Now: c.now, FlushInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = r.Close(context.Background()) })
	return r
}

func total(ss []Series) (n uint64) {
	for _, s := range ss {
		for _, p := range s.Points {
			n += p.V
		}
	}
	return n
}

func TestRollUpBoundaries(t *testing.T) {
	c := newClock()
	c.add(58 * time.Minute) // 10:58
	r := openRec(t, newMemStore(), c)
	for i := 0; i < 5; i++ { // 10:58 .. 11:02
		r.BasinOp("b", "list-streams")
		r.BasinOp("b", "list-streams")
		c.add(time.Minute)
	}
	start, end := c.unix()-3*3600, c.unix()
	mins := r.Accumulations("b", MetricBasinOps, nil, Minute, start, end)
	if len(mins) != 1 || len(mins[0].Points) != 5 || total(mins) != 10 {
		t.Fatalf("minutes: %+v", mins)
	}
	hours := r.Accumulations("b", MetricBasinOps, nil, Hour, start, end)
	if len(hours[0].Points) != 2 || hours[0].Points[0].V != 4 || hours[0].Points[1].V != 6 {
		t.Fatalf("hours: %+v", hours)
	}
	if hours[0].Points[1].T%3600 != 0 || hours[0].Points[1].T-hours[0].Points[0].T != 3600 {
		t.Fatalf("hour buckets not aligned: %+v", hours)
	}
	days := r.Accumulations("b", MetricBasinOps, nil, Day, start, end)
	if len(days[0].Points) != 1 || days[0].Points[0].V != 10 || days[0].Points[0].T%86400 != 0 {
		t.Fatalf("days: %+v", days)
	}
	// A range starting inside a bucket includes that bucket.
	if got := r.Accumulations("b", MetricBasinOps, nil, Hour, hours[0].Points[1].T+1800, end); total(got) != 6 {
		t.Fatalf("mid-bucket start: %+v", got)
	}
	// Minutes age out after the minute retention; hours remain.
	c.add(25 * time.Hour)
	if err := r.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := r.Accumulations("b", MetricBasinOps, nil, Minute, start, c.unix()); len(got) != 0 {
		t.Fatalf("minutes past retention: %+v", got)
	}
	if got := r.Accumulations("b", MetricBasinOps, nil, Hour, start, c.unix()); total(got) != 10 {
		t.Fatalf("hours after minute retention: %+v", got)
	}
}

func TestFixedLabelsAndActiveBasins(t *testing.T) {
	c := newClock()
	r := openRec(t, newMemStore(), c)
	r.Appended(Append{Basin: "a", Stream: "s", Express: true, FirstSeq: 0, EndSeq: 2, Bytes: 100})
	r.Read("a", true, true, 40)
	r.Read("a", true, false, 60)
	r.AccountOp("list-basins")
	now := c.unix()
	ops := r.Accumulations("a", MetricAppendOps, []string{LabelStandard, LabelExpress}, Minute, now-60, now)
	if len(ops) != 2 || ops[0].Label != LabelStandard || len(ops[0].Points) != 0 || total(ops[1:]) != 1 {
		t.Fatalf("append-ops: %+v", ops)
	}
	if got := r.Accumulations("a", MetricReadOps, []string{LabelUnary, LabelStreaming}, Minute, now-60, now); total(got[1:]) != 1 || total(got[:1]) != 0 {
		t.Fatalf("read-ops: %+v", got)
	}
	if got := r.Accumulations("a", MetricReadThroughput, []string{""}, Minute, now-60, now); total(got) != 100 {
		t.Fatalf("read-throughput: %+v", got)
	}
	if got := r.ActiveBasins(now-60, now); len(got) != 1 || got[0] != "a" {
		t.Fatalf("active: %v", got)
	}
	if got := r.ActiveBasins(0, 3600); len(got) != 0 {
		t.Fatalf("active in the far past: %v", got)
	}
	// A basin with stored bytes but no activity in a later range is
	// still active then.
	c.add(48 * time.Hour)
	if got := r.ActiveBasins(c.unix()-60, c.unix()); len(got) != 1 {
		t.Fatalf("active by storage: %v", got)
	}
}

// model is the exact storage of a stream: bytes per record, per write
// time and retention.
type model struct {
	recs []modelRec
	trim uint64
}

type modelRec struct {
	seq     uint64
	bytes   uint64
	expires int64
}

func (m *model) total(now int64) (n uint64) {
	for _, r := range m.recs {
		if r.seq >= m.trim && (r.expires == 0 || r.expires > now) {
			n += r.bytes
		}
	}
	return n
}

func TestStorageGaugeMatchesModel(t *testing.T) {
	c := newClock()
	store := newMemStore()
	r := openRec(t, store, c)
	m := &model{}
	var next uint64
	appendN := func(n int, size uint64, retention time.Duration, trim uint64) {
		var exp time.Time
		if retention > 0 {
			exp = c.t.Add(retention)
		}
		for i := 0; i < n; i++ {
			e := int64(0)
			if retention > 0 {
				e = exp.Unix()
			}
			m.recs = append(m.recs, modelRec{next + uint64(i), size, e})
		}
		if trim > m.trim {
			m.trim = trim
		}
		r.Appended(Append{Basin: "b", Stream: "s", FirstSeq: next, EndSeq: next + uint64(n), Bytes: uint64(n) * size, ExpiresAt: exp, TrimPoint: m.trim})
		next += uint64(n)
	}
	check := func(what string) {
		t.Helper()
		if got, want := r.StreamStorage("b", "s"), m.total(c.t.Unix()); got != want {
			t.Fatalf("%s: storage %d, model %d", what, got, want)
		}
		ps := r.Storage("b", "s", Minute, c.unix()-60, c.unix())
		if len(ps) == 0 || ps[len(ps)-1].V != m.total(c.t.Unix()) {
			t.Fatalf("%s: gauge %+v, model %d", what, ps, m.total(c.t.Unix()))
		}
		bs := r.Storage("b", "", Hour, c.unix()-3600, c.unix())
		if len(bs) == 0 || bs[len(bs)-1].V != m.total(c.t.Unix()) {
			t.Fatalf("%s: basin gauge %+v, model %d", what, bs, m.total(c.t.Unix()))
		}
	}
	appendN(10, 100, 2*time.Hour, 0)
	check("first append")
	c.add(time.Minute)
	appendN(10, 50, 2*time.Hour, 0)
	check("second append")
	c.add(time.Minute)
	appendN(1, 10, 0, 10) // a trim to 10 (all of the first minute) carried by a batch
	check("trim at a bucket boundary")
	c.add(90 * time.Minute)
	appendN(5, 20, 30*time.Minute, 0)
	check("third append")
	c.add(31 * time.Minute) // the second and fourth buckets expired
	check("retention expiry")
	// Restart: everything comes back from the store.
	if err := r.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	r2 := openRec(t, store, c)
	if got, want := r2.StreamStorage("b", "s"), m.total(c.t.Unix()); got != want {
		t.Fatalf("after restart: %d, model %d", got, want)
	}
	r = r2
	appendN(3, 7, 0, 0)
	check("append after restart")
	r.StreamDeleted("b", "s")
	m.recs, m.trim = nil, 0
	check("deleted")
}

func TestTrimWithinBucketIsProportional(t *testing.T) {
	c := newClock()
	r := openRec(t, newMemStore(), c)
	r.Appended(Append{Basin: "b", Stream: "s", FirstSeq: 0, EndSeq: 10, Bytes: 1000})
	c.add(time.Minute)
	r.Appended(Append{Basin: "b", Stream: "s", FirstSeq: 10, EndSeq: 11, Bytes: 0, TrimPoint: 4})
	if got := r.StreamStorage("b", "s"); got != 600 {
		t.Fatalf("storage after trimming 4 of 10 uniform records: %d", got)
	}
}

func TestCountersSurviveRestartAndCrash(t *testing.T) {
	c := newClock()
	store := newMemStore()
	r, err := Open(context.Background(), store, Options{Now: c.now, FlushInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 7; i++ {
		r.BasinOp("b", "check-tail")
	}
	if err := r.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	// Events after the last flush are lost by a crash (no Close) …
	r.BasinOp("b", "check-tail")
	r2 := openRec(t, store, c)
	now := c.unix()
	for res := Minute; res <= Day; res++ {
		if got := total(r2.Accumulations("b", MetricBasinOps, nil, res, now-86400, now)); got != 7 {
			t.Fatalf("%s after crash: %d, want 7", res, got)
		}
	}
	// … and a flush replayed (the WAL replays the same absolute values)
	// counts nothing twice.
	r2.BasinOp("b", "check-tail")
	if err := r2.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	snapshot := map[string][]byte{}
	for k, v := range store.kv {
		snapshot[k] = v
	}
	if err := store.Write(context.Background(), &Batch{Ops: func() (ops []Op) {
		for k, v := range snapshot {
			ops = append(ops, Op{Key: []byte(k), Value: v})
		}
		return ops
	}()}); err != nil {
		t.Fatal(err)
	}
	r3 := openRec(t, store, c)
	if got := total(r3.Accumulations("b", MetricBasinOps, nil, Hour, now-3600, now)); got != 8 {
		t.Fatalf("after replay: %d, want 8", got)
	}
	// Close flushes what is pending.
	r3.BasinOp("b", "check-tail")
	if err := r3.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	r4 := openRec(t, store, c)
	if got := total(r4.Accumulations("b", MetricBasinOps, nil, Hour, now-3600, now)); got != 9 {
		t.Fatalf("after close: %d, want 9", got)
	}
}

func TestFailedFlushIsRetried(t *testing.T) {
	c := newClock()
	store := newMemStore()
	r := openRec(t, store, c)
	r.AccountOp("list-basins")
	store.fail = true
	if err := r.Flush(context.Background()); err == nil {
		t.Fatal("flush succeeded on a failing store")
	}
	store.fail = false
	r.AccountOp("list-basins")
	if err := r.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	r2 := openRec(t, store, c)
	if got := total(r2.Accumulations("", MetricAccountOps, nil, Minute, c.unix()-60, c.unix())); got != 2 {
		t.Fatalf("after a failed then good flush: %d", got)
	}
}

func TestBucketMergeKeepsTotal(t *testing.T) {
	c := newClock()
	r := openRec(t, newMemStore(), c)
	var seq, want uint64
	for i := 0; i < MaxStreamBuckets+10; i++ {
		r.Appended(Append{Basin: "b", Stream: "s", FirstSeq: seq, EndSeq: seq + 1, Bytes: 3, ExpiresAt: c.t.Add(1000 * time.Hour)})
		seq++
		want += 3
		c.add(time.Minute)
	}
	if got := r.StreamStorage("b", "s"); got != want {
		t.Fatalf("storage %d, want %d", got, want)
	}
	r.mu.Lock()
	n := len(r.storage[streamKey{"b", "s"}].buckets)
	r.mu.Unlock()
	if n > MaxStreamBuckets {
		t.Fatalf("%d buckets kept", n)
	}
}
