package stream

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/s2lite/s2lite/objstore"
)

// ackLog records which body every acknowledged sequence number holds.
type ackLog struct {
	mu     sync.Mutex
	bodies map[uint64]string
}

func newAckLog() *ackLog { return &ackLog{bodies: map[uint64]string{}} }

func (l *ackLog) add(t testing.TB, ack AppendAck, in AppendInput) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if n := ack.End.SeqNum - ack.Start.SeqNum; n != uint64(len(in.Records)) {
		t.Errorf("ack %+v spans %d records, batch has %d", ack, n, len(in.Records))
	}
	if ack.Tail.SeqNum < ack.End.SeqNum {
		t.Errorf("ack tail %+v before end %+v", ack.Tail, ack.End)
	}
	for i, r := range in.Records {
		seq := ack.Start.SeqNum + uint64(i)
		if prev, dup := l.bodies[seq]; dup {
			t.Errorf("seq %d acknowledged twice (%q and %q)", seq, prev, r.Body)
		}
		l.bodies[seq] = string(r.Body)
	}
}

// check verifies that the acknowledged records are exactly 0..n-1 and
// that got (a full read of the stream) holds them.
func (l *ackLog) check(t testing.TB, got []SequencedRecord, what string) {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(got) != len(l.bodies) {
		t.Fatalf("%s: %d records, %d acknowledged", what, len(got), len(l.bodies))
	}
	for i, r := range got {
		if r.SeqNum != uint64(i) {
			t.Fatalf("%s: record %d has seq %d", what, i, r.SeqNum)
		}
		if body, ok := l.bodies[r.SeqNum]; !ok || body != string(r.Body) {
			t.Fatalf("%s: seq %d holds %q, acknowledged %q (%v)", what, r.SeqNum, r.Body, body, ok)
		}
	}
}

// follow reads a session from seq 0 until it has n records or ctx ends,
// checking contiguity and that nothing beyond the durable tail is seen.
func follow(ctx context.Context, t testing.TB, e *env, stream string, until func() (uint64, bool)) []SequencedRecord {
	sess, err := e.svc.OpenReadSession(ctx, "my-basin", stream, ReadRequest{SeqNum: u64(0)})
	if err != nil {
		t.Errorf("open read session: %v", err)
		return nil
	}
	defer sess.Close()
	var got []SequencedRecord
	for {
		if n, final := until(); final && uint64(len(got)) >= n {
			return got
		}
		nctx, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
		b, err := sess.Next(nctx)
		cancel()
		if err == context.DeadlineExceeded {
			continue
		}
		if err != nil {
			t.Errorf("read session: %v", err)
			return got
		}
		for _, r := range b.Records {
			if r.SeqNum != uint64(len(got)) {
				t.Errorf("reader got seq %d, want %d", r.SeqNum, len(got))
				return got
			}
			got = append(got, r)
		}
		if len(b.Records) > 0 {
			tail, err := e.svc.CheckTail(ctx, "my-basin", stream)
			if err != nil || tail.SeqNum < uint64(len(got)) {
				t.Errorf("reader saw seq %d beyond the durable tail %+v (%v)", len(got)-1, tail, err)
				return got
			}
		}
	}
}

