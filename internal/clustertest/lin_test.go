package clustertest

// The linearizability workload of internal/lincheck, run through the
// cluster: a few clients per stream make lincheck's random mix of calls
// (plain, match_seq_num and fencing_token appends, fences, reads,
// check-tails), each call through a node chosen at random, for the whole
// run; at the end the history, with appends of unknown outcome resolved
// by the final contents, is checked with porcupine against lincheck's
// model of a stream.

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"

	"github.com/s2lite/s2lite/internal/lincheck"
)

const (
	linBasin = "ct-lincheck"
	// linCallTimeout bounds one call; running out makes an append's
	// outcome unknown.
	linCallTimeout = 5 * time.Second
	// linPause is the idle time between two calls of a client: it keeps
	// the history to a size porcupine checks in seconds.
	linPause = 50 * time.Millisecond
	// linCheckTimeout bounds the porcupine check (seconds without the race
	// detector).
	linCheckTimeout = 3 * time.Minute
)

// rootToken is the cluster's root access token; lincheck's clients use
// lincheck.RootToken, so the cluster is started with that one.
const rootToken = lincheck.RootToken

type linWorkload struct {
	c       *cluster
	h       *lincheck.History
	streams []string
	seed    uint64

	mu      sync.Mutex
	clients map[string]*lincheck.Client // by node URL
	errs    []error

	stop chan struct{}
	wg   sync.WaitGroup
}

func newLinWorkload(c *cluster, streams []string, seed uint64) *linWorkload {
	return &linWorkload{c: c, h: lincheck.NewHistory(), streams: streams, seed: seed,
		clients: map[string]*lincheck.Client{}, stop: make(chan struct{})}
}

func (lw *linWorkload) client(n *node) (*lincheck.Client, error) {
	lw.mu.Lock()
	defer lw.mu.Unlock()
	if c, ok := lw.clients[n.url]; ok {
		return c, nil
	}
	c, err := lincheck.NewClient(n.url, linBasin, linCallTimeout)
	if err != nil {
		return nil, err
	}
	lw.clients[n.url] = c
	return c, nil
}

func (lw *linWorkload) fail(err error) {
	lw.mu.Lock()
	defer lw.mu.Unlock()
	if len(lw.errs) < 50 {
		lw.errs = append(lw.errs, err)
	}
}

// start runs perStream clients on each stream until halt.
func (lw *linWorkload) start(perStream int) {
	id := 0
	for _, s := range lw.streams {
		for range perStream {
			id++
			w := lincheck.NewWorkload(s, id, lw.seed)
			// A few appends are abandoned after 0-2 ms: unknown outcomes
			// that may still take effect.
			w.Abandon = 0.02
			rng := rand.New(rand.NewPCG(lw.seed, uint64(id)))
			lw.wg.Go(func() {
				for {
					select {
					case <-lw.stop:
						return
					case <-time.After(linPause):
					}
					live := lw.c.live()
					if len(live) == 0 {
						continue
					}
					cl, err := lw.client(live[rng.IntN(len(live))])
					if err != nil {
						lw.fail(err)
						return
					}
					if err := w.Run(context.Background(), lw.h, 1, func() *lincheck.Client { return cl }); err != nil {
						// A response the model has no place for (say a
						// 404 for a stream that exists): worth failing on.
						lw.fail(fmt.Errorf("client %d on %s: %w", id, s, err))
					}
				}
			})
		}
	}
}

func (lw *linWorkload) halt() {
	select {
	case <-lw.stop:
	default:
		close(lw.stop)
	}
	lw.wg.Wait()
}

func (lw *linWorkload) close() {
	lw.mu.Lock()
	defer lw.mu.Unlock()
	for _, c := range lw.clients {
		c.Close()
	}
}

// check reads every stream to its end through via (recorded in the
// history), resolves unknown appends against those contents and checks
// the history. dir receives porcupine's visualization on failure.
func (lw *linWorkload) check(t *testing.T, via *node, dir string) {
	t.Helper()
	lw.mu.Lock()
	errs := lw.errs
	lw.mu.Unlock()
	for _, err := range errs {
		t.Errorf("lincheck workload: %v", err)
	}
	cl, err := lw.client(via)
	if err != nil {
		t.Fatal(err)
	}
	final := map[string][]string{}
	for _, s := range lw.streams {
		var recs []string
		var err error
		for range 20 {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			recs, err = cl.ReadAll(ctx, lw.h, 1<<20, s)
			cancel()
			if err == nil || errors.Is(err, lincheck.ErrUnexpected) {
				break
			}
			time.Sleep(500 * time.Millisecond)
		}
		if err != nil {
			t.Errorf("lincheck: final read of %s via %s: %v", s, via.id, err)
			return
		}
		final[s] = recs
	}
	ops := lw.h.Operations()
	for s, st := range lincheck.Summarise(ops) {
		lw.c.logf("lincheck %s: %s; %d records", s, st, len(final[s]))
	}
	ops, applied, dropped := lincheck.ResolveUnknown(ops, final)
	lw.c.logf("lincheck: of the unknown appends, %d found applied and %d not applied in the final contents", applied, dropped)
	open := 0
	for _, op := range ops {
		if op.Output.(lincheck.Output).Status == lincheck.Unknown {
			open++
		}
	}
	lw.c.logf("lincheck: checking %d operations, %d of them appends still of unknown outcome", len(ops), open)
	start := time.Now()
	res, info := porcupine.CheckOperationsVerbose(lincheck.Model, ops, linCheckTimeout)
	took := time.Since(start).Round(time.Millisecond)
	switch res {
	case porcupine.Ok:
		lw.c.logf("lincheck: history of %d operations is linearizable (checked in %v)", len(ops), took)
	case porcupine.Unknown:
		// Not a verdict: the history is too large for the time given.
		t.Errorf("lincheck: the check of %d operations did not finish within %v", len(ops), linCheckTimeout)
	default:
		msg := fmt.Sprintf("lincheck: the history of %d operations is NOT linearizable (checked in %v)", len(ops), took)
		if f, err := os.CreateTemp(dir, "lincheck-*.html"); err == nil {
			if err := porcupine.Visualize(lincheck.Model, info, f); err == nil {
				msg += "; visualization: " + f.Name()
			}
			f.Close()
		}
		t.Error(msg)
	}
}
