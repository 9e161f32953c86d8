package server

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/s2lite/s2lite/engine"
	"github.com/s2lite/s2lite/objstore"
	"github.com/s2lite/s2lite/stream"
)

// TestGracefulShutdown shuts the server down while unary appends and an
// append session wait for slow durable writes and read sessions follow:
// every submitted append must complete and be durable, sessions must end
// with a retryable error, and nothing may be left running.
func TestGracefulShutdown(t *testing.T) {
	mem := objstore.NewMemory()
	store := &slowStore{Store: mem}
	e := newEnv(t, envOptions{store: store})
	e.basinAndStream("s", nil)
	hb := []string{"s2-basin", testBasin}

	sse, _ := e.openSSE("/v1/streams/s/records?seq_num=0", hb...)
	sse.expect("ping")
	s2sRead, _ := e.openS2S("GET", "/v1/streams/s/records?seq_num=0", hb...)
	s2sRead.expectMessage("ReadBatch") // heartbeat

	store.delay.Store(int64(300 * time.Millisecond))
	const unary = 5
	var wg sync.WaitGroup
	results := make(chan *response, unary)
	for i := range unary {
		wg.Go(func() {
			results <- e.call("POST", "/v1/streams/s/records",
				map[string]any{"records": []any{map[string]any{"body": string(rune('a' + i))}}}, hb...)
		})
	}
	longPoll := make(chan *response, 1)
	go func() { longPoll <- e.call("GET", "/v1/streams/s/records?seq_num=999&clamp=true&wait=30", nil, hb...) }()
	session, _ := e.openS2S("POST", "/v1/streams/s/records", hb...)
	for range 3 {
		session.send(pbInput(t, pbRecord(t, -1, []byte("session"))).marshal(t), 0)
	}
	time.Sleep(100 * time.Millisecond) // let every request reach the server

	start := time.Now()
	e.close()
	wg.Wait()
	close(results)
	for r := range results {
		r.expect(t, http.StatusOK)
	}
	// A long poll is cut short with a retryable error.
	(<-longPoll).expectError(t, http.StatusServiceUnavailable, "unavailable")
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("shutdown took %v", d)
	}

	// The session's submitted inputs were acknowledged, then it was told
	// to retry elsewhere.
	for range 3 {
		session.expectMessage("AppendAck")
	}
	if body := session.expectTerminal(http.StatusServiceUnavailable); body["code"] != "unavailable" {
		t.Fatalf("append session terminal %v", body)
	}
	// Read sessions ended with a retryable error.
	for {
		ev, err := sse.next(5 * time.Second)
		if err != nil {
			t.Fatalf("SSE session ended without an error event: %v", err)
		}
		if ev.event == "error" {
			var info errorInfo
			if err := json.Unmarshal([]byte(ev.data), &info); err != nil || info.Code != "unavailable" {
				t.Fatalf("SSE error event %q", ev.data)
			}
			break
		}
	}
	for {
		f, err := s2sRead.next(5 * time.Second)
		if err != nil {
			t.Fatalf("S2S read ended without a terminal message: %v", err)
		}
		if f.terminal() {
			if f.status != http.StatusServiceUnavailable {
				t.Fatalf("S2S read terminal %d %s", f.status, f.body)
			}
			break
		}
	}

	// After shutdown the handler refuses work and reports unhealthy.
	rec := httptest.NewRecorder()
	e.srv.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/health", nil))
	if rec.Code != http.StatusServiceUnavailable {
		t.Fatalf("health after shutdown: %d", rec.Code)
	}
	rec = httptest.NewRecorder()
	e.srv.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/v1/basins", nil))
	if rec.Code != http.StatusServiceUnavailable {
		t.Fatalf("request after shutdown: %d %s", rec.Code, rec.Body)
	}

	// Everything acknowledged is durable: reopen the store and count.
	ctx := context.Background()
	db, err := engine.Open(ctx, engine.Options{Store: mem})
	if err != nil {
		t.Fatal(err)
	}
	svc, err := stream.New(ctx, db, stream.Options{})
	if err != nil {
		t.Fatal(err)
	}
	tail, err := svc.CheckTail(ctx, testBasin, "s")
	if err != nil || tail.SeqNum != unary+3 {
		t.Fatalf("tail after restart %+v (%v), want %d", tail, err, unary+3)
	}
	if err := errors.Join(svc.Close(), db.Close()); err != nil {
		t.Fatal(err)
	}
}

