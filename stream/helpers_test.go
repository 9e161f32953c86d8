package stream

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/s2lite/s2lite/engine"
	"github.com/s2lite/s2lite/objstore"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// testClock is a settable wall clock shared by the engine (expiry) and the
// service (timestamps).
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func newTestClock() *testClock {
	return &testClock{t: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *testClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func (c *testClock) Millis() uint64 { return uint64(c.Now().UnixMilli()) }

// env is a service on an engine on an in-memory object store.
type env struct {
	t     testing.TB
	ctx   context.Context
	store objstore.Store
	clock *testClock
	opts  Options
	db    *engine.DB
	svc   *Service
}

func newEnv(t testing.TB, configure ...func(*Options)) *env {
	return newEnvOn(t, objstore.NewMemory(), configure...)
}

func newEnvOn(t testing.TB, store objstore.Store, configure ...func(*Options)) *env {
	t.Helper()
	e := &env{t: t, ctx: context.Background(), store: store, clock: newTestClock()}
	e.opts = Options{Now: e.clock.Now, HeartbeatMin: time.Hour, HeartbeatMax: time.Hour, BackgroundInterval: time.Hour}
	for _, f := range configure {
		f(&e.opts)
	}
	e.open()
	t.Cleanup(e.close)
	return e
}

func (e *env) open() {
	e.t.Helper()
	db, err := engine.Open(e.ctx, engine.Options{Store: e.store, Now: e.clock.Now})
	if err != nil {
		e.t.Fatalf("engine open: %v", err)
	}
	svc, err := New(e.ctx, db, e.opts)
	if err != nil {
		e.t.Fatalf("stream.New: %v", err)
	}
	e.db, e.svc = db, svc
}

func (e *env) close() {
	if e.svc != nil {
		e.svc.Close()
		e.db.Close()
		e.svc, e.db = nil, nil
	}
}

// reopen simulates a restart on the same object store.
func (e *env) reopen(configure ...func(*Options)) {
	e.t.Helper()
	e.close()
	for _, f := range configure {
		f(&e.opts)
	}
	e.open()
}

func (e *env) basin(name string, cfg BasinConfig) {
	e.t.Helper()
	if _, _, err := e.svc.CreateBasin(e.ctx, name, cfg, ""); err != nil {
		e.t.Fatalf("create basin %s: %v", name, err)
	}
}

func (e *env) stream(basin, name string, cfg StreamConfig) {
	e.t.Helper()
	if _, _, err := e.svc.CreateStream(e.ctx, basin, name, cfg, ""); err != nil {
		e.t.Fatalf("create stream %s/%s: %v", basin, name, err)
	}
}

func (e *env) append(basin, name string, in AppendInput) AppendAck {
	e.t.Helper()
	ack, err := e.svc.Append(e.ctx, basin, name, in)
	if err != nil {
		e.t.Fatalf("append: %v", err)
	}
	return ack
}

func (e *env) appendBodies(basin, name string, bodies ...string) AppendAck {
	e.t.Helper()
	return e.append(basin, name, AppendInput{Records: records(bodies...)})
}

func (e *env) tail(basin, name string) StreamPosition {
	e.t.Helper()
	p, err := e.svc.CheckTail(e.ctx, basin, name)
	if err != nil {
		e.t.Fatalf("check tail: %v", err)
	}
	return p
}

// readAll reads every record from seq 0 to the tail with unary reads.
func (e *env) readAll(basin, name string) []SequencedRecord {
	e.t.Helper()
	var out []SequencedRecord
	var next uint64
	for {
		b, err := e.svc.Read(e.ctx, basin, name, ReadRequest{SeqNum: u64(next)})
		var rns *RangeNotSatisfiableError
		if errors.As(err, &rns) {
			return out
		}
		if err != nil {
			e.t.Fatalf("read: %v", err)
		}
		if len(b.Records) == 0 {
			return out
		}
		out = append(out, b.Records...)
		next = b.Records[len(b.Records)-1].SeqNum + 1
	}
}

func records(bodies ...string) []AppendRecord {
	out := make([]AppendRecord, len(bodies))
	for i, b := range bodies {
		out[i] = AppendRecord{Body: []byte(b)}
	}
	return out
}

func bodies(recs []SequencedRecord) string {
	var parts []string
	for _, r := range recs {
		parts = append(parts, string(r.Body))
	}
	return strings.Join(parts, ",")
}

func fenceRecord(token string) AppendRecord {
	return AppendRecord{Headers: []Header{{Name: nil, Value: []byte("fence")}}, Body: []byte(token)}
}

func trimRecord(point uint64) AppendRecord {
	return AppendRecord{Headers: []Header{{Value: []byte("trim")}}, Body: binary.BigEndian.AppendUint64(nil, point)}
}

func u64(v uint64) *uint64 { return &v }

func str(s string) *string { return &s }

func dur(d time.Duration) *time.Duration { return &d }

// code returns the API code of err ("" if it is not an *Error).
func code(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return ""
}

func wantCode(t testing.TB, err error, want string) {
	t.Helper()
	if got := code(err); got != want {
		t.Fatalf("error = %v (code %q), want code %q", err, got, want)
	}
}

// gateStore blocks WAL PUTs while closed, and can fail them.
type gateStore struct {
	objstore.Store
	mu   sync.Mutex
	gate chan struct{} // nil: open
	fail bool
	// failAfter makes failing PUTs take effect before reporting failure,
	// like a reply lost after the write.
	failAfter bool
	failed    int
}

var errInjected = errors.New("injected WAL failure")

func (g *gateStore) close() {
	g.mu.Lock()
	if g.gate == nil {
		g.gate = make(chan struct{})
	}
	g.mu.Unlock()
}

func (g *gateStore) open() {
	g.mu.Lock()
	if g.gate != nil {
		close(g.gate)
		g.gate = nil
	}
	g.mu.Unlock()
}

func (g *gateStore) setFail(fail bool) {
	g.mu.Lock()
	g.fail = fail
	g.mu.Unlock()
}

func (g *gateStore) PutIfAbsent(ctx context.Context, key string, data []byte) (string, error) {
	if strings.HasPrefix(key, "wal/") {
		g.mu.Lock()
		gate, fail, after := g.gate, g.fail, g.failAfter
		if fail {
			g.failed++
		}
		g.mu.Unlock()
		if gate != nil {
			select {
			case <-gate:
			case <-ctx.Done():
				return "", ctx.Err()
			}
		}
		if fail {
			if after {
				if _, err := g.Store.PutIfAbsent(ctx, key, data); err != nil {
					return "", err
				}
			}
			return "", objstore.Transient(fmt.Errorf("%w: %s", errInjected, key))
		}
	}
	return g.Store.PutIfAbsent(ctx, key, data)
}

// eventually polls cond until it holds or the deadline passes.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
