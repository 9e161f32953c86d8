package lincheck

import (
	"context"
	"net/http"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/s2lite/s2lite/objstore"
)

// Reproductions of issues the linearizability runs report. Each asserts
// the behaviour the server should have, so it fails until the issue is
// fixed; they only run with S2LITE_LINCHECK_KNOWN_BUGS=1 so that the
// suite stays green meanwhile.

func knownIssue(t *testing.T, what string) {
	if os.Getenv("S2LITE_LINCHECK_KNOWN_BUGS") != "1" {
		t.Skipf("known issue: %s; set S2LITE_LINCHECK_KNOWN_BUGS=1 to run", what)
	}
}

// TestFencedServerAnswersStale pins down what TestFencing reports: a
// fenced server keeps answering check-tail (and reads, and 412s) from its
// memory, even after one of its appends failed because it is fenced and
// its /health already says so. A client that still reaches it sees a tail
// that B has long moved past: not linearizable.
func TestFencedServerAnswersStale(t *testing.T) {
	knownIssue(t, "a fenced server answers reads from memory")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	store := objstore.NewMemory()
	a, err := StartServer(ctx, store, ServerOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	ca := NewClient(a.URL, basin, tr, callTimeout)
	if err := ca.CreateStreams(ctx, []string{"s"}); err != nil {
		t.Fatal(err)
	}
	h := NewHistory()
	mustCall := func(c *Client, in Input, want Status) {
		t.Helper()
		out, err := c.Call(ctx, h, 0, in)
		if err != nil || out.Status != want {
			t.Fatalf("%s: %v (want status %d)", describe(in, out), err, want)
		}
	}
	mustCall(ca, Input{Stream: "s", Kind: Append, Records: []string{"a"}}, OK)

	b, err := StartServer(ctx, store, ServerOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { tr.CloseIdleConnections(); b.Close() }()
	cb := NewClient(b.URL, basin, tr, callTimeout)
	mustCall(cb, Input{Stream: "s", Kind: Append, Records: []string{"b"}}, OK)
	// A learns that it is fenced.
	mustCall(ca, Input{Stream: "s", Kind: Append, Records: []string{"x"}}, Unknown)

	in := Input{Stream: "s", Kind: CheckTail}
	out, err := ca.Call(ctx, h, 0, in)
	if err == nil {
		t.Errorf("fenced server A answered %s; B's tail is 2", describe(in, out))
	} else if !isNoOutcome(err) {
		t.Errorf("fenced server A: %v", err)
	}
}

// stuckWAL, once armed, never answers a WAL write before its context
// ends, like an S3 request that hangs.
type stuckWAL struct {
	objstore.Store
	armed *atomic.Bool
}

func (s stuckWAL) PutIfAbsent(ctx context.Context, key string, data []byte) (string, error) {
	if s.armed.Load() && strings.HasPrefix(key, "wal/") {
		<-ctx.Done()
		return "", ctx.Err()
	}
	return s.Store.PutIfAbsent(ctx, key, data)
}

// TestStorageDeadlineIsNotRequestTimeout: when the retrying store's
// deadline runs out during a WAL write, the append is answered 408
// request_timeout ("request timed out"), as if the client's request had
// timed out, instead of a storage error. The outcome is unknown either
// way, but the code misleads, and the reference never emits 408 (API
// 12.2). The error chain keeps context.DeadlineExceeded from the store's
// own deadline, which stream.storageError and the server take for the
// request's.
func TestStorageDeadlineIsNotRequestTimeout(t *testing.T) {
	knownIssue(t, "a storage retry deadline is reported as 408 request_timeout")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	armed := new(atomic.Bool)
	store := objstore.NewRetrying(stuckWAL{objstore.NewMemory(), armed}, objstore.RetryOptions{Deadline: 100 * time.Millisecond})
	srv, err := StartServer(ctx, store, ServerOptions{})
	if err != nil {
		t.Fatal(err)
	}
	tr := &http.Transport{}
	defer func() { tr.CloseIdleConnections(); srv.Close() }()
	c := NewClient(srv.URL, basin, tr, callTimeout)
	if err := c.CreateStreams(ctx, []string{"s"}); err != nil {
		t.Fatal(err)
	}
	armed.Store(true)
	_, status, err := c.Append(ctx, Input{Stream: "s", Kind: Append, Records: []string{"a"}})
	if err != nil {
		t.Fatal(err)
	}
	if status < 500 {
		t.Errorf("append while the store's deadline runs out: HTTP %d, want a 5xx storage error", status)
	}
}
