package stream

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/s2lite/s2lite/objstore"
)

func TestAppendAcks(t *testing.T) {
	e := newEnv(t)
	e.basin("my-basin", BasinConfig{})
	e.stream("my-basin", "s", StreamConfig{})
	now := e.clock.Millis()
	ack := e.appendBodies("my-basin", "s", "a")
	if want := (AppendAck{Start: StreamPosition{0, now}, End: StreamPosition{1, now}, Tail: StreamPosition{1, now}}); ack != want {
		t.Fatalf("first ack %+v, want %+v", ack, want)
	}
	ack = e.appendBodies("my-basin", "s", "b", "c", "d")
	if ack.Start.SeqNum != 1 || ack.End.SeqNum != 4 || ack.Tail.SeqNum != 4 {
		t.Fatalf("second ack %+v", ack)
	}
	in := AppendInput{Records: []AppendRecord{{Headers: []Header{{Name: []byte("x-test"), Value: []byte("value")}}}}}
	e.append("my-basin", "s", in)
	got := e.readAll("my-basin", "s")
	if bodies(got) != "a,b,c,d," || len(got[4].Headers) != 1 || string(got[4].Headers[0].Name) != "x-test" || string(got[4].Headers[0].Value) != "value" {
		t.Fatalf("read back %+v", got)
	}
	// A 1000-record batch is accepted.
	many := make([]AppendRecord, MaxBatchRecords)
	if ack := e.append("my-basin", "s", AppendInput{Records: many}); ack.End.SeqNum-ack.Start.SeqNum != 1000 {
		t.Fatalf("1000-record ack %+v", ack)
	}
}

func TestAppendConditions(t *testing.T) {
	e := newEnv(t)
	e.basin("my-basin", BasinConfig{})
	e.stream("my-basin", "s", StreamConfig{})
	type step struct {
		name string
		in   AppendInput
		want error // nil: success
	}
	in := func(recs []AppendRecord, match *uint64, token *string) AppendInput {
		return AppendInput{Records: recs, MatchSeqNum: match, FencingToken: token}
	}
	for _, st := range []step{
		{"match 0", in(records("a"), u64(0), nil), nil},
		{"match stale", in(records("b"), u64(0), nil), &SeqNumMismatchError{ExpectedSeqNum: 1}},
		{"match future", in(records("b"), u64(5), nil), &SeqNumMismatchError{ExpectedSeqNum: 1}},
		{"initial token is empty", in(records("b"), nil, str("")), nil},
		{"wrong token", in(records("c"), nil, str("x")), &FencingTokenMismatchError{CurrentToken: ""}},
		// A fence affects later batches only: this batch is checked
		// against the old token.
		{"fence", in([]AppendRecord{fenceRecord("tok")}, nil, str("")), nil},
		{"old token now fails", in(records("d"), nil, str("")), &FencingTokenMismatchError{CurrentToken: "tok"}},
		{"new token", in(records("d"), u64(3), str("tok")), nil},
		{"no token is never checked", in(records("e"), nil, nil), nil},
		// Fencing is checked before match_seq_num (API 7.4).
		{"fencing before match", in(records("f"), u64(0), str("bad")), &FencingTokenMismatchError{CurrentToken: "tok"}},
		{"clear fence", in([]AppendRecord{fenceRecord("")}, nil, str("tok")), nil},
		{"cleared", in(records("g"), nil, str("")), nil},
	} {
		_, err := e.svc.Append(e.ctx, "my-basin", "s", st.in)
		switch want := st.want.(type) {
		case nil:
			if err != nil {
				t.Fatalf("%s: %v", st.name, err)
			}
		case *SeqNumMismatchError:
			var got *SeqNumMismatchError
			if !errors.As(err, &got) || *got != *want {
				t.Fatalf("%s: got %v, want %v", st.name, err, want)
			}
		case *FencingTokenMismatchError:
			var got *FencingTokenMismatchError
			if !errors.As(err, &got) || *got != *want {
				t.Fatalf("%s: got %v, want %v", st.name, err, want)
			}
		}
	}
	// Rejected batches wrote nothing.
	if got := bodies(e.readAll("my-basin", "s")); got != "a,b,tok,d,e,,g" {
		t.Fatalf("stream holds %q", got)
	}
	// A lone fence record acks one record, and the token survives a
	// restart.
	ack := e.append("my-basin", "s", AppendInput{Records: []AppendRecord{fenceRecord("z")}})
	if ack.End.SeqNum-ack.Start.SeqNum != 1 {
		t.Fatalf("fence ack %+v", ack)
	}
	e.reopen()
	var fm *FencingTokenMismatchError
	if _, err := e.svc.Append(e.ctx, "my-basin", "s", in(records("h"), nil, str(""))); !errors.As(err, &fm) || fm.CurrentToken != "z" {
		t.Fatalf("token after restart: %v", err)
	}
}

