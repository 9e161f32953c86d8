package lincheck

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"

	"github.com/s2lite/s2lite/internal/s3test"
	"github.com/s2lite/s2lite/objstore"
)

const (
	basin = "lincheck-basin"
	// callTimeout bounds one call; a call that runs out has an unknown
	// outcome.
	callTimeout = 5 * time.Second
	// checkTimeout bounds the porcupine check. Histories are kept small
	// enough that it takes well under a second; running out fails the test
	// rather than passing it unchecked.
	checkTimeout = 2 * time.Minute
)

// size is the shape of a run: streams x clients per stream x calls per
// client, repeated rounds times on fresh servers.
type size struct{ streams, clients, calls, rounds int }

// longRuns is set by `make lincheck`: more rounds and longer histories.
func longRuns() bool { return os.Getenv("S2LITE_LINCHECK_LONG") == "1" }

func pick(short, long size) size {
	if longRuns() {
		return long
	}
	return short
}

// seed is fixed by S2LITE_LINCHECK_SEED to replay a run's choices (the
// interleaving still depends on the scheduler).
func seed(t *testing.T) uint64 {
	if s := os.Getenv("S2LITE_LINCHECK_SEED"); s != "" {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("S2LITE_LINCHECK_SEED: %v", err)
		}
		return v
	}
	return rand.Uint64()
}

// newClient is NewClient with the test's call timeout; the caller closes
// it.
func newClient(t *testing.T, base string) *Client {
	t.Helper()
	c, err := NewClient(base, basin, callTimeout)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func streamNames(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("stream-%d", i)
	}
	return out
}

// run is one workload against one server.
type run struct {
	size   size
	seed   uint64
	server ServerOptions
	// faults, when set, is the store's fault injector: it is switched on
	// and off in stretches while the clients run, then off for good.
	faults *WALFaults
}

// result is what a run recorded.
type result struct {
	ops      []porcupine.Operation // after resolving unknown outcomes
	final    map[string][]string
	applied  int // unknown appends found applied
	dropped  int // unknown appends found not applied
	recovery []int
	// unknown counts appends of unknown outcome by HTTP status (0: no
	// response).
	unknown map[int]int
}

// workload runs r against a fresh server on store and returns the history.
func (r run) workload(t *testing.T, store objstore.Store) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	srv, err := StartServer(ctx, store, r.server)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		serveErr, engineErr := srv.Close()
		if err := errors.Join(serveErr, engineErr); err != nil {
			t.Errorf("closing the server: %v", err)
		}
	}()
	c := newClient(t, srv.URL)
	// Before the server closes (deferred earlier): see Client.Close.
	defer c.Close()
	streams := streamNames(r.size.streams)
	if err := c.CreateStreams(ctx, streams); err != nil {
		t.Fatal(err)
	}

	h := NewHistory()
	var wg sync.WaitGroup
	errs := make(chan error, len(streams)*r.size.clients)
	for si, s := range streams {
		for ci := range r.size.clients {
			w := NewWorkload(s, si*r.size.clients+ci, r.seed)
			w.Abandon = 0.05
			wg.Go(func() {
				if err := w.Run(ctx, h, r.size.calls, func() *Client { return c }); err != nil {
					errs <- err
				}
			})
		}
	}
	stopFaults := make(chan struct{})
	faultsDone := make(chan struct{})
	go func() {
		defer close(faultsDone)
		if r.faults != nil {
			r.faultStretches(stopFaults)
		}
	}()
	wg.Wait()
	close(stopFaults)
	<-faultsDone
	close(errs)
	for err := range errs {
		t.Error(err)
	}

	var res result
	next := len(streams) * r.size.clients
	if r.faults != nil {
		// Faults have stopped: every stream must take appends again. The
		// first append after a failure repairs the stream; allow a few
		// tries for background healing still in progress.
		for si, s := range streams {
			tries, err := appendUntilOK(ctx, c, h, next+si, s)
			if err != nil {
				t.Errorf("after the faults stopped: %v", err)
			}
			res.recovery = append(res.recovery, tries)
		}
	}
	res.final = map[string][]string{}
	for si, s := range streams {
		recs, err := c.ReadAll(ctx, h, next+si, s)
		if err != nil {
			t.Fatalf("final read: %v", err)
		}
		res.final[s] = recs
	}
	res.unknown = map[int]int{}
	for _, op := range h.Operations() {
		if op.Output.(Output).Status == Unknown {
			res.unknown[op.Metadata.(Meta).HTTPStatus]++
		}
	}
	res.ops, res.applied, res.dropped = ResolveUnknown(h.Operations(), res.final)
	return res
}

// faultStretches alternates stretches of failing WAL writes with quiet
// ones until stop is closed, and leaves faults off.
func (r run) faultStretches(stop <-chan struct{}) {
	rng := rand.New(rand.NewPCG(r.seed, 0xfa))
	defer r.faults.SetRate(0)
	for on := true; ; on = rng.IntN(2) == 0 { // start with faults on
		if on {
			r.faults.SetRate(0.2 + 0.6*rng.Float64())
		} else {
			r.faults.SetRate(0)
		}
		select {
		case <-stop:
			return
		case <-time.After(time.Duration(20+rng.IntN(150)) * time.Millisecond):
		}
	}
}