// TestRandomizedConcurrentAppendsAndReads runs pipelined and unary
// appenders against one stream with followers and pollers reading it.
func TestRandomizedConcurrentAppendsAndReads(t *testing.T) {
	e := newEnv(t, func(o *Options) { o.FollowerBufferBatches = 4 })
	e.basin("my-basin", BasinConfig{})
	e.stream("my-basin", "s", StreamConfig{})
	acks := newAckLog()
	var total struct {
		sync.Mutex
		n    uint64
		done bool
	}
	until := func() (uint64, bool) {
		total.Lock()
		defer total.Unlock()
		return total.n, total.done
	}
	ctx, cancel := context.WithTimeout(e.ctx, 30*time.Second)
	defer cancel()

	var readers sync.WaitGroup
	reads := make([][]SequencedRecord, 3)
	for i := range reads {
		readers.Add(1)
		go func() {
			defer readers.Done()
			reads[i] = follow(ctx, t, e, "s", until)
		}()
	}

	var writers sync.WaitGroup
	for w := range 4 {
		writers.Add(1)
		go func() {
			defer writers.Done()
			r := rand.New(rand.NewPCG(uint64(w), 7))
			sess, err := e.svc.OpenAppendSession(ctx, "my-basin", "s")
			if err != nil {
				t.Error(err)
				return
			}
			defer sess.Close()
			var lastEnd uint64
			for round := range 30 {
				var inputs []AppendInput
				var futures []*AppendFuture
				for k := range 1 + r.IntN(4) {
					in := AppendInput{}
					for j := range 1 + r.IntN(5) {
						in.Records = append(in.Records, AppendRecord{Body: fmt.Appendf(nil, "w%d-%d-%d-%d", w, round, k, j)})
					}
					if r.IntN(3) == 0 {
						ack, err := e.svc.Append(ctx, "my-basin", "s", in)
						if err != nil {
							t.Error(err)
							return
						}
						acks.add(t, ack, in)
						continue
					}
					f, err := sess.Submit(ctx, in)
					if err != nil {
						t.Error(err)
						return
					}
					inputs, futures = append(inputs, in), append(futures, f)
				}
				for k, f := range futures {
					ack, err := f.Wait(ctx)
					if err != nil {
						t.Error(err)
						return
					}
					// Acks of one session come in submission order.
					if ack.Start.SeqNum < lastEnd {
						t.Errorf("session ack %+v out of order (previous end %d)", ack, lastEnd)
					}
					lastEnd = ack.End.SeqNum
					acks.add(t, ack, inputs[k])
				}
			}
		}()
	}
	writers.Wait()
	tail := e.tail("my-basin", "s")
	total.Lock()
	total.n, total.done = tail.SeqNum, true
	total.Unlock()
	readers.Wait()
	if t.Failed() {
		return
	}
	acks.check(t, e.readAll("my-basin", "s"), "final read")
	for i, got := range reads {
		acks.check(t, got, fmt.Sprintf("follower %d", i))
	}
	if tail.SeqNum < 4*30 {
		t.Fatalf("only %d records appended", tail.SeqNum)
	}
	t.Logf("%d records appended", tail.SeqNum)
}

// TestAppendsSurviveWALFailures fails every WAL write for a while under
// concurrent appends: failed appends are never acknowledged, appends
// succeed again once the engine heals, and the stream holds exactly the
// acknowledged records with no sequence number skipped or reused.
func TestAppendsSurviveWALFailures(t *testing.T) {
	for _, after := range []bool{false, true} {
		name := "fail before the write"
		if after {
			name = "fail after the write"
		}
		t.Run(name, func(t *testing.T) { testAppendsSurviveWALFailures(t, after) })
	}
}