func TestTimestamping(t *testing.T) {
	mode := func(m TimestampingMode, uncapped bool) StreamConfig {
		return StreamConfig{Timestamping: &TimestampingConfig{Mode: &m, Uncapped: &uncapped}}
	}
	for _, tc := range []struct {
		name    string
		cfg     StreamConfig
		prev    *uint64 // a first record's client timestamp
		in      []*uint64
		want    []int64 // relative to now in ms
		wantErr string
	}{
		{name: "prefer keeps client timestamps", cfg: mode(TimestampingClientPrefer, false),
			in: []*uint64{rel(-1000), nil}, want: []int64{-1000, 0}},
		{name: "prefer caps the future", cfg: mode(TimestampingClientPrefer, false),
			in: []*uint64{rel(60000)}, want: []int64{0}},
		{name: "uncapped keeps the future", cfg: mode(TimestampingClientPrefer, true),
			in: []*uint64{rel(60000)}, want: []int64{60000}},
		{name: "require", cfg: mode(TimestampingClientRequire, false),
			in: []*uint64{rel(-5)}, want: []int64{-5}},
		{name: "require missing", cfg: mode(TimestampingClientRequire, false),
			in: []*uint64{rel(-5), nil}, wantErr: "record timestamp was required but was missing"},
		{name: "arrival ignores the client", cfg: mode(TimestampingArrival, true),
			in: []*uint64{rel(-5000), rel(5000)}, want: []int64{0, 0}},
		{name: "monotonic within a batch", cfg: mode(TimestampingClientPrefer, false),
			in: []*uint64{rel(-10), rel(-20), rel(-5)}, want: []int64{-10, -10, -5}},
		{name: "monotonic across batches", cfg: mode(TimestampingClientPrefer, true),
			prev: rel(30000), in: []*uint64{rel(-20), nil}, want: []int64{30000, 30000}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			e.basin("my-basin", BasinConfig{})
			e.stream("my-basin", "s", tc.cfg)
			now := int64(e.clock.Millis())
			abs := func(p *uint64) *uint64 {
				if p == nil {
					return nil
				}
				return u64(uint64(now + int64(*p)))
			}
			if tc.prev != nil {
				e.append("my-basin", "s", AppendInput{Records: []AppendRecord{{Timestamp: abs(tc.prev)}}})
			}
			var recs []AppendRecord
			for _, ts := range tc.in {
				recs = append(recs, AppendRecord{Timestamp: abs(ts)})
			}
			tail := e.tail("my-basin", "s")
			ack, err := e.svc.Append(e.ctx, "my-basin", "s", AppendInput{Records: recs})
			if tc.wantErr != "" {
				if code(err) != CodeInvalid || err.(*Error).Message != tc.wantErr {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				if e.tail("my-basin", "s") != tail {
					t.Fatal("rejected batch moved the tail")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got := e.readAll("my-basin", "s")[ack.Start.SeqNum:]
			for i, r := range got {
				if int64(r.Timestamp)-now != tc.want[i] {
					t.Fatalf("record %d timestamp %+d, want %+d", i, int64(r.Timestamp)-now, tc.want[i])
				}
			}
			if ack.End.Timestamp != got[len(got)-1].Timestamp || ack.Start.Timestamp != got[0].Timestamp {
				t.Fatalf("ack %+v does not match records", ack)
			}
		})
	}
}

// rel is a millisecond offset from now, encoded for TestTimestamping.
func rel(ms int64) *uint64 { return u64(uint64(ms)) }

func TestTrim(t *testing.T) {
	e := newEnv(t)
	e.basin("my-basin", BasinConfig{})
	e.stream("my-basin", "s", StreamConfig{})
	for i := range 5 {
		e.append("my-basin", "s", AppendInput{Records: []AppendRecord{{Timestamp: u64(uint64(100 + 10*i)), Body: []byte{'a' + byte(i)}}}})
	}
	ack := e.append("my-basin", "s", AppendInput{Records: []AppendRecord{trimRecord(2)}})
	if ack.Start.SeqNum != 5 {
		t.Fatalf("trim ack %+v", ack)
	}
	got := e.readAll("my-basin", "s")
	if len(got) != 4 || got[0].SeqNum != 2 || bodies(got[:3]) != "c,d,e" {
		t.Fatalf("after trim(2): %+v", got)
	}
	// Reads below the trim point begin at the first surviving record,
	// also by timestamp.
	b, err := e.svc.Read(e.ctx, "my-basin", "s", ReadRequest{Timestamp: u64(0)})
	if err != nil || len(b.Records) == 0 || b.Records[0].SeqNum != 2 {
		t.Fatalf("timestamp read after trim: %+v %v", b, err)
	}
	// Trim points never decrease.
	e.append("my-basin", "s", AppendInput{Records: []AppendRecord{trimRecord(1)}})
	if got := e.readAll("my-basin", "s"); got[0].SeqNum != 2 {
		t.Fatalf("trim went backwards: first %d", got[0].SeqNum)
	}
	// Trimming to the future trims everything up to and including the
	// trim record; the tail does not move.
	e.append("my-basin", "s", AppendInput{Records: []AppendRecord{{Body: []byte("f")}, trimRecord(1 << 40)}})
	tail := e.tail("my-basin", "s")
	if tail.SeqNum != 9 {
		t.Fatalf("tail %+v", tail)
	}
	if got := e.readAll("my-basin", "s"); len(got) != 0 {
		t.Fatalf("records survived trim to the future: %+v", got)
	}
	b, err = e.svc.Read(e.ctx, "my-basin", "s", ReadRequest{Timestamp: u64(0)})
	if err != nil || len(b.Records) != 0 {
		t.Fatalf("timestamp read of trimmed stream: %+v %v", b, err)
	}
	// The index entries went with the records.
	if n := countKeys(t, e, indexStreamPrefix(e.streamID("my-basin", "s"))); n != 0 {
		t.Fatalf("%d index entries left", n)
	}
	ack = e.appendBodies("my-basin", "s", "g")
	if ack.Start.SeqNum != 9 || bodies(e.readAll("my-basin", "s")) != "g" {
		t.Fatalf("append after trim: %+v", ack)
	}
	// The trim point survives a restart.
	e.reopen()
	if bodies(e.readAll("my-basin", "s")) != "g" {
		t.Fatal("trim lost in restart")
	}
}

func TestTrimIndexCleanupInBackground(t *testing.T) {
	e := newEnv(t)
	e.basin("my-basin", BasinConfig{})
	e.stream("my-basin", "s", StreamConfig{})
	e.appendBodies("my-basin", "s", "a", "b", "c", "d")
	e.append("my-basin", "s", AppendInput{Records: []AppendRecord{trimRecord(3)}})
	id := e.streamID("my-basin", "s")
	eventually(t, "index cleanup", func() bool { return countKeys(t, e, indexStreamPrefix(id)) == 2 })
	b, err := e.svc.Read(e.ctx, "my-basin", "s", ReadRequest{Timestamp: u64(0)})
	if err != nil || len(b.Records) != 2 || b.Records[0].SeqNum != 3 {
		t.Fatalf("read after cleanup: %+v %v", b, err)
	}
}

func (e *env) streamID(basin, name string) uint64 {
	m, err := e.svc.getStreamMeta(e.ctx, basin, name)
	if err != nil || m == nil {
		e.t.Fatalf("stream meta: %v", err)
	}
	return m.ID
}

func countKeys(t testing.TB, e *env, prefix []byte) int {
	names, err := e.svc.scanNames(e.ctx, prefix, 0)
	if err != nil {
		t.Fatal(err)
	}
	return len(names)
}

func TestRetention(t *testing.T) {
	e := newEnv(t)
	e.basin("my-basin", BasinConfig{})
	e.stream("my-basin", "s", StreamConfig{RetentionPolicy: &RetentionPolicy{AgeSecs: 10}})
	e.stream("my-basin", "forever", StreamConfig{RetentionPolicy: &RetentionPolicy{Infinite: true}})
	e.appendBodies("my-basin", "s", "old")
	e.appendBodies("my-basin", "forever", "old")
	e.clock.Advance(6 * time.Second)
	// Retention in force at write time applies: a shorter age later does
	// not shorten the life of records already written.
	if _, err := e.svc.ReconfigureStream(e.ctx, "my-basin", "s", StreamReconfiguration{RetentionPolicy: Some(RetentionPolicy{AgeSecs: 1})}); err != nil {
		t.Fatal(err)
	}
	e.appendBodies("my-basin", "s", "new")
	e.clock.Advance(2 * time.Second)
	if got := bodies(e.readAll("my-basin", "s")); got != "old" {
		t.Fatalf("at 8s: %q", got)
	}
	e.clock.Advance(3 * time.Second)
	tail := e.tail("my-basin", "s")
	if got := bodies(e.readAll("my-basin", "s")); got != "" || tail.SeqNum != 2 {
		t.Fatalf("at 11s: %q, tail %+v", got, tail)
	}
	e.clock.Advance(365 * 24 * time.Hour)
	if got := bodies(e.readAll("my-basin", "forever")); got != "old" {
		t.Fatalf("infinite retention lost %q", got)
	}
	// Expiry never changes the tail, also after a restart.
	e.reopen()
	if e.tail("my-basin", "s") != tail {
		t.Fatal("tail changed")
	}
	if ack := e.appendBodies("my-basin", "s", "x"); ack.Start.SeqNum != 2 {
		t.Fatalf("append after expiry %+v", ack)
	}
}

// TestPipelinedMismatchWaitsForDurability holds WAL writes so that a batch
// stays in flight, and checks that a conditional batch behind it is
// checked against the in-flight state but reported only once the earlier
// batch is durable.
func TestPipelinedMismatchWaitsForDurability(t *testing.T) {
	gs := &gateStore{Store: objstore.NewMemory()}
	e := newEnvOn(t, gs)
	t.Cleanup(gs.open) // runs before the env closes, even on failure
	e.basin("my-basin", BasinConfig{})
	e.stream("my-basin", "s", StreamConfig{})
	sess, err := e.svc.OpenAppendSession(e.ctx, "my-basin", "s")
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Close()

	gs.close()
	f1, err := sess.Submit(e.ctx, AppendInput{Records: records("a", "b")})
	if err != nil {
		t.Fatal(err)
	}
	// Next assignable includes the in-flight batch.
	f2, err := sess.Submit(e.ctx, AppendInput{Records: records("c"), MatchSeqNum: u64(2)})
	if err != nil {
		t.Fatal(err)
	}
	f3, err := sess.Submit(e.ctx, AppendInput{Records: records("d"), MatchSeqNum: u64(2)})
	if err != nil {
		t.Fatal(err)
	}
	// The session accepts nothing after a failure.
	if _, err := sess.Submit(e.ctx, AppendInput{Records: records("e")}); !errors.As(err, new(*SeqNumMismatchError)) {
		t.Fatalf("submit after mismatch: %v", err)
	}
	time.Sleep(20 * time.Millisecond)
	for i, f := range []*AppendFuture{f1, f2, f3} {
		select {
		case <-f.Done():
			t.Fatalf("future %d resolved before its batch or an earlier one was durable", i+1)
		default:
		}
	}
	gs.open()
	ack1, err1 := f1.Result()
	ack2, err2 := f2.Result()
	_, err3 := f3.Result()
	var mm *SeqNumMismatchError
	if err1 != nil || err2 != nil || ack1.End.SeqNum != 2 || ack2.Start.SeqNum != 2 || !errors.As(err3, &mm) || mm.ExpectedSeqNum != 3 {
		t.Fatalf("results: %+v %v / %+v %v / %v", ack1, err1, ack2, err2, err3)
	}
	if got := bodies(e.readAll("my-basin", "s")); got != "a,b,c" {
		t.Fatalf("stream %q", got)
	}
}

func TestAdmissionLimit(t *testing.T) {
	gs := &gateStore{Store: objstore.NewMemory()}
	e := newEnvOn(t, gs, func(o *Options) { o.AppendInflightBytes = 1 }) // raised to 1 MiB
	t.Cleanup(gs.open)
	e.basin("my-basin", BasinConfig{})
	e.stream("my-basin", "s", StreamConfig{})
	big := AppendInput{Records: []AppendRecord{{Body: make([]byte, 600<<10)}}}

	gs.close()
	first := make(chan error, 1)
	go func() { first <- second2(e.svc.Append(e.ctx, "my-basin", "s", big)) }()
	eventually(t, "first append admitted", func() bool { return e.svc.admission.inUse() > 0 })

	ctx, cancel := context.WithTimeout(e.ctx, 50*time.Millisecond)
	defer cancel()
	if _, err := e.svc.Append(ctx, "my-basin", "s", big); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("second append did not wait for room: %v", err)
	}
	// A waiting append proceeds once room is released.
	second := make(chan error, 1)
	go func() { second <- second2(e.svc.Append(e.ctx, "my-basin", "s", big)) }()
	time.Sleep(20 * time.Millisecond)
	select {
	case err := <-second:
		t.Fatalf("admitted while full: %v", err)
	default:
	}
	gs.open()
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	if err := <-second; err != nil {
		t.Fatal(err)
	}
	if n := e.svc.admission.inUse(); n != 0 {
		t.Fatalf("%d bytes still admitted", n)
	}
	if tail := e.tail("my-basin", "s"); tail.SeqNum != 2 {
		t.Fatalf("tail %+v", tail)
	}
}

func TestPipelinedFencing(t *testing.T) {
	gs := &gateStore{Store: objstore.NewMemory()}
	e := newEnvOn(t, gs)
	t.Cleanup(gs.open)
	e.basin("my-basin", BasinConfig{})
	e.stream("my-basin", "s", StreamConfig{})
	a, err := e.svc.OpenAppendSession(e.ctx, "my-basin", "s")
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := e.svc.OpenAppendSession(e.ctx, "my-basin", "s")
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()

	gs.close()
	fence, err := a.Submit(e.ctx, AppendInput{Records: []AppendRecord{fenceRecord("t1")}, FencingToken: str("")})
	if err != nil {
		t.Fatal(err)
	}
	// Checked against the in-flight fence: the new token passes, the old
	// one fails, and neither is reported before the fence is durable.
	ok, err := a.Submit(e.ctx, AppendInput{Records: records("x"), FencingToken: str("t1")})
	if err != nil {
		t.Fatal(err)
	}
	stale, err := b.Submit(e.ctx, AppendInput{Records: records("y"), FencingToken: str("")})
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(20 * time.Millisecond)
	select {
	case <-stale.Done():
		t.Fatal("fencing mismatch reported before the earlier batch was durable")
	default:
	}
	gs.open()
	if _, err := fence.Result(); err != nil {
		t.Fatal(err)
	}
	if ack, err := ok.Result(); err != nil || ack.Start.SeqNum != 1 {
		t.Fatalf("fenced append: %+v %v", ack, err)
	}
	var fm *FencingTokenMismatchError
	if _, err := stale.Result(); !errors.As(err, &fm) || fm.CurrentToken != "t1" {
		t.Fatalf("stale token: %v", err)
	}
}

func TestDeleteStreamWaitsForAcceptedAppends(t *testing.T) {
	gs := &gateStore{Store: objstore.NewMemory()}
	e := newEnvOn(t, gs)
	t.Cleanup(gs.open)
	e.basin("my-basin", BasinConfig{})
	e.stream("my-basin", "s", StreamConfig{})
	sess, err := e.svc.OpenAppendSession(e.ctx, "my-basin", "s")
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Close()
	gs.close()
	f, err := sess.Submit(e.ctx, AppendInput{Records: records("a")})
	if err != nil {
		t.Fatal(err)
	}
	deleted := make(chan error, 1)
	go func() { deleted <- e.svc.DeleteStream(e.ctx, "my-basin", "s") }()
	h := sess.h
	eventually(t, "deletion pending", func() bool {
		h.mu.Lock()
		defer h.mu.Unlock()
		return h.deleting
	})
	for name, err := range map[string]error{
		"append":     second2(e.svc.Append(e.ctx, "my-basin", "s", AppendInput{Records: records("b")})),
		"check tail": second2(e.svc.CheckTail(e.ctx, "my-basin", "s")),
		"read":       second2(e.svc.Read(e.ctx, "my-basin", "s", ReadRequest{SeqNum: u64(0)})),
		"get config": second2(e.svc.GetStreamConfig(e.ctx, "my-basin", "s")),
	} {
		if code(err) != CodeStreamDeletionPending || err.(*Error).Message != "stream deletion pending" {
			t.Fatalf("%s while deleting: %v", name, err)
		}
	}
	gs.open()
	if _, err := f.Result(); err != nil {
		t.Fatalf("accepted append: %v", err)
	}
	if err := <-deleted; err != nil {
		t.Fatal(err)
	}
	wantCode(t, second2(e.svc.CheckTail(e.ctx, "my-basin", "s")), CodeStreamNotFound)
}

func TestIdleStreamEviction(t *testing.T) {
	e := newEnv(t, func(o *Options) { o.IdleStreamTimeout = time.Nanosecond })
	e.basin("my-basin", BasinConfig{})
	e.stream("my-basin", "s", StreamConfig{})
	e.append("my-basin", "s", AppendInput{Records: []AppendRecord{fenceRecord("tok")}})
	e.appendBodies("my-basin", "s", "a")
	sess, err := e.svc.OpenReadSession(e.ctx, "my-basin", "s", ReadRequest{})
	if err != nil {
		t.Fatal(err)
	}
	e.svc.evictIdleStreams()
	h := e.svc.lookupStream(streamMapKey("my-basin", "s"))
	if h == nil {
		t.Fatal("stream in use was evicted")
	}
	h.release()
	sess.Close()
	time.Sleep(time.Millisecond)
	e.svc.evictIdleStreams()
	e.svc.mu.Lock()
	n := len(e.svc.streams)
	e.svc.mu.Unlock()
	if n != 0 {
		t.Fatalf("%d streams still loaded", n)
	}
	// Reloaded from storage with its state intact.
	var fm *FencingTokenMismatchError
	if _, err := e.svc.Append(e.ctx, "my-basin", "s", AppendInput{Records: records("b"), FencingToken: str("")}); !errors.As(err, &fm) {
		t.Fatalf("token lost on eviction: %v", err)
	}
	if ack := e.appendBodies("my-basin", "s", "b"); ack.Start.SeqNum != 2 {
		t.Fatalf("tail lost on eviction: %+v", ack)
	}
}
