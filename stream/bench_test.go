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

// BenchmarkCatchUpWarmCipher is BenchmarkCatchUpWarm on a stream without a
// cipher and with each cipher, side by side: the cost of opening every
// record with the session's key.
func BenchmarkCatchUpWarmCipher(b *testing.B) {
	for _, c := range []string{"", CipherAegis256, CipherAES256GCM} {
		name := c
		if c == "" {
			name = "none"
		}
		b.Run(name, func(b *testing.B) { benchCatchUpCipher(b, false, c) })
	}
}

// BenchmarkRecordCipher is the record codec's cryptography alone on a batch
// of 1000 records of 1 KiB: sealing (nonces included, as the sequencer
// draws them, once per batch) and opening.
func BenchmarkRecordCipher(b *testing.B) {
	body := make([]byte, 1024)
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range body {
		body[i] = byte(rng.Uint32())
	}
	const n = 1000
	for _, name := range []string{CipherAegis256, CipherAES256GCM} {
		c := testCipher(b, name, testKeyA)
		size := c.sealedRecordLen(nil, body)
		vals := make([]byte, n*size)
		seal := func() {
			nonces, err := c.newNonces(n)
			if err != nil {
				b.Fatal(err)
			}
			for i := range n {
				c.sealRecord(vals[i*size:(i+1)*size], nonces[i*c.nonceLen():], 1, uint64(i), 7, nil, body)
			}
		}
		b.Run(name+"/seal", func(b *testing.B) {
			b.SetBytes(n * int64(len(body)))
			for b.Loop() {
				seal()
			}
		})
		b.Run(name+"/open", func(b *testing.B) {
			seal()
			b.SetBytes(n * int64(len(body)))
			for b.Loop() {
				var arena recordArena
				for i := range n {
					if _, err := decodeStored(c, &arena, 1, uint64(i), vals[i*size:(i+1)*size]); err != nil {
						b.Fatal(err)
					}
				}
			}
		})
	}
}

func benchCatchUp(b *testing.B, cold bool) { benchCatchUpCipher(b, cold, "") }

func benchCatchUpCipher(b *testing.B, cold bool, cipher string) {
	e := newEnv(b)
	var opts []OpenOption
	if cipher != "" {
		e.basin("bench-basin", BasinConfig{StreamCipher: &cipher})
		opts = append(opts, withKey(testKeyA))
	} else {
		e.basin("bench-basin", BasinConfig{})
	}
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
		if _, err := e.svc.Append(e.ctx, "bench-basin", "s", in, opts...); err != nil {
			b.Fatal(err)
		}
	}
	if err := e.db.Flush(e.ctx); err != nil {
		b.Fatal(err)
	}
	read := func() int {
		zero, noWait := uint64(0), time.Duration(0)
		r, err := e.svc.OpenReadSession(e.ctx, "bench-basin", "s", ReadRequest{SeqNum: &zero, Wait: &noWait}, opts...)
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
