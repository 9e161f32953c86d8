package lincheck

import (
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"

	"github.com/s2lite/s2lite/engine"
	"github.com/s2lite/s2lite/internal/s3test"
	"github.com/s2lite/s2lite/objstore"
)

// TestFencing starts server A, lets clients work on it, then starts server
// B on the same storage while the clients keep going, some on A, most on
// B. Opening B bumps the writer epoch, which fences A. From the moment B
// is open A must acknowledge no append; every append acknowledged by A
// (before) or B must be in B at its acknowledged position; and A's
// history before B opened together with B's must be linearizable.
func TestFencing(t *testing.T) {
	type pair func(t *testing.T) (a, b objstore.Store)
	pairs := map[string]pair{
		// One in-memory store shared by both servers.
		"memory": func(*testing.T) (objstore.Store, objstore.Store) {
			m := objstore.NewMemory()
			return m, m
		},
		// Two stores on one directory, as two processes would have.
		"local": func(t *testing.T) (objstore.Store, objstore.Store) {
			dir := t.TempDir()
			a, err := objstore.NewLocal(dir)
			if err != nil {
				t.Fatal(err)
			}
			b, err := objstore.NewLocal(dir)
			if err != nil {
				t.Fatal(err)
			}
			return a, b
		},
	}
	if s3test.Enabled() {
		// One bucket and prefix; each server retries on its own.
		pairs["minio"] = func(t *testing.T) (objstore.Store, objstore.Store) {
			s3 := s3test.Store(t)
			ro := objstore.RetryOptions{Deadline: 5 * time.Second}
			return objstore.NewRetrying(s3, ro), objstore.NewRetrying(s3, ro)
		}
	}
	sz := pick(size{streams: 3, clients: 4, calls: 80, rounds: 1}, size{streams: 3, clients: 5, calls: 150, rounds: 5})
	for name, stores := range pairs {
		t.Run(name, func(t *testing.T) {
			for round := range sz.rounds {
				s := seed(t)
				t.Logf("round %d: seed %d", round, s)
				a, b := stores(t)
				fencing(t, sz, s, a, b)
			}
		})
	}
}

func fencing(t *testing.T, sz size, seed uint64, storeA, storeB objstore.Store) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	opts := ServerOptions{MemtableSize: 16 << 10}
	srvA, err := StartServer(ctx, storeA, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		serveErr, engineErr := srvA.Close()
		if serveErr != nil {
			t.Errorf("closing A: %v", serveErr)
		}
		// A fenced engine may say so when it closes; anything else is a
		// failure.
		if engineErr != nil && !errors.Is(engineErr, engine.ErrFenced) {
			t.Errorf("closing A's engine: %v", engineErr)
		}
	}()
	clientA := newClient(t, srvA.URL)
	defer clientA.Close()
	streams := streamNames(sz.streams)
	if err := clientA.CreateStreams(ctx, streams); err != nil {
		t.Fatal(err)
	}

	h := NewHistory()
	var clientB atomic.Pointer[Client]
	var wg sync.WaitGroup
	errs := make(chan error, len(streams)*sz.clients)
	for si, s := range streams {
		for ci := range sz.clients {
			id := si*sz.clients + ci
			w := NewWorkload(s, id, seed)
			w.Abandon = 0.05
			rng := rand.New(rand.NewPCG(seed, uint64(id)+1<<32))
			target := func() *Client {
				// Once B is open, a third of the calls still go to A.
				if b := clientB.Load(); b != nil && rng.IntN(3) != 0 {
					return b
				}
				return clientA
			}
			wg.Go(func() {
				if err := w.Run(ctx, h, sz.calls, target); err != nil {
					errs <- err
				}
			})
		}
	}

	// Open B once A has done a good part of the work, while clients run.
	total := len(streams) * sz.clients * sz.calls
	for i := 0; i < 10_000 && len(h.Operations()) < total*2/5; i++ {
		time.Sleep(time.Millisecond)
	}
	openStart := h.Now()
	srvB, err := StartServer(ctx, storeB, opts)
	if err != nil {
		t.Fatalf("starting B: %v", err)
	}
	opened := h.Now()
	cb := newClient(t, srvB.URL)
	defer func() {
		// Idle client connections first: a connection the server has
		// accepted but not read a request from holds its shutdown for 5 s.
		cb.Close()
		if err := errors.Join(srvB.Close()); err != nil {
			t.Errorf("closing B: %v", err)
		}
	}()
	clientB.Store(cb)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}

	final := map[string][]string{}
	next := len(streams) * sz.clients
	for si, s := range streams {
		recs, err := cb.ReadAll(ctx, h, next+si, s)
		if err != nil {
			t.Fatalf("final read from B: %v", err)
		}
		final[s] = recs
	}

	ops := h.Operations()
	var keep []porcupine.Operation
	ackedA, ackedB := 0, 0
	var after []porcupine.Operation // A's calls made after B opened
	for _, op := range ops {
		in, out := op.Input.(Input), op.Output.(Output)
		switch {
		case answeredBy(op) != srvA.URL:
			if in.Kind == Append && out.Status == OK {
				ackedB++
			}
			keep = append(keep, op)
		case op.Call <= opened:
			if in.Kind == Append && out.Status == OK {
				ackedA++
			}
			keep = append(keep, op)
		default:
			after = append(after, op)
			if in.Kind == Append && out.Status == Unknown {
				keep = append(keep, op) // possibly applied, for all we know
			}
		}
	}
	t.Logf("B opened after %d of %d calls; acknowledged: %d by A before, %d by B",
		countBefore(ops, openStart), total, ackedA, ackedB)
	if ackedB == 0 {
		t.Errorf("B acknowledged nothing: it must serve")
	}
	r := reportFenced(t, after, ops, srvB.URL)
	if r.refused() == 0 {
		t.Errorf("A refused no append after B opened: the fence was not exercised")
	}
	// No keep-alive: the probe leaves no connection to A behind.
	probe := &http.Transport{DisableKeepAlives: true}
	if resp, err := probe.RoundTrip(mustRequest(t, srvA.URL+"/health")); err != nil {
		t.Errorf("A's /health: %v", err)
	} else {
		resp.Body.Close()
		if resp.StatusCode != http.StatusServiceUnavailable {
			t.Errorf("A's /health answers %d after A was fenced, want 503", resp.StatusCode)
		}
	}

	keep, applied, dropped := ResolveUnknown(keep, final)
	checkAcked(t, keep, final)
	start := time.Now()
	if _, err := Check(keep, checkTimeout, t.TempDir()); err != nil {
		t.Fatalf("A before B opened, with B: %v", err)
	}
	t.Logf("linearizable: %d operations checked in %v; unknown outcomes resolved: %d applied, %d not applied",
		len(keep), time.Since(start).Round(time.Millisecond), applied, dropped)
}

