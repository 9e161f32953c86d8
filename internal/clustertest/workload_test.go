package clustertest

// The workload: one writer per stream appending small batches through a
// node chosen at random for each append, readers reading random ranges
// through random nodes, every call recorded in the ledger; a prober that
// measures how soon a basin takes appends again after its owner died;
// and checks that read every stream back. Appends and reads hold the
// gate shared and a check holds it exclusively, so that a check sees no
// append in flight.

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/s2lite/s2lite/partition"
)

const (
	// appendTimeout bounds one append of the workload: a frozen node
	// holds it that long, and its outcome is then unknown.
	appendTimeout = 5 * time.Second
	readTimeout   = 5 * time.Second
)

type workload struct {
	t   *testing.T
	c   *cluster
	api *api
	l   *ledger

	gate sync.RWMutex
	stop chan struct{}
	wg   sync.WaitGroup
	ops  atomic.Int64 // appends made, to name bodies
	// writes and reads count the calls made.
	writes, reads atomic.Int64
}

func newWorkload(t *testing.T, c *cluster, l *ledger) *workload {
	return &workload{t: t, c: c, api: c.api, l: l, stop: make(chan struct{})}
}

func (w *workload) stopped() bool {
	select {
	case <-w.stop:
		return true
	default:
		return false
	}
}

// sleep waits d or until the workload stops; false when stopped.
func (w *workload) sleep(d time.Duration) bool {
	select {
	case <-w.stop:
		return false
	case <-time.After(d):
		return true
	}
}

// pick returns a random live node, or nil.
func (w *workload) pick(rng *rand.Rand) *node {
	live := w.c.live()
	if len(live) == 0 {
		return nil
	}
	return live[rng.IntN(len(live))]
}

// appendVia makes one append of n records through via and records it.
func (w *workload) appendVia(sl *streamLedger, writer string, via *node, n int, timeout time.Duration) *appendOp {
	w.gate.RLock()
	defer w.gate.RUnlock()
	k := w.ops.Add(1)
	bodies := make([]string, n)
	for i := range bodies {
		bodies[i] = fmt.Sprintf("%s|%s|%s|%d.%d", sl.basin, sl.name, writer, k, i)
	}
	op := sl.begin(writer, via.id, bodies)
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	ack, ans := w.api.appendRecords(ctx, via.url, sl.basin, sl.name, bodies)
	sl.finish(op, ack, ans)
	w.writes.Add(1)
	return op
}

// writer appends to sl until the workload stops.
func (w *workload) writer(id int, sl *streamLedger) {
	rng := rand.New(rand.NewPCG(uint64(id), uint64(time.Now().UnixNano())))
	name := fmt.Sprintf("w%d", id)
	for !w.stopped() {
		via := w.pick(rng)
		if via == nil {
			w.sleep(100 * time.Millisecond)
			continue
		}
		op := w.appendVia(sl, name, via, 1+rng.IntN(3), appendTimeout)
		pause := 10 * time.Millisecond
		if op.outcome != acked {
			pause = 100 * time.Millisecond
		}
		w.sleep(pause)
	}
}

// reader reads random ranges of random streams through random nodes.
func (w *workload) reader(id int) {
	rng := rand.New(rand.NewPCG(uint64(id)+1000, uint64(time.Now().UnixNano())))
	for !w.stopped() {
		via := w.pick(rng)
		if via == nil {
			w.sleep(100 * time.Millisecond)
			continue
		}
		sl := w.l.streams[rng.IntN(len(w.l.streams))]
		w.readOnce(sl, via, rng)
		w.sleep(15 * time.Millisecond)
	}
}

func (w *workload) readOnce(sl *streamLedger, via *node, rng *rand.Rand) {
	w.gate.RLock()
	defer w.gate.RUnlock()
	through := sl.ackedThrough()
	from := uint64(0)
	if through > 0 {
		from = rng.Uint64N(through + 1)
	}
	count := 1 + rng.IntN(200)
	ctx, cancel := context.WithTimeout(context.Background(), readTimeout)
	defer cancel()
	recs, tail, ans := w.api.readRecords(ctx, via.url, sl.basin, sl.name, from, count)
	w.reads.Add(1)
	switch {
	case ans.err != nil:
		// No answer, or one cut short: says nothing.
	case ans.status == http.StatusOK:
		sl.observeRead(from, count, recs, 0, false, through, via.id, ans.servedBy)
	case ans.status == http.StatusRequestedRangeNotSatisfiable:
		sl.observeRead(from, count, nil, tail, true, through, via.id, ans.servedBy)
	case ans.status >= 500 || ans.status == http.StatusTooManyRequests || ans.status == http.StatusRequestTimeout:
		// Unavailable while a partition moves: retryable.
	default:
		w.l.violate("%s/%s read from %d via %s: unexpected answer %s", sl.basin, sl.name, from, via.id, ans)
	}
}

// start runs one writer per stream and a few readers.
func (w *workload) start(readers int) {
	for i, sl := range w.l.streams {
		w.wg.Go(func() { w.writer(i, sl) })
	}
	for i := range readers {
		w.wg.Go(func() { w.reader(i) })
	}
}

// halt stops the writers and readers and waits for them.
func (w *workload) halt() {
	select {
	case <-w.stop:
	default:
		close(w.stop)
	}
	w.wg.Wait()
}