func testAppendsSurviveWALFailures(t *testing.T, failAfter bool) {
	gs := &gateStore{Store: objstore.NewMemory(), failAfter: failAfter}
	e := newEnvOn(t, gs)
	e.basin("my-basin", BasinConfig{})
	e.stream("my-basin", "s", StreamConfig{})
	acks := newAckLog()
	ctx, cancel := context.WithTimeout(e.ctx, 30*time.Second)
	defer cancel()

	var phase struct {
		sync.Mutex
		healed    bool
		afterHeal int
		failures  int
		successes int
	}
	var total struct {
		sync.Mutex
		n    uint64
		done bool
	}
	until := func() (uint64, bool) {
		total.Lock()
		defer total.Unlock()
		return total.n, total.done
	}
	readDone := make(chan []SequencedRecord, 1)
	go func() { readDone <- follow(ctx, t, e, "s", until) }()

	var writers sync.WaitGroup
	stop := make(chan struct{})
	for w := range 4 {
		writers.Add(1)
		go func() {
			defer writers.Done()
			sess, err := e.svc.OpenAppendSession(ctx, "my-basin", "s")
			if err != nil {
				t.Error(err)
				return
			}
			for i := 0; ; i++ {
				select {
				case <-stop:
					sess.Close()
					return
				default:
				}
				// Alternate unary appends and two-deep pipelines.
				in := AppendInput{Records: records(fmt.Sprintf("w%d-%d-a", w, i), fmt.Sprintf("w%d-%d-b", w, i))}
				in2 := AppendInput{Records: records(fmt.Sprintf("w%d-%d-c", w, i))}
				var results []error
				if i%2 == 0 {
					ack, err := e.svc.Append(ctx, "my-basin", "s", in)
					if err == nil {
						acks.add(t, ack, in)
					}
					results = append(results, err)
				} else {
					f1, err1 := sess.Submit(ctx, in)
					var f2 *AppendFuture
					var err2 error
					if err1 == nil {
						f2, err2 = sess.Submit(ctx, in2)
					}
					for _, p := range []struct {
						f   *AppendFuture
						err error
						in  AppendInput
					}{{f1, err1, in}, {f2, err2, in2}} {
						if p.err == nil && p.f != nil {
							var ack AppendAck
							ack, p.err = p.f.Wait(ctx)
							if p.err == nil {
								acks.add(t, ack, p.in)
							}
						}
						if p.f != nil || p.err != nil {
							results = append(results, p.err)
						}
					}
					if err1 != nil || err2 != nil || results[len(results)-1] != nil {
						// A failed session accepts nothing more: start a
						// new one, as a client would.
						sess.Close()
						if sess, err = e.svc.OpenAppendSession(ctx, "my-basin", "s"); err != nil {
							t.Error(err)
							return
						}
					}
				}
				phase.Lock()
				for _, err := range results {
					switch {
					case err == nil:
						phase.successes++
						if phase.healed {
							phase.afterHeal++
						}
					case code(err) == CodeStorage || code(err) == CodeUnavailable:
						phase.failures++
					default:
						t.Errorf("unexpected error %v", err)
					}
				}
				phase.Unlock()
				if t.Failed() || ctx.Err() != nil {
					sess.Close()
					return
				}
			}
		}()
	}
	waitFor := func(what string, cond func() bool) {
		t.Helper()
		for {
			phase.Lock()
			ok := cond()
			phase.Unlock()
			if ok || t.Failed() {
				return
			}
			if ctx.Err() != nil {
				t.Fatalf("timed out waiting for %s", what)
			}
			time.Sleep(2 * time.Millisecond)
		}
	}
	waitFor("successes", func() bool { return phase.successes >= 20 })
	gs.setFail(true)
	waitFor("failures", func() bool { return phase.failures >= 10 })
	time.Sleep(20 * time.Millisecond)
	gs.setFail(false)
	phase.Lock()
	phase.healed = true
	phase.Unlock()
	waitFor("successes after healing", func() bool { return phase.afterHeal >= 40 })
	close(stop)
	writers.Wait()

	tail := e.tail("my-basin", "s")
	total.Lock()
	total.n, total.done = tail.SeqNum, true
	total.Unlock()
	followed := <-readDone
	if t.Failed() {
		return
	}
	acks.check(t, e.readAll("my-basin", "s"), "final read")
	acks.check(t, followed, "follower")
	e.reopen()
	acks.check(t, e.readAll("my-basin", "s"), "read after restart")
	t.Logf("%d acknowledged records, %d failed appends, %d WAL PUTs failed", tail.SeqNum, phase.failures, gs.failed)
}

// TestFailedBatchThatLandedIsErased makes a WAL write take effect but
// report failure: the append fails, and the stream is repaired so that the
// batch does not appear later, not even after a restart.
func TestFailedBatchThatLandedIsErased(t *testing.T) {
	gs := &gateStore{Store: objstore.NewMemory(), failAfter: true}
	e := newEnvOn(t, gs)
	e.basin("my-basin", BasinConfig{})
	e.stream("my-basin", "s", StreamConfig{})
	e.appendBodies("my-basin", "s", "a")
	gs.setFail(true)
	_, err := e.svc.Append(e.ctx, "my-basin", "s", AppendInput{Records: records("lost", "lost")})
	wantCode(t, err, CodeStorage)
	gs.setFail(false)
	h := e.svc.lookupStream(streamMapKey("my-basin", "s"))
	eventually(t, "repair", func() bool {
		h.mu.Lock()
		defer h.mu.Unlock()
		return !h.needRepair
	})
	h.release()
	if got := bodies(e.readAll("my-basin", "s")); got != "a" {
		t.Fatalf("stream holds %q", got)
	}
	e.reopen()
	if tail := e.tail("my-basin", "s"); tail.SeqNum != 1 {
		t.Fatalf("tail after restart %+v", tail)
	}
	if got := bodies(e.readAll("my-basin", "s")); got != "a" {
		t.Fatalf("after restart the stream holds %q", got)
	}
	if ack := e.appendBodies("my-basin", "s", "b"); ack.Start.SeqNum != 1 {
		t.Fatalf("next append %+v", ack)
	}
}