// fencedReport counts what fenced server A answered after B opened.
type fencedReport struct {
	acked, failed, rejected, staleRejected int
	reads, stale, staleAfterKnown          int
	statuses                               map[int]int // HTTP status of failed appends
}

// refused counts the appends A answered with an error (rather than the
// client giving up).
func (r fencedReport) refused() int {
	n := 0
	for status, count := range r.statuses {
		if status != 0 {
			n += count
		}
	}
	return n
}

// reportFenced checks and reports A's answers after B opened: no append
// may be acknowledged. Reads, check-tails and 412s are answered from A's
// memory; they are counted as stale when they imply a tail below what B
// had acknowledged before the call began, and "after known" when A had
// already failed an append (so its engine knew it was fenced).
func reportFenced(t *testing.T, after, all []porcupine.Operation, urlB string) fencedReport {
	t.Helper()
	r := fencedReport{statuses: map[int]int{}}
	known := int64(math.MaxInt64)
	for _, op := range after {
		in, out := op.Input.(Input), op.Output.(Output)
		if in.Kind == Append && out.Status == Unknown {
			known = min(known, op.Call+int64(op.Metadata.(Meta).Took))
		}
	}
	for _, op := range after {
		in, out := op.Input.(Input), op.Output.(Output)
		bTail := ackedTail(all, urlB, in.Stream, op.Call)
		switch {
		case in.Kind == Append && out.Status == OK:
			r.acked++
			t.Errorf("fenced server A acknowledged %s", describe(in, out))
		case in.Kind == Append && out.Status == Unknown:
			r.failed++
			r.statuses[op.Metadata.(Meta).HTTPStatus]++
		case in.Kind == Append:
			r.rejected++
			if out.Status == SeqMismatch && out.Expected < bTail {
				r.staleRejected++
			}
		default:
			r.reads++
			if stale(in, out, bTail) {
				r.stale++
				if op.Call > known {
					r.staleAfterKnown++
				}
			}
		}
	}
	t.Logf("A after B opened: %d appends acknowledged, %d failed (HTTP status: count %v), %d answered 412 (%d with a stale seq_num); "+
		"%d reads/check-tails answered, %d stale, %d of those after A had failed an append as fenced",
		r.acked, r.failed, r.statuses, r.rejected, r.staleRejected, r.reads, r.stale, r.staleAfterKnown)
	return r
}

func mustRequest(t *testing.T, url string) *http.Request {
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	return req
}

// ackedTail is the end of the last append to stream that server srv
// acknowledged before time t.
func ackedTail(ops []porcupine.Operation, srv, stream string, t int64) uint64 {
	var tail uint64
	for _, op := range ops {
		in, out := op.Input.(Input), op.Output.(Output)
		if answeredBy(op) == srv && in.Stream == stream && in.Kind == Append && out.Status == OK && op.Return < t {
			tail = max(tail, out.End)
		}
	}
	return tail
}

// stale reports whether a read or check-tail implies a tail below tail.
func stale(in Input, out Output, tail uint64) bool {
	switch {
	case in.Kind == CheckTail, out.Status == OutOfRange:
		return out.Tail < tail
	case in.Kind == Read && out.Status == OK:
		count := in.Count
		if count == 0 {
			count = unaryMaxRecords
		}
		return uint64(len(out.Records)) < min(count, tail-min(in.Start, tail))
	}
	return false
}

func countBefore(ops []porcupine.Operation, t int64) int {
	n := 0
	for _, op := range ops {
		if op.Call < t {
			n++
		}
	}
	return n
}