// probe appends to sl through the nodes via returns, in turn, until one
// append is acknowledged or limit passes, and returns that append. Each
// attempt is bounded by 2 s, so that a dead route does not eat the time.
func (w *workload) probe(sl *streamLedger, via func() []*node, limit time.Duration) (*appendOp, int, error) {
	return w.probeEach(sl, via, limit, 2*time.Second)
}

// probeEach is probe with each attempt bounded by attempt.
func (w *workload) probeEach(sl *streamLedger, via func() []*node, limit, attempt time.Duration) (*appendOp, int, error) {
	deadline := time.Now().Add(limit)
	attempts := 0
	var last *appendOp
	for i := 0; ; i++ {
		nodes := via()
		if len(nodes) > 0 {
			attempts++
			op := w.appendVia(sl, "probe", nodes[i%len(nodes)], 1, attempt)
			if op.outcome == acked {
				return op, attempts, nil
			}
			last = op
		}
		if time.Now().After(deadline) {
			return nil, attempts, fmt.Errorf("no append to %s/%s acknowledged within %v (%d attempts); the last: %v", sl.basin, sl.name, limit, attempts, last)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// servedBy asks for sl's tail through a live node until it gets an
// answer, and returns the node that served it: the owner of its
// partition.
func (w *workload) servedBy(sl *streamLedger, limit time.Duration) (string, error) {
	deadline := time.Now().Add(limit)
	var last answer
	for {
		for _, n := range w.c.live() {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			_, ans := w.api.checkTail(ctx, n.url, sl.basin, sl.name)
			cancel()
			if ans.status == http.StatusOK && ans.servedBy != "" {
				return ans.servedBy, nil
			}
			last = ans
		}
		if time.Now().After(deadline) {
			return "", fmt.Errorf("%s/%s: no tail with %s within %v; last: %s", sl.basin, sl.name, servedByHeader, limit, last)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// readAll reads a whole stream from seq 0 through base, retrying
// retryable failures for up to limit.
func (w *workload) readAll(sl *streamLedger, base string, limit time.Duration) ([]jsonRecord, error) {
	deadline := time.Now().Add(limit)
	var recs []jsonRecord
	for {
		ctx, cancel := context.WithTimeout(context.Background(), readTimeout)
		page, tail, ans := w.api.readRecords(ctx, base, sl.basin, sl.name, uint64(len(recs)), 1000)
		cancel()
		switch {
		case ans.err == nil && ans.status == http.StatusOK:
			if len(page) == 0 {
				return nil, fmt.Errorf("empty page at %d below the tail", len(recs))
			}
			recs = append(recs, page...)
			continue
		case ans.err == nil && ans.status == http.StatusRequestedRangeNotSatisfiable:
			if tail != uint64(len(recs)) {
				return nil, fmt.Errorf("416 with tail %d after reading %d records", tail, len(recs))
			}
			return recs, nil
		case ans.err == nil && ans.status < 500 && ans.status != http.StatusTooManyRequests && ans.status != http.StatusRequestTimeout:
			return nil, fmt.Errorf("read at %d: %s", len(recs), ans)
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("read at %d: still failing after %v: %s", len(recs), limit, ans)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// check stops appends and reads, reads every stream back through each
// node of via, verifies each copy against the ledger and requires the
// copies to be identical.
func (w *workload) check(phase string, via []*node) checkStats {
	w.t.Helper()
	w.gate.Lock()
	defer w.gate.Unlock()
	start := time.Now()
	var total checkStats
	for _, sl := range w.l.streams {
		readers := via
		var first []jsonRecord
		for j, n := range readers {
			recs, err := w.readAll(sl, n.url, 30*time.Second)
			if err != nil {
				w.l.violate("%s: reading %s/%s back via %s: %v", phase, sl.basin, sl.name, n.id, err)
				continue
			}
			st := sl.verify(recs, n.id)
			if j == 0 {
				total = total.add(st)
				first = recs
			} else if !slices.Equal(recs, first) {
				w.l.violate("%s: %s/%s reads differently via %s (%d records) and via %s (%d records)", phase, sl.basin, sl.name,
					readers[0].id, len(first), n.id, len(recs))
			}
		}
	}
	w.c.logf("check after %s, every stream through each of %d nodes: %s (%v)", phase, len(via), total, time.Since(start).Round(time.Millisecond))
	if v := w.l.newViolations(); len(v) > 0 {
		shown := v
		if len(shown) > 40 {
			shown = shown[:40]
		}
		w.t.Errorf("%s: %d violations:\n%s", phase, len(v), joinLines(shown))
	}
	return total
}

func joinLines(s []string) string {
	out := ""
	for _, l := range s {
		out += "  " + l + "\n"
	}
	return out
}

// homeUnit is the unit a basin created in cluster mode lives in, as
// /cluster/status names it.
func homeUnit(basin string) string { return strconv.Itoa(partition.Home(basin, partitions)) }

// ownerOf is the node that owns basin's partition in the first answer of
// a live node's /cluster/status, or "".
func (w *workload) ownerOf(basin string) string {
	for _, n := range w.c.live() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		st, err := w.api.clusterStatus(ctx, n.url)
		cancel()
		if err == nil {
			return st.Owners[homeUnit(basin)].Node
		}
	}
	return ""
}
