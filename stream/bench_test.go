package stream

import (
	"errors"
	"io"
	"math/rand/v2"
	"testing"
	"time"
)

// BenchmarkCatchUpWarm reads a 16 MiB stream of 1 KiB records from flushed
// tables through a read session, with the block cache warm: the per-byte
// CPU cost of catch-up reads in the stream layer and the engine.
func BenchmarkCatchUpWarm(b *testing.B) { benchCatchUp(b, false) }

// BenchmarkCatchUpCold is BenchmarkCatchUpWarm after a restart, with the
// block cache empty, on a memory store: the CPU cost of fetching, verifying
// and decompressing tables, without the network.
func BenchmarkCatchUpCold(b *testing.B) { benchCatchUp(b, true) }

func benchCatchUp(b *testing.B, cold bool) {
	e := newEnv(b)
	e.basin("bench-basin", BasinConfig{})
	e.stream("bench-basin", "s", StreamConfig{})
	const recordBytes, perBatch, batches = 1024, 1000, 16
	// Bodies snappy cannot shrink, like most payloads.
	body := make([]byte, recordBytes)
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range body {
		body[i] = byte(rng.Uint32())
	}
	for range batches {
		in := AppendInput{Records: make([]AppendRecord, perBatch)}
		for i := range in.Records {
			in.Records[i].Body = body
		}
		e.append("bench-basin", "s", in)
	}
	if err := e.db.Flush(e.ctx); err != nil {
		b.Fatal(err)
	}
	read := func() int {
		zero, noWait := uint64(0), time.Duration(0)
		r, err := e.svc.OpenReadSession(e.ctx, "bench-basin", "s", ReadRequest{SeqNum: &zero, Wait: &noWait})
		if err != nil {
			b.Fatal(err)
		}
		defer r.Close()
		n := 0
		for {
			batch, err := r.Next(e.ctx)
			if errors.Is(err, io.EOF) {
				return n
			}
			if err != nil {
				b.Fatal(err)
			}
			for _, rec := range batch.Records {
				n += len(rec.Body)
			}
		}
	}
	if got := read(); got != recordBytes*perBatch*batches {
		b.Fatalf("read %d body bytes, want %d", got, recordBytes*perBatch*batches)
	}
	b.SetBytes(int64(recordBytes * perBatch * batches))
	b.ResetTimer()
	for b.Loop() {
		if cold {
			b.StopTimer()
			e.reopen()
			b.StartTimer()
		}
		read()
	}
}
