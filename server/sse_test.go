package server

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

type sseEvent struct{ event, id, data string }

type sseConn struct {
	t      testing.TB
	resp   *http.Response
	rd     *bufio.Reader
	cancel context.CancelFunc
	events chan sseResult
}

type sseResult struct {
	ev  sseEvent
	err error
}

// openSSE starts an SSE read session over c (HTTP/1.1 unless given). For a
// failure before the session it returns nil and the response.
func (e *env) openSSE(path string, kv ...string) (*sseConn, *response) {
	e.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, err := http.NewRequestWithContext(ctx, "GET", e.base+path, nil)
	if err != nil {
		e.t.Fatal(err)
	}
	req.Header.Set("Accept", "text/event-stream")
	for i := 0; i+1 < len(kv); i += 2 {
		req.Header.Set(kv[i], kv[i+1])
	}
	resp, err := e.h1.Do(req)
	if err != nil {
		cancel()
		e.t.Fatalf("SSE %s: %v", path, err)
	}
	if resp.StatusCode != http.StatusOK {
		defer cancel()
		defer resp.Body.Close()
		data, _ := io.ReadAll(resp.Body)
		return nil, &response{status: resp.StatusCode, header: resp.Header, body: data}
	}
	for k, want := range map[string]string{"Content-Type": "text/event-stream", "Cache-Control": "no-cache, no-transform", "X-Accel-Buffering": "no"} {
		if got := resp.Header.Get(k); got != want {
			e.t.Fatalf("SSE header %s = %q, want %q", k, got, want)
		}
	}
	c := &sseConn{t: e.t, resp: resp, rd: bufio.NewReader(resp.Body), cancel: cancel, events: make(chan sseResult)}
	go c.readLoop()
	e.t.Cleanup(c.close)
	return c, nil
}

func (c *sseConn) readLoop() {
	defer close(c.events)
	for {
		var ev sseEvent
		for {
			line, err := c.rd.ReadString('\n')
			if err != nil {
				c.events <- sseResult{err: err}
				return
			}
			line = strings.TrimSuffix(line, "\n")
			if line == "" {
				break
			}
			k, v, _ := strings.Cut(line, ": ")
			switch k {
			case "event":
				ev.event = v
			case "id":
				ev.id = v
			case "data":
				ev.data = v
			default:
				c.events <- sseResult{err: errors.New("unexpected SSE line " + line)}
				return
			}
		}
		c.events <- sseResult{ev: ev}
	}
}

func (c *sseConn) close() {
	c.cancel()
	_ = c.resp.Body.Close()
	for range c.events {
	}
}

// next returns the next event, or an error at the end of the stream.
func (c *sseConn) next(timeout time.Duration) (sseEvent, error) {
	c.t.Helper()
	select {
	case r, ok := <-c.events:
		if !ok {
			return sseEvent{}, io.EOF
		}
		return r.ev, r.err
	case <-time.After(timeout):
		c.t.Fatalf("no SSE event within %v", timeout)
		return sseEvent{}, nil
	}
}

func (c *sseConn) expect(event string) sseEvent {
	c.t.Helper()
	ev, err := c.next(10 * time.Second)
	if err != nil || ev.event != event {
		c.t.Fatalf("got event %+v (err %v), want %q", ev, err, event)
	}
	return ev
}

// expectDone reads the [DONE] event and the end of the stream.
func (c *sseConn) expectDone() {
	c.t.Helper()
	ev, err := c.next(10 * time.Second)
	if err != nil || ev != (sseEvent{data: "[DONE]"}) {
		c.t.Fatalf("got %+v (err %v), want [DONE]", ev, err)
	}
	if _, err := c.next(10 * time.Second); !errors.Is(err, io.EOF) {
		c.t.Fatalf("stream continues after [DONE]: %v", err)
	}
}

func batchOf(t testing.TB, ev sseEvent) jsonReadBatch {
	t.Helper()
	var b jsonReadBatch
	if err := json.Unmarshal([]byte(ev.data), &b); err != nil {
		t.Fatalf("batch data %q: %v", ev.data, err)
	}
	return b
}

func TestSSELimitedRead(t *testing.T) {
	e := newEnv(t, envOptions{})
	e.basinAndStream("s", nil)
	hb := []string{"s2-basin", testBasin}
	e.appendJSON("s", "a", "bb")
	e.appendJSON("s", "ccc")

	c, _ := e.openSSE("/v1/streams/s/records?seq_num=0&count=2", hb...)
	ev := c.expect("batch")
	b := batchOf(t, ev)
	if len(b.Records) != 2 || b.Records[0].Body != "a" || b.Records[1].Body != "bb" || b.Tail != nil {
		t.Fatalf("batch %q", ev.data)
	}
	// id: last seq_num, records and metered bytes so far (9 + 10).
	if ev.id != "1,2,19" {
		t.Fatalf("id %q", ev.id)
	}
	c.expectDone()

	// base64 format applies to SSE data.
	c, _ = e.openSSE("/v1/streams/s/records?seq_num=2&count=1", append(hb, "s2-format", "base64")...)
	if b := batchOf(t, c.expect("batch")); b.Records[0].Body != "Y2Nj" {
		t.Fatalf("base64 SSE body %q", b.Records[0].Body)
	}
	c.expectDone()

	// Failures before the session are plain JSON responses.
	_, r := e.openSSE("/v1/streams/s/records?seq_num=3&count=1", hb...)
	r.expect(t, http.StatusRequestedRangeNotSatisfiable)
	_, r = e.openSSE("/v1/streams/missing/records?seq_num=0", hb...)
	r.expectError(t, http.StatusNotFound, "stream_not_found")
	_, r = e.openSSE("/v1/streams/s/records?seq_num=0", append(hb, "last-event-id", "1,2")...)
	r.expectError(t, http.StatusBadRequest, "bad_header")
	_, r = e.openSSE("/v1/streams/s/records?seq_num=0", append(hb, "last-event-id", "a,b,c")...)
	r.expectError(t, http.StatusBadRequest, "bad_header")
}

