package server

import (
	"bufio"
	"encoding/base64"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/http2"

	"github.com/s2lite/s2lite/internal/membudget"
)

// waitFor polls cond until it holds or d passes.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("after %v: %s", d, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// fillStream appends n records of size bytes each in batches.
func fillStream(e *env, name string, n, size int) {
	body := base64.StdEncoding.EncodeToString([]byte(strings.Repeat("r", size)))
	for i := 0; i < n; i += 100 {
		var recs []string
		for j := i; j < min(i+100, n); j++ {
			recs = append(recs, `{"body":"`+body+`"}`)
		}
		e.call("POST", "/v1/streams/"+name+"/records", `{"records":[`+strings.Join(recs, ",")+`]}`,
			"s2-basin", testBasin, "content-type", "application/json", "s2-format", "base64").expect(e.t, http.StatusOK)
	}
}

// TestMemoryBudgetRefusesBodies: a body that does not fit in what is left
// of the budget is answered 429 rate_limited, before the memory is taken,
// and the budget returns to empty afterwards; bodies that fit still work.
func TestMemoryBudgetRefusesBodies(t *testing.T) {
	budget := membudget.New(3 << 20)
	e := newEnv(t, envOptions{server: Options{Memory: budget}})
	e.basinAndStream("budget", nil)
	hb := []string{"s2-basin", testBasin, "content-type", "application/json"}

	small := `{"records":[{"body":"` + strings.Repeat("x", 100<<10) + `"}]}`
	e.call("POST", "/v1/streams/budget/records", small, hb...).expect(t, http.StatusOK)

	// A 6 MiB body (of valid JSON that would be refused later anyway)
	// cannot be read into a 3 MiB budget.
	big := `{"records":[{"body":"` + strings.Repeat("x", 6<<20) + `"}]}`
	r := e.call("POST", "/v1/streams/budget/records", big, hb...)
	if r.status != http.StatusTooManyRequests || !strings.Contains(string(r.body), `"rate_limited"`) {
		t.Fatalf("over-budget body: %s", r)
	}
	waitFor(t, 5*time.Second, "budget not returned", func() bool { return budget.Used() == 0 })
	if !budget.RefusedWithin(time.Minute) {
		t.Fatal("the refusal was not recorded")
	}
	e.call("POST", "/v1/streams/budget/records", small, hb...).expect(t, http.StatusOK)
	waitFor(t, 5*time.Second, "budget not returned", func() bool { return budget.Used() == 0 })
}

// TestReadSessionCap: read sessions past the cap are answered 429, and a
// slot frees when a session ends.
func TestReadSessionCap(t *testing.T) {
	e := newEnv(t, envOptions{server: Options{MaxReadSessions: 2}})
	e.basinAndStream("cap", nil)
	open := func() *http.Response {
		req, _ := http.NewRequest("GET", e.base+"/v1/streams/cap/records?seq_num=0", nil)
		req.Header.Set("s2-basin", testBasin)
		req.Header.Set("accept", "text/event-stream")
		resp, err := e.h2.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	a, b := open(), open()
	defer b.Body.Close()
	if a.StatusCode != 200 || b.StatusCode != 200 {
		t.Fatalf("sessions within the cap: %d %d", a.StatusCode, b.StatusCode)
	}
	c := open()
	c.Body.Close()
	if c.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("session past the cap: %d", c.StatusCode)
	}
	a.Body.Close()
	waitFor(t, 5*time.Second, "slot not freed", func() bool { return e.srv.readSessions.Load() == 1 })
	d := open()
	d.Body.Close()
	if d.StatusCode != 200 {
		t.Fatalf("session after one ended: %d", d.StatusCode)
	}
}

// TestStalledReadSessionIsDropped: a read session whose client never
// reads its socket is ended after the write stall timeout and its memory
// returned; a session that reads is unaffected.
func TestStalledReadSessionIsDropped(t *testing.T) {
	budget, readBudget := membudget.New(1<<30), membudget.New(1<<30)
	e := newEnv(t, envOptions{server: Options{Memory: budget, ReadMemory: readBudget, SessionWriteStallTimeout: 300 * time.Millisecond}})
	e.basinAndStream("stall", nil)
	fillStream(e, "stall", 600, 10<<10) // 6 MiB, far more than socket buffers

	conn, err := net.Dial("tcp", strings.TrimPrefix(e.base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	// A tiny receive buffer so the server's writes block soon.
	_ = conn.(*net.TCPConn).SetReadBuffer(4096)
	fmt.Fprintf(conn, "GET /v1/streams/stall/records?seq_num=0 HTTP/1.1\r\nHost: x\r\ns2-basin: %s\r\nAccept: text/event-stream\r\n\r\n", testBasin)
	waitFor(t, 5*time.Second, "session never opened", func() bool { return e.srv.readSessions.Load() == 1 })
	// Its buffers are drawn from the read-session budget.
	waitFor(t, 5*time.Second, "session buffers not accounted", func() bool { return readBudget.Used() > 1<<20 })
	start := time.Now()
	waitFor(t, 10*time.Second, "stalled session still open", func() bool { return e.srv.readSessions.Load() == 0 })
	t.Logf("stalled session dropped after %v", time.Since(start).Round(time.Millisecond))
	waitFor(t, 5*time.Second, "session memory not returned", func() bool { return budget.Used() == 0 && readBudget.Used() == 0 })

	// An idle session following a quiet stream is not cut: the deadline
	// only runs while a write is pending.
	req, _ := http.NewRequest("GET", e.base+"/v1/streams/stall/records?seq_num=600", nil)
	req.Header.Set("s2-basin", testBasin)
	req.Header.Set("accept", "text/event-stream")
	resp, err := e.h2.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	br := bufio.NewReader(resp.Body)
	time.Sleep(time.Second)
	fillStream(e, "stall", 1, 10)
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			t.Fatalf("idle following session ended: %v", err)
		}
		if strings.HasPrefix(line, "event: batch") {
			break
		}
	}
}

// TestMaxConcurrentStreamsAdvertised: the per-connection HTTP/2 stream cap
// is what the server announces in its SETTINGS.
func TestMaxConcurrentStreamsAdvertised(t *testing.T) {
	for _, c := range []struct{ set, want uint32 }{{0, defaultMaxConcurrentStreams}, {7, 7}} {
		e := newEnv(t, envOptions{server: Options{MaxConcurrentStreams: int(c.set)}})
		conn, err := net.Dial("tcp", strings.TrimPrefix(e.base, "http://"))
		if err != nil {
			t.Fatal(err)
		}
		_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
		if _, err := conn.Write([]byte(http2.ClientPreface)); err != nil {
			t.Fatal(err)
		}
		fr := http2.NewFramer(conn, conn)
		if err := fr.WriteSettings(); err != nil {
			t.Fatal(err)
		}
		f, err := fr.ReadFrame()
		if err != nil {
			t.Fatal(err)
		}
		sf, ok := f.(*http2.SettingsFrame)
		if !ok {
			t.Fatalf("first frame %T", f)
		}
		got, ok := sf.Value(http2.SettingMaxConcurrentStreams)
		if !ok || got != c.want {
			t.Fatalf("MaxConcurrentStreams %d (%v), want %d", got, ok, c.want)
		}
		conn.Close()
	}
}
