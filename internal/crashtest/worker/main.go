// Command worker is the process the crash tests kill. It opens the engine
// on a store, runs concurrent writers that submit batches of 2 or 3 keys
// with unique names and values, and prints "ack ID" on stdout for every
// batch the engine acknowledged, the moment it is acknowledged. Nothing else
// goes to stdout. It stops after -duration, closes the engine and exits 0,
// unless a failpoint (GO_FAILPOINTS) or a signal ends it first.
//
//	worker -store dir:/tmp/db -run 7 [-writers 4] [-duration 10s]
//	worker -store s3:some/prefix -run 7      (AWS_* variables name the endpoint)
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/s2lite/s2lite/engine"
	"github.com/s2lite/s2lite/internal/crashtest"
	"github.com/s2lite/s2lite/objstore"
)

func main() {
	storeSpec := flag.String("store", "", "dir:PATH or s3:PREFIX")
	run := flag.Int("run", 0, "run number, unique per store: it makes batch names unique")
	writers := flag.Int("writers", 4, "concurrent writers")
	depth := flag.Int("depth", 3, "batches each writer submits before waiting for their outcome")
	duration := flag.Duration("duration", 10*time.Second, "how long to write before closing cleanly")
	flag.Parse()
	if *storeSpec == "" {
		fmt.Fprintln(os.Stderr, "worker: -store is required")
		os.Exit(2)
	}
	if err := work(*storeSpec, *run, *writers, *depth, *duration); err != nil {
		fmt.Fprintln(os.Stderr, "worker:", err)
		os.Exit(1)
	}
}

func work(storeSpec string, run, writers, depth int, duration time.Duration) error {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))

	base, closeStore, err := crashtest.OpenStore(ctx, storeSpec)
	if err != nil {
		return err
	}
	defer closeStore()
	// Faults are injected below the retries, as a flaky network would.
	store := objstore.NewRetrying(objstore.NewFaultStore(base), objstore.RetryOptions{
		InitialBackoff: 5 * time.Millisecond,
		MaxBackoff:     100 * time.Millisecond,
		Deadline:       5 * time.Second,
	})
	opts := crashtest.WorkerOptions(store)
	opts.Logger = log
	db, err := engine.Open(ctx, opts)
	if err != nil {
		return fmt.Errorf("open: %w", err)
	}

	acks := newAckWriter()
	wctx, cancel := context.WithTimeout(ctx, duration)
	defer cancel()
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() { write(wctx, db, acks, log, run, w, depth) })
	}
	wg.Wait()
	m := db.Metrics()
	err = db.Close()
	fmt.Fprintf(os.Stderr, "worker: run %d done: %d acked, %d failed, %d WAL objects, %d replayed, %d heals, %d flushes, %d compactions, %d moves, %d GC deletes\n",
		run, m.WritesCommitted, m.WritesFailed, m.WALObjectsWritten, m.WALObjectsReplay, m.Heals, m.Flushes,
		m.Compaction.Compactions, m.Compaction.Moves, m.GCDeleted)
	if err != nil {
		return fmt.Errorf("close: %w", err)
	}
	return nil
}

// write submits batches, up to depth at a time, and reports each outcome in
// submission order. A failure is logged and writing goes on: the engine
// heals itself on the next submission.
func write(ctx context.Context, db *engine.DB, acks *ackWriter, log *slog.Logger, run, w, depth int) {
	type pending struct {
		id string
		p  *engine.PendingWrite
	}
	seq := 0
	for ctx.Err() == nil {
		var batch []pending
		failed := false
		for range depth {
			id := crashtest.BatchID(run, w, seq)
			seq++
			p, err := db.Submit(ctx, crashtest.NewBatch(id))
			if err != nil {
				if crashtest.IsFinal(err) {
					return
				}
				if ctx.Err() == nil {
					log.Warn("submit failed", "batch", id, "err", err)
				}
				failed = true
				break
			}
			batch = append(batch, pending{id, p})
		}
		for _, b := range batch {
			// Err, not Wait(ctx): the outcome is always known soon, and an
			// acknowledged batch must be reported even at the end of a run.
			if err := b.p.Err(); err != nil {
				failed = true
				if crashtest.IsFinal(err) {
					return
				}
				log.Warn("write failed", "batch", b.id, "err", err)
				continue
			}
			acks.ack(b.id)
		}
		if failed {
			// Do not spin while storage is failing.
			select {
			case <-time.After(20 * time.Millisecond):
			case <-ctx.Done():
			}
		}
	}
}

// ackWriter prints acknowledgement lines. Each line is one write(2) on the
// unbuffered stdout, so a line the parent reads is a whole one, and a line
// written before a crash is never lost in a buffer.
type ackWriter struct {
	mu sync.Mutex
}

func newAckWriter() *ackWriter { return &ackWriter{} }

func (a *ackWriter) ack(id string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if _, err := os.Stdout.WriteString(crashtest.AckPrefix + id + "\n"); err != nil && !errors.Is(err, os.ErrClosed) {
		// The parent is gone: nothing to report to.
		os.Exit(3)
	}
}