// appendUntilOK appends one record, trying a bounded number of times, and
// returns how many tries it took.
func appendUntilOK(ctx context.Context, c *Client, h *History, client int, stream string) (int, error) {
	const tries = 5
	for i := 1; i <= tries; i++ {
		in := Input{Stream: stream, Kind: Append, Records: []string{fmt.Sprintf("%s/probe/%d", stream, i)}}
		out, err := c.Call(ctx, h, client, in)
		if err != nil {
			return i, err
		}
		if out.Status == OK {
			return i, nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return tries, fmt.Errorf("%s: no append succeeded in %d tries", stream, tries)
}

// verify checks res: every acknowledged append is in the final contents at
// its acknowledged position (a plain statement of durability with a
// readable failure), then the whole history with porcupine.
func verify(t *testing.T, res result) {
	t.Helper()
	checkAcked(t, res.ops, res.final)
	start := time.Now()
	if _, err := Check(res.ops, checkTimeout, t.TempDir()); err != nil {
		t.Fatalf("%v", err)
	}
	for s, st := range Summarise(res.ops) {
		t.Logf("%s: %v; final tail %d", s, st, len(res.final[s]))
	}
	t.Logf("linearizable: %d operations checked in %v; unknown outcomes resolved: %d applied, %d not applied",
		len(res.ops), time.Since(start).Round(time.Millisecond), res.applied, res.dropped)
}

func checkAcked(t *testing.T, ops []porcupine.Operation, final map[string][]string) {
	t.Helper()
	for _, op := range ops {
		in, out := op.Input.(Input), op.Output.(Output)
		if in.Kind != Append || out.Status != OK || op.Return == math.MaxInt64 {
			continue // resolved unknowns are checked by the model
		}
		recs := final[in.Stream]
		for i, want := range in.Records {
			seq := out.Start + uint64(i)
			if seq >= uint64(len(recs)) || recs[seq] != want {
				got := "nothing"
				if seq < uint64(len(recs)) {
					got = fmt.Sprintf("%q", recs[seq])
				}
				t.Errorf("%s: acknowledged %q at %d, final contents hold %s", in.Stream, want, seq, got)
			}
		}
	}
}

// stores are the kinds of storage a run can use; MinIO only under the
// harness (internal/s3test).
func stores(t *testing.T) map[string]func(t *testing.T) objstore.Store {
	m := map[string]func(t *testing.T) objstore.Store{
		"memory": func(*testing.T) objstore.Store { return objstore.NewMemory() },
		"local": func(t *testing.T) objstore.Store {
			s, err := objstore.NewLocal(t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			return s
		},
	}
	if s3test.Enabled() {
		m["minio"] = func(t *testing.T) objstore.Store {
			return objstore.NewRetrying(s3test.Store(t), objstore.RetryOptions{Deadline: 5 * time.Second})
		}
	}
	return m
}

// TestLinearizable runs the mixed workload on each kind of store, with
// small memtables (flushes and compactions under load) and a short idle
// timeout (streams unloaded and reloaded between calls).
func TestLinearizable(t *testing.T) {
	sz := pick(size{streams: 3, clients: 4, calls: 80, rounds: 1}, size{streams: 3, clients: 5, calls: 150, rounds: 8})
	for name, newStore := range stores(t) {
		t.Run(name, func(t *testing.T) {
			for round := range sz.rounds {
				r := run{size: sz, seed: seed(t), server: ServerOptions{MemtableSize: 16 << 10, IdleStreamTimeout: 5 * time.Millisecond}}
				t.Logf("round %d: seed %d", round, r.seed)
				verify(t, r.workload(t, newStore(t)))
			}
		})
	}
}

// TestLinearizableUnderFaults fails WAL writes in stretches while the
// clients run: some before the write, some after it took effect. Clients
// see unknown outcomes; the history must stay linearizable, and once the
// faults stop every stream takes appends again.
func TestLinearizableUnderFaults(t *testing.T) {
	sz := pick(size{streams: 3, clients: 4, calls: 80, rounds: 1}, size{streams: 3, clients: 5, calls: 150, rounds: 8})
	type variant struct {
		name string
		base func(t *testing.T) objstore.Store
		// retry, when positive, puts a retrying store with this deadline
		// over the faults: injected errors are then transient and retried,
		// and a retry after a fault that hit after the write meets its own
		// object, which the engine resolves by reading it back.
		retry time.Duration
	}
	memory := func(*testing.T) objstore.Store { return objstore.NewMemory() }
	variants := []variant{{"fail-fast", memory, 0}, {"retrying", memory, 20 * time.Millisecond}}
	if s3test.Enabled() {
		variants = append(variants, variant{"minio-retrying", func(t *testing.T) objstore.Store { return s3test.Store(t) }, 200 * time.Millisecond})
	}
	for _, v := range variants {
		t.Run(v.name, func(t *testing.T) {
			for round := range sz.rounds {
				s := seed(t)
				faults := NewWALFaults(v.base(t), s)
				var store objstore.Store = faults
				if v.retry > 0 {
					faults.Transient = true
					store = objstore.NewRetrying(faults, objstore.RetryOptions{
						InitialBackoff: time.Millisecond, MaxBackoff: 5 * time.Millisecond, Deadline: v.retry,
					})
				}
				r := run{size: sz, seed: s, faults: faults, server: ServerOptions{MemtableSize: 16 << 10, IdleStreamTimeout: 5 * time.Millisecond}}
				t.Logf("round %d: seed %d", round, r.seed)
				res := r.workload(t, store)
				t.Logf("injected %d faults before and %d after the write; appends of unknown outcome by HTTP status: %v; tries to append once they stopped: %v",
					faults.Before.Load(), faults.After.Load(), res.unknown, res.recovery)
				if faults.Before.Load()+faults.After.Load() == 0 {
					t.Errorf("no fault was injected: the test tested nothing")
				}
				failed := 0
				for status, n := range res.unknown {
					if status != 0 {
						failed += n
					}
				}
				if v.retry == 0 && failed == 0 {
					t.Errorf("the server failed no append: the test tested nothing")
				}
				verify(t, res)
			}
		})
	}
}
