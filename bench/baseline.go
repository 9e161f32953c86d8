package main

import (
	"context"
	"fmt"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/s2lite/s2lite/objstore"
)

// Raw object-store baselines, measured with the same client library and
// settings as the server (objstore.S3 over minio-go) and through a proxy
// identical to the server's, so the extra loopback hop is on both sides.

// baseline issues raw requests under its own prefix.
type baseline struct {
	store objstore.Store
	n     atomic.Int64
}

func (b *baseline) key(kind string) string {
	return fmt.Sprintf("%s/%09d", kind, b.n.Add(1))
}

// putLatency times sequential put-if-absent requests of size bytes (as
// the WAL writes them) until n samples or maxDur, starting one every
// interval (or back to back when a PUT takes longer, or interval is 0):
// PUTs spaced like the server's WAL PUTs see the same idle wake-ups.
func (b *baseline) putLatency(ctx context.Context, size, n int, maxDur, interval time.Duration) (Latency, error) {
	payload := textPool[:size]
	// One request to warm the connection.
	if _, err := b.store.PutIfAbsent(ctx, b.key("put"), payload); err != nil {
		return Latency{}, err
	}
	var s []time.Duration
	start := time.Now()
	deadline := start.Add(maxDur)
	for i := 0; i < n && (i < 20 || time.Now().Before(deadline)); i++ {
		if interval > 0 {
			sleepUntil(start.Add(time.Duration(i+1) * interval))
		}
		t0 := time.Now()
		if _, err := b.store.PutIfAbsent(ctx, b.key("put"), payload); err != nil {
			return Latency{}, err
		}
		s = append(s, time.Since(t0))
	}
	return summarize(s), nil
}

// putBandwidth runs conc clients of sequential put-if-absent requests of
// size bytes for d and returns MiB/s.
func (b *baseline) putBandwidth(ctx context.Context, size, conc int, d time.Duration) (float64, error) {
	payload := textPool[:size]
	var bytes atomic.Int64
	var firstErr error
	var mu sync.Mutex
	start := time.Now()
	deadline := start.Add(d)
	var wg sync.WaitGroup
	for c := 0; c < conc; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(deadline) {
				if _, err := b.store.PutIfAbsent(ctx, b.key("bw"), payload); err != nil {
					mu.Lock()
					firstErr = err
					mu.Unlock()
					return
				}
				bytes.Add(int64(size))
			}
		}()
	}
	wg.Wait()
	return float64(bytes.Load()) / time.Since(start).Seconds() / (1 << 20), firstErr
}

// getBandwidth reads the objects whole, one at a time, cycling until at
// least minDur passed and every object was read once; MiB/s.
func getBandwidth(ctx context.Context, store objstore.Store, objs []objstore.ObjectInfo, minDur time.Duration) (float64, int64, error) {
	var total int64
	start := time.Now()
	for i := 0; i < len(objs) || time.Since(start) < minDur; i++ {
		data, _, err := store.Get(ctx, objs[i%len(objs)].Key)
		if err != nil {
			return 0, 0, err
		}
		total += int64(len(data))
	}
	return float64(total) / time.Since(start).Seconds() / (1 << 20), total, nil
}

// rangedGetBandwidth reads the objects in consecutive ranges of size
// bytes, one request at a time; MiB/s.
func rangedGetBandwidth(ctx context.Context, store objstore.Store, objs []objstore.ObjectInfo, size int64, minDur time.Duration) (float64, error) {
	var total int64
	start := time.Now()
	for pass := 0; pass == 0 || time.Since(start) < minDur; pass++ {
		for _, o := range objs {
			for off := int64(0); off < o.Size; off += size {
				data, err := store.GetRange(ctx, o.Key, off, min(size, o.Size-off))
				if err != nil {
					return 0, err
				}
				total += int64(len(data))
			}
		}
	}
	return float64(total) / time.Since(start).Seconds() / (1 << 20), nil
}

// StoreStalls is a long run of raw paced PUTs: the object store's own
// occasional stalls, which a latency point's few seconds of baseline
// usually miss but an append run can hit, and which in-order acks pass on
// to every write queued behind the stalled WAL PUT.
type StoreStalls struct {
	Seconds   float64   `json:"seconds"`
	Rate      float64   `json:"puts_per_sec"`
	Bytes     int       `json:"object_bytes"`
	Put       Latency   `json:"put"`
	Threshold float64   `json:"stall_threshold_ms"`
	StallsAtS []float64 `json:"stalls_at_s"` // when each stall began, from the probe's start
	StallsMS  []float64 `json:"stalls_ms"`   // how long each took
}

// stallProbe issues sequential put-if-absent requests of size bytes at rate
// per second for d, and records every PUT slower than threshold.
func (b *baseline) stallProbe(ctx context.Context, size int, rate float64, d, threshold time.Duration) (StoreStalls, error) {
	payload := textPool[:size]
	res := StoreStalls{Seconds: d.Seconds(), Rate: rate, Bytes: size, Threshold: float64(threshold) / 1e6}
	interval := time.Duration(float64(time.Second) / rate)
	var s []time.Duration
	start := time.Now()
	for i := 0; time.Since(start) < d; i++ {
		sleepUntil(start.Add(time.Duration(i) * interval))
		t0 := time.Now()
		if _, err := b.store.PutIfAbsent(ctx, b.key("stall"), payload); err != nil {
			return res, err
		}
		took := time.Since(t0)
		s = append(s, took)
		if took > threshold {
			res.StallsAtS = append(res.StallsAtS, math.Round(t0.Sub(start).Seconds()*100)/100)
			res.StallsMS = append(res.StallsMS, math.Round(float64(took)/1e4)/100)
		}
	}
	res.Put = summarize(s)
	return res, nil
}
