package server

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"runtime"
	"strings"
	"testing"
	"time"
)

// TestStalledBodyIsCut: a unary append whose body stops arriving is ended
// after the stall timeout, with an error answer, and its connection freed.
func TestStalledBodyIsCut(t *testing.T) {
	e := newEnv(t, envOptions{server: Options{BodyStallTimeout: 300 * time.Millisecond}})
	e.basinAndStream("stall", nil)
	conn, err := net.Dial("tcp", strings.TrimPrefix(e.base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "POST /v1/streams/stall/records HTTP/1.1\r\nHost: x\r\ns2-basin: %s\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n{\"records\":[", testBasin)
	start := time.Now()
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	took := time.Since(start)
	if err == nil {
		resp.Body.Close()
		if resp.StatusCode < 400 {
			t.Fatalf("a stalled body got %d", resp.StatusCode)
		}
	}
	// Either an error answer or a closed connection, but soon.
	if took > 5*time.Second {
		t.Fatalf("the stalled request was held for %v (answer %v, %v)", took, resp, err)
	}
	t.Logf("stalled body ended after %v: %v %v", took.Round(time.Millisecond), statusOf(resp), err)
}

func statusOf(r *http.Response) string {
	if r == nil {
		return "no answer"
	}
	return r.Status
}

// TestAnnouncedLengthIsNotReserved: requests that announce a 16 MiB body
// and send a few bytes cost memory for what arrived, not what was
// announced (the server used to reserve the announced length up front).
func TestAnnouncedLengthIsNotReserved(t *testing.T) {
	e := newEnv(t, envOptions{})
	e.basinAndStream("announce", nil)
	const n = 40
	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	var conns []net.Conn
	for range n {
		conn, err := net.Dial("tcp", strings.TrimPrefix(e.base, "http://"))
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		fmt.Fprintf(conn, "POST /v1/streams/announce/records HTTP/1.1\r\nHost: x\r\ns2-basin: %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n{\"rec", testBasin, 16<<20)
		conns = append(conns, conn)
	}
	time.Sleep(500 * time.Millisecond) // every handler is reading its body
	var during runtime.MemStats
	runtime.ReadMemStats(&during)
	grew := int64(during.HeapAlloc) - int64(before.HeapAlloc)
	// 40 × 16 MiB would be 640 MiB; what arrived is a few bytes each.
	if grew > 64<<20 {
		t.Fatalf("the heap grew by %d MiB with %d requests announcing 16 MiB each", grew>>20, n)
	}
	t.Logf("heap grew by %.1f MiB with %d stalled 16 MiB announcements", float64(grew)/(1<<20), n)
	for _, c := range conns {
		c.Close()
	}
}