// TestShutdownForced checks that a shutdown whose context ends first still
// closes every connection and returns the context's error.
func TestShutdownForced(t *testing.T) {
	store := &slowStore{Store: objstore.NewMemory()}
	e := newEnv(t, envOptions{store: store})
	e.basinAndStream("s", nil)
	store.delay.Store(int64(500 * time.Millisecond))
	done := make(chan struct{})
	go func() {
		defer close(done)
		req, _ := http.NewRequest("POST", e.base+"/v1/streams/s/records", nil)
		req.Body = io.NopCloser(jsonReader(`{"records":[{}]}`))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("s2-basin", testBasin)
		if resp, err := e.h1.Do(req); err == nil {
			_ = resp.Body.Close()
		}
	}()
	time.Sleep(100 * time.Millisecond)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if err := e.srv.Shutdown(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("forced shutdown: %v", err)
	}
	<-done
	store.delay.Store(0)
}

// hungStore passes reads through; once hung, its writes wait until
// released (or their context ends), like a store that stopped answering.
type hungStore struct {
	objstore.Store
	hung    atomic.Bool
	release chan struct{}
}

func (s *hungStore) wait(ctx context.Context) error {
	if !s.hung.Load() {
		return nil
	}
	select {
	case <-s.release:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (s *hungStore) Put(ctx context.Context, key string, data []byte) (string, error) {
	if err := s.wait(ctx); err != nil {
		return "", err
	}
	return s.Store.Put(ctx, key, data)
}

func (s *hungStore) PutIfAbsent(ctx context.Context, key string, data []byte) (string, error) {
	if err := s.wait(ctx); err != nil {
		return "", err
	}
	return s.Store.PutIfAbsent(ctx, key, data)
}

// TestShutdownWithHungStore: when the store hangs, a shutdown still ends
// within its grace period plus a small bound, and every append in flight,
// unary or in a session, gets an answer (503 unavailable, outcome unknown)
// instead of a dropped connection.
func TestShutdownWithHungStore(t *testing.T) {
	store := &hungStore{Store: objstore.NewMemory(), release: make(chan struct{})}
	e := newEnv(t, envOptions{store: store})
	e.basinAndStream("s", nil)
	hb := []string{"s2-basin", testBasin}
	store.hung.Store(true)
	defer close(store.release) // before the env's cleanup closes the engine

	const unary = 6
	results := make(chan *response, unary)
	for i := range unary {
		c := e.h1
		if i%2 == 1 {
			c = e.h2
		}
		go func() {
			results <- e.callWith(c, "POST", "/v1/streams/s/records",
				map[string]any{"records": []any{map[string]any{"body": "x"}}}, hb...)
		}()
	}
	session, _ := e.openS2S("POST", "/v1/streams/s/records", hb...)
	for range 2 {
		session.send(pbInput(t, pbRecord(t, -1, []byte("session"))).marshal(t), 0)
	}
	time.Sleep(200 * time.Millisecond)

	const grace = 500 * time.Millisecond
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	err := e.srv.Shutdown(ctx)
	took := time.Since(start)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("shutdown: %v", err)
	}
	if bound := grace + abortAnswerTime + time.Second; took > bound {
		t.Fatalf("shutdown took %v, more than %v", took, bound)
	}
	for range unary {
		r := <-results
		r.expectError(t, http.StatusServiceUnavailable, "unavailable")
	}
	if body := session.expectTerminal(http.StatusServiceUnavailable); body["code"] != "unavailable" {
		t.Fatalf("append session terminal %v", body)
	}
	t.Logf("shutdown with a hung store took %v", took.Round(time.Millisecond))
}
