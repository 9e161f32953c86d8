package stream

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"testing"
	"time"
)

// readEnv has a stream "s" with records a..c at timestamps 100, 200, 300
// and an empty stream "empty".
func readEnv(t *testing.T, configure ...func(*Options)) *env {
	e := newEnv(t, configure...)
	e.basin("my-basin", BasinConfig{})
	e.stream("my-basin", "s", StreamConfig{})
	e.stream("my-basin", "empty", StreamConfig{})
	for i, body := range []string{"a", "b", "c"} {
		e.append("my-basin", "s", AppendInput{Records: []AppendRecord{{Timestamp: u64(uint64(100 * (i + 1))), Body: []byte(body)}}})
	}
	return e
}

func TestUnaryReadStartAnd416(t *testing.T) {
	e := readEnv(t)
	tail := StreamPosition{SeqNum: 3, Timestamp: 300}
	wait := dur(30 * time.Millisecond)
	for _, tc := range []struct {
		name   string
		stream string
		req    ReadRequest
		want   string // bodies, or "416"
		code   string // API error code
	}{
		{name: "from seq 0", req: ReadRequest{SeqNum: u64(0)}, want: "a,b,c"},
		{name: "from seq 1", req: ReadRequest{SeqNum: u64(1)}, want: "b,c"},
		{name: "tail offset 2", req: ReadRequest{TailOffset: u64(2)}, want: "b,c"},
		{name: "tail offset saturates", req: ReadRequest{TailOffset: u64(10)}, want: "a,b,c"},
		{name: "timestamp", req: ReadRequest{Timestamp: u64(150)}, want: "b,c"},
		{name: "timestamp equal included", req: ReadRequest{Timestamp: u64(200)}, want: "b,c"},
		{name: "timestamp 0", req: ReadRequest{Timestamp: u64(0)}, want: "a,b,c"},
		{name: "timestamp at tail timestamp", req: ReadRequest{Timestamp: u64(300)}, want: "c"},
		{name: "default start is the tail", req: ReadRequest{}, want: "416"},
		{name: "tail offset 0 without wait", req: ReadRequest{TailOffset: u64(0)}, want: "416"},
		{name: "at the tail", req: ReadRequest{SeqNum: u64(3)}, want: "416"},
		{name: "beyond the tail", req: ReadRequest{SeqNum: u64(999999)}, want: "416"},
		{name: "beyond with clamp, no wait", req: ReadRequest{SeqNum: u64(999999), Clamp: true}, want: "416"},
		{name: "beyond with clamp and wait", req: ReadRequest{SeqNum: u64(999999), Clamp: true, Wait: wait}, want: ""},
		{name: "at tail with wait", req: ReadRequest{SeqNum: u64(3), Wait: wait}, want: ""},
		{name: "timestamp beyond tail", req: ReadRequest{Timestamp: u64(301)}, want: "416"},
		{name: "timestamp beyond tail clamped, no wait", req: ReadRequest{Timestamp: u64(301), Clamp: true}, want: "416"},
		{name: "timestamp beyond tail clamped with wait", req: ReadRequest{Timestamp: u64(301), Clamp: true, Wait: wait}, want: ""},
		{name: "empty stream from 0", stream: "empty", req: ReadRequest{SeqNum: u64(0)}, want: "416"},
		{name: "empty stream from 0 with wait", stream: "empty", req: ReadRequest{SeqNum: u64(0), Wait: wait}, want: ""},
		// A resolved timestamp start landing on the tail is not a 416.
		{name: "empty stream by timestamp", stream: "empty", req: ReadRequest{Timestamp: u64(0)}, want: ""},
		{name: "two starts", req: ReadRequest{SeqNum: u64(0), TailOffset: u64(1)}, code: CodeInvalid},
		{name: "three starts", req: ReadRequest{SeqNum: u64(0), Timestamp: u64(1), TailOffset: u64(1)}, code: CodeInvalid},
		{name: "timestamp equal to until", req: ReadRequest{Timestamp: u64(200), Until: u64(200)}, code: CodeInvalid},
		{name: "missing stream", stream: "nope", req: ReadRequest{SeqNum: u64(0)}, code: CodeStreamNotFound},
	} {
		t.Run(tc.name, func(t *testing.T) {
			stream := tc.stream
			if stream == "" {
				stream = "s"
			}
			b, err := e.svc.Read(e.ctx, "my-basin", stream, tc.req)
			if tc.code != "" {
				wantCode(t, err, tc.code)
				return
			}
			if tc.want == "416" {
				var rns *RangeNotSatisfiableError
				want := tail
				if stream == "empty" {
					want = StreamPosition{}
				}
				if !errors.As(err, &rns) || rns.Tail != want {
					t.Fatalf("got %+v %v, want 416 with tail %+v", b, err, want)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := bodies(b.Records); got != tc.want || b.Tail != nil {
				t.Fatalf("got %q (tail %v), want %q", got, b.Tail, tc.want)
			}
		})
	}
	if msg := second2(e.svc.Read(e.ctx, "my-basin", "s", ReadRequest{SeqNum: u64(0), TailOffset: u64(1)})).(*Error).Message; msg != "only one of seq_num, timestamp, or tail_offset can be provided" {
		t.Fatalf("message %q", msg)
	}
	if msg := second2(e.svc.Read(e.ctx, "my-basin", "s", ReadRequest{Timestamp: u64(9), Until: u64(1)})).(*Error).Message; msg != "start `timestamp` exceeds or equal to `until`" {
		t.Fatalf("message %q", msg)
	}
}

func TestUnaryReadLimits(t *testing.T) {
	e := readEnv(t)
	for _, tc := range []struct {
		name string
		req  ReadRequest
		want string
	}{
		{"count", ReadRequest{SeqNum: u64(0), Count: u64(2)}, "a,b"},
		{"count 0", ReadRequest{SeqNum: u64(0), Count: u64(0)}, ""},
		{"bytes 0", ReadRequest{SeqNum: u64(0), Bytes: u64(0)}, ""},
		{"bytes below one record", ReadRequest{SeqNum: u64(0), Bytes: u64(8)}, ""},
		{"bytes exact", ReadRequest{SeqNum: u64(0), Bytes: u64(18)}, "a,b"},
		{"bytes partial", ReadRequest{SeqNum: u64(0), Bytes: u64(20)}, "a,b"},
		{"until", ReadRequest{SeqNum: u64(0), Until: u64(300)}, "a,b"},
		{"until excludes equal", ReadRequest{SeqNum: u64(0), Until: u64(101)}, "a"},
		{"until before all", ReadRequest{SeqNum: u64(0), Until: u64(100)}, ""},
		{"until with timestamp start", ReadRequest{Timestamp: u64(150), Until: u64(250)}, "b"},
		{"count and bytes", ReadRequest{SeqNum: u64(1), Count: u64(5), Bytes: u64(9)}, "b"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, err := e.svc.Read(e.ctx, "my-basin", "s", tc.req)
			if err != nil {
				t.Fatal(err)
			}
			if got := bodies(b.Records); got != tc.want {
				t.Fatalf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func TestUnaryReadClamps(t *testing.T) {
	e := newEnv(t)
	e.basin("my-basin", BasinConfig{})
	e.stream("my-basin", "s", StreamConfig{})
	for range 11 {
		e.append("my-basin", "s", AppendInput{Records: make([]AppendRecord, 100)})
	}
	b, err := e.svc.Read(e.ctx, "my-basin", "s", ReadRequest{SeqNum: u64(0), Count: u64(5000)})
	if err != nil || len(b.Records) != 1000 {
		t.Fatalf("count 5000 over 1100: %d %v", len(b.Records), err)
	}
	e.stream("my-basin", "big", StreamConfig{})
	for range 3 {
		e.append("my-basin", "big", AppendInput{Records: []AppendRecord{{Body: make([]byte, 500<<10)}}})
	}
	b, err = e.svc.Read(e.ctx, "my-basin", "big", ReadRequest{SeqNum: u64(0), Bytes: u64(10_000_000)})
	var total uint64
	for _, r := range b.Records {
		total += r.MeteredBytes()
	}
	if err != nil || len(b.Records) != 2 || total > MaxBatchBytes {
		t.Fatalf("bytes 10M: %d records, %d bytes, %v", len(b.Records), total, err)
	}
	// Wait is clamped to 60 s: a 1 h wait returns well before the test
	// deadline only if cancelled, so check the clamp directly.
	r, err := e.svc.startRead(e.ctx, "my-basin", "s", ReadRequest{Wait: dur(time.Hour)}, true, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if r.wait != maxUnaryWait {
		t.Fatalf("wait %v", r.wait)
	}
}

func TestUnaryLongPoll(t *testing.T) {
	e := readEnv(t)
	start := time.Now()
	b, err := e.svc.Read(e.ctx, "my-basin", "s", ReadRequest{SeqNum: u64(3), Wait: dur(100 * time.Millisecond)})
	if err != nil || len(b.Records) != 0 || time.Since(start) < 100*time.Millisecond {
		t.Fatalf("long poll without data: %+v %v after %v", b, err, time.Since(start))
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		time.Sleep(30 * time.Millisecond)
		e.appendBodies("my-basin", "s", "d", "e")
	}()
	b, err = e.svc.Read(e.ctx, "my-basin", "s", ReadRequest{SeqNum: u64(3), Wait: dur(10 * time.Second)})
	<-done
	if err != nil || bodies(b.Records) != "d,e" || b.Tail == nil || b.Tail.SeqNum != 5 {
		t.Fatalf("long poll with data: %+v %v", b, err)
	}
	// Records already there are returned at once, without a tail.
	b, err = e.svc.Read(e.ctx, "my-basin", "s", ReadRequest{SeqNum: u64(4), Wait: dur(10 * time.Second)})
	if err != nil || bodies(b.Records) != "e" || b.Tail != nil {
		t.Fatalf("long poll with data present: %+v %v", b, err)
	}
}

func TestReadSessionCatchUpThenFollow(t *testing.T) {
	e := readEnv(t, func(o *Options) { o.HeartbeatMin, o.HeartbeatMax = 20*time.Millisecond, 30*time.Millisecond })
	ctx := e.ctx
	sess, err := e.svc.OpenReadSession(ctx, "my-basin", "s", ReadRequest{TailOffset: u64(2)})
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Close()
	b, err := sess.Next(ctx)
	if err != nil || bodies(b.Records) != "b,c" || b.Tail != nil {
		t.Fatalf("catch-up batch: %+v %v", b, err)
	}
	b, err = sess.Next(ctx)
	if err != nil || !b.IsHeartbeat() || *b.Tail != (StreamPosition{3, 300}) {
		t.Fatalf("caught-up heartbeat: %+v %v", b, err)
	}
	e.appendBodies("my-basin", "s", "d")
	b, err = sess.Next(ctx)
	if err != nil || bodies(b.Records) != "d" || b.Tail == nil || b.Tail.SeqNum != 4 {
		t.Fatalf("live batch: %+v %v", b, err)
	}
	// Heartbeats keep coming while idle.
	b, err = sess.Next(ctx)
	if err != nil || !b.IsHeartbeat() || b.Tail.SeqNum != 4 {
		t.Fatalf("idle heartbeat: %+v %v", b, err)
	}
	// Cancelling the context ends Next without ending the session state.
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := sess.Next(cctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled Next: %v", err)
	}
}

func TestReadSessionLimitsAndWait(t *testing.T) {
	e := readEnv(t)
	ctx := e.ctx
	collect := func(req ReadRequest) (string, error) {
		sess, err := e.svc.OpenReadSession(ctx, "my-basin", "s", req)
		if err != nil {
			return "", err
		}
		defer sess.Close()
		var out []SequencedRecord
		for {
			b, err := sess.Next(ctx)
			if err == io.EOF {
				return bodies(out), nil
			}
			if err != nil {
				return "", err
			}
			out = append(out, b.Records...)
		}
	}
	for _, tc := range []struct {
		name string
		req  ReadRequest
		want string
	}{
		{"count", ReadRequest{SeqNum: u64(0), Count: u64(2)}, "a,b"},
		{"count reaching the tail ends", ReadRequest{SeqNum: u64(0), Count: u64(10)}, "a,b,c"},
		{"until", ReadRequest{SeqNum: u64(0), Until: u64(250)}, "a,b"},
		{"bytes", ReadRequest{SeqNum: u64(1), Bytes: u64(9)}, "b"},
		{"wait 0 without limits", ReadRequest{SeqNum: u64(2), Wait: dur(0)}, "c"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := collect(tc.req)
			if err != nil || got != tc.want {
				t.Fatalf("got %q %v, want %q", got, err, tc.want)
			}
		})
	}
	// Limits without wait at the tail: 416. With wait: heartbeat, then
	// the session ends after wait.
	_, err := e.svc.OpenReadSession(ctx, "my-basin", "s", ReadRequest{SeqNum: u64(3), Count: u64(1)})
	if !errors.As(err, new(*RangeNotSatisfiableError)) {
		t.Fatalf("limited session at tail: %v", err)
	}
	sess, err := e.svc.OpenReadSession(ctx, "my-basin", "s", ReadRequest{Count: u64(1), Wait: dur(80 * time.Millisecond)})
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Close()
	start := time.Now()
	if b, err := sess.Next(ctx); err != nil || !b.IsHeartbeat() {
		t.Fatalf("heartbeat: %+v %v", b, err)
	}
	if _, err := sess.Next(ctx); err != io.EOF || time.Since(start) < 80*time.Millisecond {
		t.Fatalf("wait expiry: %v after %v", err, time.Since(start))
	}
	// Without limits and without wait, a session at the tail follows.
	sess2, err := e.svc.OpenReadSession(ctx, "my-basin", "s", ReadRequest{})
	if err != nil {
		t.Fatal(err)
	}
	defer sess2.Close()
	if b, err := sess2.Next(ctx); err != nil || !b.IsHeartbeat() {
		t.Fatalf("follow from tail: %+v %v", b, err)
	}
	// A live batch cut by a limit ends the session.
	sess3, err := e.svc.OpenReadSession(ctx, "my-basin", "s", ReadRequest{Count: u64(2), Wait: dur(10 * time.Second)})
	if err != nil {
		t.Fatal(err)
	}
	defer sess3.Close()
	if b, err := sess3.Next(ctx); err != nil || !b.IsHeartbeat() {
		t.Fatalf("heartbeat: %+v %v", b, err)
	}
	e.appendBodies("my-basin", "s", "x", "y", "z")
	if b, err := sess3.Next(ctx); err != nil || bodies(b.Records) != "x,y" || b.Tail.SeqNum != 6 {
		t.Fatalf("cut live batch: %+v %v", b, err)
	}
	if _, err := sess3.Next(ctx); err != io.EOF {
		t.Fatalf("after limit: %v", err)
	}
}

// TestSlowFollowerFallsBackToStorage lets a follower's buffer overflow and
// checks that it still sees every record once, in order.
func TestSlowFollowerFallsBackToStorage(t *testing.T) {
	e := newEnv(t, func(o *Options) { o.FollowerBufferBatches = 2 })
	ctx := e.ctx
	e.basin("my-basin", BasinConfig{})
	e.stream("my-basin", "s", StreamConfig{})
	sess, err := e.svc.OpenReadSession(ctx, "my-basin", "s", ReadRequest{SeqNum: u64(0)})
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Close()
	if b, err := sess.Next(ctx); err != nil || !b.IsHeartbeat() {
		t.Fatalf("heartbeat: %+v %v", b, err)
	}
	h := sess.h
	for i := range 10 {
		e.appendBodies("my-basin", "s", string(rune('a'+i)))
	}
	h.mu.Lock()
	followers := len(h.followers)
	h.mu.Unlock()
	if followers != 0 {
		t.Fatal("slow follower was not dropped")
	}
	var got []SequencedRecord
	heartbeats := 0
	for len(got) < 10 {
		b, err := sess.Next(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if b.IsHeartbeat() {
			heartbeats++
		}
		got = append(got, b.Records...)
	}
	for i, r := range got {
		if r.SeqNum != uint64(i) {
			t.Fatalf("record %d has seq %d", i, r.SeqNum)
		}
	}
	if bodies(got) != "a,b,c,d,e,f,g,h,i,j" {
		t.Fatalf("got %q", bodies(got))
	}
	// Back at the tail it announces itself with a heartbeat and follows
	// live again.
	if b, err := sess.Next(ctx); err != nil || !b.IsHeartbeat() || b.Tail.SeqNum != 10 {
		t.Fatalf("heartbeat after catching up: %+v %v", b, err)
	}
	e.appendBodies("my-basin", "s", "k")
	if b, err := sess.Next(ctx); err != nil || bodies(b.Records) != "k" || b.Tail == nil {
		t.Fatalf("live after fallback: %+v %v", b, err)
	}
}

func TestReadSessionEndsOnClose(t *testing.T) {
	e := readEnv(t)
	sess, err := e.svc.OpenReadSession(e.ctx, "my-basin", "s", ReadRequest{})
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Close()
	if b, err := sess.Next(e.ctx); err != nil || !b.IsHeartbeat() {
		t.Fatalf("heartbeat: %+v %v", b, err)
	}
	errc := make(chan error, 1)
	go func() { errc <- second2(sess.Next(e.ctx)) }()
	time.Sleep(10 * time.Millisecond)
	e.svc.Close()
	wantCode(t, <-errc, CodeUnavailable)
}

// TestCatchUpAcrossIteratorWindows reads a stream longer than one catch-up
// iterator spans (maxStoreIterRecords), from flushed tables and the
// memtable, and gets every record once, in order.
func TestCatchUpAcrossIteratorWindows(t *testing.T) {
	e := newEnv(t)
	e.basin("window-basin", BasinConfig{})
	e.stream("window-basin", "s", StreamConfig{})
	const perBatch = 1000
	batches := maxStoreIterRecords/perBatch + 6
	for i := range batches {
		in := AppendInput{Records: make([]AppendRecord, perBatch)}
		for j := range in.Records {
			in.Records[j].Body = []byte(fmt.Sprint(i*perBatch + j))
		}
		e.append("window-basin", "s", in)
		if i == batches/2 {
			if err := e.db.Flush(e.ctx); err != nil {
				t.Fatal(err)
			}
		}
	}
	zero, noWait := uint64(0), time.Duration(0)
	r, err := e.svc.OpenReadSession(e.ctx, "window-basin", "s", ReadRequest{SeqNum: &zero, Wait: &noWait})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	next := uint64(0)
	for {
		b, err := r.Next(e.ctx)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		for _, rec := range b.Records {
			if rec.SeqNum != next || string(rec.Body) != fmt.Sprint(next) {
				t.Fatalf("record %d: seq %d body %q", next, rec.SeqNum, rec.Body)
			}
			next++
		}
	}
	if want := uint64(batches * perBatch); next != want {
		t.Fatalf("read %d records, want %d", next, want)
	}
}

// TestAppendBuffersReusable: once Append returns, the caller may reuse
// its buffers; followers and readers still see what was appended (the
// records they get alias the one copy the batch keeps).
func TestAppendBuffersReusable(t *testing.T) {
	e := readEnv(t, func(o *Options) { o.HeartbeatMin, o.HeartbeatMax = 20*time.Millisecond, 30*time.Millisecond })
	ctx := e.ctx
	sess, err := e.svc.OpenReadSession(ctx, "my-basin", "s", ReadRequest{SeqNum: u64(3)})
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Close()
	// Caught up: from here on the session follows live batches.
	if b, err := sess.Next(ctx); err != nil || !b.IsHeartbeat() {
		t.Fatalf("caught-up heartbeat: %+v %v", b, err)
	}
	name, value := []byte("h-name"), []byte("h-value")
	big := bytes.Repeat([]byte("0123456789abcdef"), 4096) // 64 KiB: the batch's large-value path
	small := []byte("small body")
	want := []SequencedRecord{
		{Headers: []Header{{Name: bytes.Clone(name), Value: bytes.Clone(value)}}, Body: bytes.Clone(small)},
		{Body: bytes.Clone(big)},
		{Headers: []Header{{Name: bytes.Clone(name), Value: nil}}},
	}
	e.append("my-basin", "s", AppendInput{Records: []AppendRecord{
		{Headers: []Header{{Name: name, Value: value}}, Body: small},
		{Body: big},
		{Headers: []Header{{Name: name}}},
	}})
	for _, buf := range [][]byte{name, value, big, small} {
		for i := range buf {
			buf[i] = 'X'
		}
	}
	check := func(what string, got []SequencedRecord) {
		t.Helper()
		if len(got) != len(want) {
			t.Fatalf("%s: %d records, want %d", what, len(got), len(want))
		}
		for i, r := range got {
			w := want[i]
			if r.SeqNum != uint64(3+i) || !bytes.Equal(r.Body, w.Body) || len(r.Headers) != len(w.Headers) {
				t.Fatalf("%s: record %d = seq %d, %d headers, body %.20q; want seq %d, %d headers, body %.20q", what, i, r.SeqNum, len(r.Headers), r.Body, 3+i, len(w.Headers), w.Body)
			}
			for j, h := range r.Headers {
				if !bytes.Equal(h.Name, w.Headers[j].Name) || !bytes.Equal(h.Value, w.Headers[j].Value) {
					t.Fatalf("%s: record %d header %d = %q: %q, want %q: %q", what, i, j, h.Name, h.Value, w.Headers[j].Name, w.Headers[j].Value)
				}
			}
		}
	}
	var followed []SequencedRecord
	for len(followed) < len(want) {
		b, err := sess.Next(ctx)
		if err != nil {
			t.Fatal(err)
		}
		followed = append(followed, b.Records...)
	}
	if sess.follower == nil {
		t.Fatal("the records did not come from the live path")
	}
	check("follower", followed)
	check("unary read", e.readAll("my-basin", "s")[3:])
}
