package server

import (
	"bytes"
	"context"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/s2lite/s2lite/objstore"
)

// slowStore delays every write, to make durability take visible time.
type slowStore struct {
	objstore.Store
	delay atomic.Int64 // nanoseconds
}

func (s *slowStore) wait(ctx context.Context) error {
	if d := time.Duration(s.delay.Load()); d > 0 {
		select {
		case <-time.After(d):
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

func (s *slowStore) Put(ctx context.Context, key string, data []byte) (string, error) {
	if err := s.wait(ctx); err != nil {
		return "", err
	}
	return s.Store.Put(ctx, key, data)
}

func (s *slowStore) PutIfAbsent(ctx context.Context, key string, data []byte) (string, error) {
	if err := s.wait(ctx); err != nil {
		return "", err
	}
	return s.Store.PutIfAbsent(ctx, key, data)
}

func (s *slowStore) PutIfMatch(ctx context.Context, key string, data []byte, etag string) (string, error) {
	if err := s.wait(ctx); err != nil {
		return "", err
	}
	return s.Store.PutIfMatch(ctx, key, data, etag)
}

func TestS2SAppendSessionPipelined(t *testing.T) {
	store := &slowStore{Store: objstore.NewMemory()}
	e := newEnv(t, envOptions{store: store})
	e.basinAndStream("s", nil)
	hb := []string{"s2-basin", testBasin}
	store.delay.Store(int64(50 * time.Millisecond))

	c, _ := e.openS2S("POST", "/v1/streams/s/records", hb...)
	const inputs = 20
	start := time.Now()
	// Every input is sent before any ack is read, each conditioned on the
	// sequence number that includes the inputs still in flight.
	for i := range inputs {
		in := pbInput(t, pbRecord(t, -1, []byte{byte(i)}), pbRecord(t, -1, []byte{byte(i), 1})).setU64("match_seq_num", uint64(2*i))
		c.send(in.marshal(t), 0)
	}
	for i := range inputs {
		ack := c.expectMessage("AppendAck")
		if s, en := ack.sub("start").u64("seq_num"), ack.sub("end").u64("seq_num"); s != uint64(2*i) || en != uint64(2*i+2) || ack.sub("tail").u64("seq_num") < en {
			t.Fatalf("ack %d: start %d end %d", i, s, en)
		}
	}
	// Serialised appends would need one 50 ms PUT each.
	if d := time.Since(start); d > time.Duration(inputs)*50*time.Millisecond*3/4 {
		t.Fatalf("%d pipelined inputs took %v: appends were not pipelined", inputs, d)
	}
	store.delay.Store(0)

	// A failed condition: the acks before it, then a terminal 412.
	c.send(pbInput(t, pbRecord(t, -1, []byte("ok"))).marshal(t), 0)
	c.send(pbInput(t, pbRecord(t, -1, []byte("bad"))).setU64("match_seq_num", 7).marshal(t), 0)
	// The server may already have ended the stream: this write may fail.
	_, _ = c.pw.Write(testFrame(0, pbInput(t, pbRecord(t, -1, []byte("never"))).marshal(t)))
	if ack := c.expectMessage("AppendAck"); ack.sub("start").u64("seq_num") != 2*inputs {
		t.Fatalf("ack before the failure: %v", ack)
	}
	body := c.expectTerminal(http.StatusPreconditionFailed)
	if body["seq_num_mismatch"] != float64(2*inputs+1) {
		t.Fatalf("terminal body %v", body)
	}
	// Nothing after the failure was appended.
	var tail jsonTailResponse
	e.call("GET", "/v1/streams/s/records/tail", nil, hb...).decode(t, &tail)
	if tail.Tail.SeqNum != 2*inputs+1 {
		t.Fatalf("tail %d after the failed session", tail.Tail.SeqNum)
	}
}

func TestS2SAppendSessionFrames(t *testing.T) {
	e := newEnv(t, envOptions{})
	e.basinAndStream("s", nil)
	hb := []string{"s2-basin", testBasin}
	big := bytes.Repeat([]byte("compressible "), 200)

	// Compressed and plain inputs, then a clean end of input.
	c, _ := e.openS2S("POST", "/v1/streams/s/records", append(hb, "accept-encoding", "zstd")...)
	c.send(pbInput(t, pbRecord(t, -1, big)).marshal(t), flagZstd)
	c.send(pbInput(t, pbRecord(t, -1, big)).marshal(t), flagGzip)
	c.send(pbInput(t, pbRecord(t, 42, []byte("plain"), [2][]byte{[]byte("k"), []byte("v")})).marshal(t), 0)
	for i := range 3 {
		if ack := c.expectMessage("AppendAck"); ack.sub("start").u64("seq_num") != uint64(i) {
			t.Fatalf("ack %d: %v", i, ack)
		}
	}
	c.closeInput()
	c.expectEnd()
	r := e.call("GET", "/v1/streams/s/records?seq_num=0", nil, append(hb, "accept", "application/protobuf")...).expect(t, http.StatusOK)
	got := pbBodies(unmarshalPB(t, "ReadBatch", r.body))
	if len(got) != 3 || got[0] != string(big) || got[1] != string(big) || got[2] != "plain" {
		t.Fatalf("read back %d records", len(got))
	}

	bad := map[string][]byte{
		"invalid compression": testFrame(0x60, []byte{1}),
		"client terminal":     testFrame(0x80, []byte{0, 200}),
		"bad protobuf":        testFrame(0, []byte{0xff, 0xff, 0xff}),
		"oversized":           {0x7f, 0xff, 0xff, 0},
		"zero length":         {0, 0, 0},
		"bad zstd":            testFrame(flagZstd, []byte("not zstd")),
	}
	for name, frame := range bad {
		c, _ := e.openS2S("POST", "/v1/streams/s/records", hb...)
		c.send(pbInput(t, pbRecord(t, -1, []byte("before"))).marshal(t), 0)
		c.expectMessage("AppendAck")
		c.raw(frame)
		if body := c.expectTerminal(http.StatusBadRequest); body["code"] != "bad_frame" {
			t.Fatalf("%s: terminal body %v", name, body)
		}
	}

	// Validation failures are 422 terminal messages.
	c, _ = e.openS2S("POST", "/v1/streams/s/records", hb...)
	c.send(pbInput(t).marshal(t), 0)
	if body := c.expectTerminal(http.StatusUnprocessableEntity); body["code"] != "invalid" {
		t.Fatalf("terminal body %v", body)
	}
	c, _ = e.openS2S("POST", "/v1/streams/s/records", hb...)
	c.send(pbInput(t, pbRecord(t, -1, nil)).setString("fencing_token", strings.Repeat("x", 37)).marshal(t), 0)
	c.expectTerminal(http.StatusUnprocessableEntity)

	// Failures before the session are plain HTTP responses.
	_, r = e.openS2S("POST", "/v1/streams/missing/records", hb...)
	r.expectError(t, http.StatusNotFound, "stream_not_found")
	_, r = e.openS2S("POST", "/v1/streams/s/records")
	r.expectError(t, http.StatusBadRequest, "bad_header")
}

func TestS2SReadSession(t *testing.T) {
	e := newEnv(t, envOptions{})
	e.basinAndStream("s", nil)
	hb := []string{"s2-basin", testBasin}
	e.appendJSON("s", "a", "b")

	// Limited: catch-up batches, then the stream ends without a terminal.
	c, _ := e.openS2S("GET", "/v1/streams/s/records?seq_num=0&count=2", hb...)
	b := c.expectMessage("ReadBatch")
	if got := pbBodies(b); len(got) != 2 || got[0] != "a" || b.has("tail") {
		t.Fatalf("catch-up batch %v", got)
	}
	c.expectEnd()

	// Following: catch-up without tail, heartbeat with tail, live batch
	// with tail.
	c, _ = e.openS2S("GET", "/v1/streams/s/records?seq_num=1", hb...)
	if b := c.expectMessage("ReadBatch"); len(pbBodies(b)) != 1 || b.has("tail") {
		t.Fatalf("catch-up %v", b)
	}
	hbeat := c.expectMessage("ReadBatch")
	if len(hbeat.list("records")) != 0 || !hbeat.has("tail") || hbeat.sub("tail").u64("seq_num") != 2 {
		t.Fatalf("heartbeat %v", hbeat)
	}
	e.appendJSON("s", "live")
	for {
		b := c.expectMessage("ReadBatch")
		if len(b.list("records")) == 0 {
			continue
		}
		if got := pbBodies(b); len(got) != 1 || got[0] != "live" || !b.has("tail") || b.sub("tail").u64("seq_num") != 3 {
			t.Fatalf("live batch %v", b)
		}
		break
	}
	// Deleting the stream ends the session with a terminal 503.
	e.call("DELETE", "/v1/streams/s", nil, hb...).expect(t, http.StatusAccepted)
	for {
		f, err := c.next(10 * time.Second)
		if err != nil {
			t.Fatalf("session ended without a terminal message: %v", err)
		}
		if f.terminal() {
			if f.status != http.StatusServiceUnavailable || !strings.Contains(string(f.body), `"unavailable"`) {
				t.Fatalf("terminal %d %s", f.status, f.body)
			}
			break
		}
	}
	c.expectEnd()

	_, r := e.openS2S("GET", "/v1/streams/s/records?seq_num=0", hb...)
	if r == nil || (r.status != http.StatusConflict && r.status != http.StatusNotFound) {
		t.Fatalf("read of a deleted stream: %v", r)
	}
	e.basinAndStream("t", nil)
	_, r = e.openS2S("GET", "/v1/streams/t/records?seq_num=5&count=1", hb...)
	r.expect(t, http.StatusRequestedRangeNotSatisfiable)
	jsonEqual(t, r.body, `{"tail":{"seq_num":0,"timestamp":0}}`)
}

func TestS2SReadCompression(t *testing.T) {
	e := newEnv(t, envOptions{})
	e.basinAndStream("s", nil)
	hb := []string{"s2-basin", testBasin}
	big := strings.Repeat("z", 4000)
	e.appendJSON("s", big)
	for enc, flag := range map[string]byte{"gzip;q=0.5": flagGzip, "br, zstd": flagZstd, "identity": 0} {
		c, _ := e.openS2S("GET", "/v1/streams/s/records?seq_num=0&count=1", append(hb, "accept-encoding", enc)...)
		f, err := c.next(10 * time.Second)
		if err != nil || f.flag != flag {
			t.Fatalf("%s: flag %#x (err %v), want %#x", enc, f.flag, err, flag)
		}
		if got := pbBodies(unmarshalPB(t, "ReadBatch", f.body)); len(got) != 1 || got[0] != big {
			t.Fatalf("%s: bodies differ", enc)
		}
		c.expectEnd()
	}
}

func TestS2SOverHTTP1(t *testing.T) {
	e := newEnv(t, envOptions{})
	e.basinAndStream("s", nil)
	hb := []string{"s2-basin", testBasin}
	c, r := e.openS2SWith(e.h1, "POST", "/v1/streams/s/records", hb...)
	if c == nil {
		t.Fatalf("session refused: %v", r)
	}
	for i := range 3 {
		c.send(pbInput(t, pbRecord(t, -1, []byte("x"))).marshal(t), 0)
		if ack := c.expectMessage("AppendAck"); ack.sub("start").u64("seq_num") != uint64(i) {
			t.Fatalf("ack %d: %v", i, ack)
		}
	}
	c.closeInput()
	c.expectEnd()
	rd, _ := e.openS2SWith(e.h1, "GET", "/v1/streams/s/records?seq_num=0&count=3", hb...)
	if got := pbBodies(rd.expectMessage("ReadBatch")); len(got) != 3 {
		t.Fatalf("read %q", got)
	}
	rd.expectEnd()
}