func TestSSELastEventIDResume(t *testing.T) {
	e := newEnv(t, envOptions{})
	e.basinAndStream("s", nil)
	hb := []string{"s2-basin", testBasin}
	e.appendJSON("s", "r0", "r1", "r2", "r3", "r4")

	// The client got records 0..1 (2 records, 20 bytes) of a count=3
	// read: resuming yields exactly one more, record 2, and the counters
	// restart on the new connection.
	c, _ := e.openSSE("/v1/streams/s/records?seq_num=0&count=3", append(hb, "last-event-id", "1,2,20")...)
	ev := c.expect("batch")
	b := batchOf(t, ev)
	if len(b.Records) != 1 || b.Records[0].SeqNum != 2 || ev.id != "2,1,10" {
		t.Fatalf("resumed batch %+v id %q", b, ev.id)
	}
	c.expectDone()

	// The byte limit shrinks too: 25 - 20 leaves room for none.
	c, _ = e.openSSE("/v1/streams/s/records?seq_num=0&bytes=25", append(hb, "last-event-id", "1,2,20")...)
	c.expectDone()

	// Resuming overrides any other start and keeps following.
	c, _ = e.openSSE("/v1/streams/s/records?tail_offset=0", append(hb, "last-event-id", "3,4,40")...)
	if b := batchOf(t, c.expect("batch")); len(b.Records) != 1 || b.Records[0].Body != "r4" {
		t.Fatalf("resumed follow batch %+v", b)
	}
	c.expect("ping")
}

func TestSSEFollow(t *testing.T) {
	e := newEnv(t, envOptions{})
	e.basinAndStream("s", nil)
	hb := []string{"s2-basin", testBasin}
	e.appendJSON("s", "a", "b", "c")

	c, _ := e.openSSE("/v1/streams/s/records?tail_offset=2", hb...)
	if b := batchOf(t, c.expect("batch")); len(b.Records) != 2 || b.Records[0].Body != "b" || b.Tail != nil {
		t.Fatalf("catch-up batch %+v", b)
	}
	// Caught up: a ping carrying the tail, at once.
	ping := c.expect("ping")
	var pd struct {
		Timestamp uint64        `json:"timestamp"`
		Tail      *jsonPosition `json:"tail"`
	}
	if err := json.Unmarshal([]byte(ping.data), &pd); err != nil || pd.Tail == nil || pd.Tail.SeqNum != 3 ||
		time.Since(time.UnixMilli(int64(pd.Timestamp))) > time.Minute {
		t.Fatalf("ping %q: %v", ping.data, err)
	}
	// Heartbeats keep coming while idle (50-100 ms in tests).
	c.expect("ping")
	c.expect("ping")

	e.appendJSON("s", "live")
	for {
		ev, err := c.next(10 * time.Second)
		if err != nil {
			t.Fatal(err)
		}
		if ev.event == "ping" {
			continue
		}
		b := batchOf(t, ev)
		if ev.event != "batch" || len(b.Records) != 1 || b.Records[0].Body != "live" || b.Tail == nil || b.Tail.SeqNum != 4 || ev.id != "3,3,30" {
			t.Fatalf("live event %+v", ev)
		}
		break
	}

	// Deleting the stream ends the session with an error event.
	e.call("DELETE", "/v1/streams/s", nil, hb...).expect(t, http.StatusAccepted)
	for {
		ev, err := c.next(10 * time.Second)
		if err != nil {
			t.Fatalf("session ended without an error event: %v", err)
		}
		if ev.event != "error" {
			continue
		}
		var info errorInfo
		if err := json.Unmarshal([]byte(ev.data), &info); err != nil || info.Code != "unavailable" {
			t.Fatalf("error event %q", ev.data)
		}
		break
	}
	if _, err := c.next(10 * time.Second); !errors.Is(err, io.EOF) {
		t.Fatalf("stream continues after the error event: %v", err)
	}
}

func TestSSEWaitExpires(t *testing.T) {
	e := newEnv(t, envOptions{})
	e.basinAndStream("s", nil)
	start := time.Now()
	c, _ := e.openSSE("/v1/streams/s/records?seq_num=0&wait=1", "s2-basin", testBasin)
	for {
		ev, err := c.next(10 * time.Second)
		if err != nil {
			t.Fatal(err)
		}
		if ev.event == "ping" {
			continue
		}
		if ev.data != "[DONE]" {
			t.Fatalf("event %+v", ev)
		}
		break
	}
	if d := time.Since(start); d < 900*time.Millisecond {
		t.Fatalf("session ended after %v, before its wait", d)
	}
}
