package main

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/s2lite/s2lite/client"
)

// Load generation against the server.
//
// Open loop: sends follow a fixed timetable (one batch every 1/rate), and
// latency is measured from the *scheduled* time, so a slow reply never
// delays later sends and a late send counts against the system (no
// coordinated omission). Closed loop: a fixed number of batches in flight,
// as fast as acknowledgements come back, for maximum throughput. Both
// exclude a warm-up period.

// sleepUntil sleeps until t with nanosleep(2): Go's timers wake about 1 ms
// late on this kind of machine, which would be charged to the server in an
// open-loop measurement. The calling goroutine's thread blocks.
func sleepUntil(t time.Time) {
	for {
		d := time.Until(t)
		if d <= 0 {
			return
		}
		ts := syscall.NsecToTimespec(int64(d))
		_ = syscall.Nanosleep(&ts, nil)
	}
}

// textPool is random alphanumeric text: valid UTF-8 and JSON without
// escapes, so the same bodies go through JSON, protobuf and S2S, and not
// compressible by snappy (no repeats to find).
var textPool = func() []byte {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
	b := make([]byte, 16<<20)
	rand.Read(b)
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return b
}()

// batchSet is a set of distinct prebuilt append batches of one shape,
// encoded for every raw path, so that encoding costs nothing during a
// measured run. inputs are the same batches for the client package, which
// encodes them when they are sent (used where nothing is measured).
type batchSet struct {
	RecordBytes, Records int
	proto, json, frames  [][]byte
	inputs               []client.AppendInput
}

// bodyBytes is the user payload of one batch.
func (b *batchSet) bodyBytes() int { return b.RecordBytes * b.Records }

// meteredBytes is the metered size of one batch (API 2.5).
func (b *batchSet) meteredBytes() int { return (b.RecordBytes + 8) * b.Records }

// maxBatchRecords caps a batch by the API limits (1000 records, 1 MiB
// metered).
func maxBatchRecords(recordBytes, want int) int {
	return max(1, min(want, 1000, (1<<20)/(recordBytes+8)))
}

func makeBatches(recordBytes, records, n int, seed uint64) *batchSet {
	r := mrand.New(mrand.NewPCG(seed, uint64(recordBytes)))
	bs := &batchSet{RecordBytes: recordBytes, Records: records}
	for i := 0; i < n; i++ {
		bodies := make([][]byte, records)
		var js strings.Builder
		js.Grow(records * (recordBytes + 12))
		js.WriteString(`{"records":[`)
		for j := range bodies {
			off := r.IntN(len(textPool) - recordBytes)
			bodies[j] = textPool[off : off+recordBytes]
			if j > 0 {
				js.WriteByte(',')
			}
			js.WriteString(`{"body":"`)
			js.Write(bodies[j])
			js.WriteString(`"}`)
		}
		js.WriteString(`]}`)
		in := client.AppendInput{Records: make([]client.AppendRecord, len(bodies))}
		for j, b := range bodies {
			in.Records[j].Body = b
		}
		bs.inputs = append(bs.inputs, in)
		p := encodeAppendInput(bodies)
		bs.proto = append(bs.proto, p)
		bs.frames = append(bs.frames, s2sFrame(p))
		bs.json = append(bs.json, []byte(js.String()))
	}
	return bs
}

// ackEvent describes one acknowledged batch to an observer.
type ackEvent struct {
	Scheduled, Sent, Acked time.Time
	Ack                    client.AppendAck
}

// openLoopResult is the outcome of one open-loop run.
type openLoopResult struct {
	Latency  []time.Duration // from scheduled time to ack, in the window
	SendLag  []time.Duration // from scheduled time to the send starting
	Acked    int             // batches acked in the window
	Errors   int
	FirstErr string
	// Saturated: the generator stopped early because too much was
	// outstanding (the server could not keep up with the rate).
	Saturated bool
	// Unfinished batches still not acknowledged after the drain timeout.
	Unfinished int
}

// openLoopOpts describes one open-loop run.
type openLoopOpts struct {
	Path            string // "unary" (JSON, HTTP/1.1), "unary-proto" (protobuf, HTTP/1.1) or "session" (S2S over h2c)
	Stream          string
	Batches         *batchSet
	Rate            float64 // batches per second
	Warmup, Measure time.Duration
	MaxOutstanding  int
	OnAck           func(ackEvent)
	// Start is when the first batch is due (default: 20 ms from the call).
	Start time.Time
}

const drainTimeout = 30 * time.Second

func openLoop(ctx context.Context, c *benchClient, o openLoopOpts) (openLoopResult, error) {
	if o.MaxOutstanding <= 0 {
		// Enough for seconds of backlog, bounded by the server's 128 MiB
		// in-flight budget.
		o.MaxOutstanding = max(64, min(20000, (96<<20)/max(1, o.Batches.meteredBytes())))
		if o.Path != "session" {
			o.MaxOutstanding = min(o.MaxOutstanding, 1000) // a connection each
		}
	}
	interval := time.Duration(float64(time.Second) / o.Rate)
	total := int((o.Warmup + o.Measure).Seconds() * o.Rate)
	start := o.Start
	if start.IsZero() {
		start = time.Now().Add(20 * time.Millisecond)
	}
	from, to := start.Add(o.Warmup), start.Add(o.Warmup+o.Measure)
	var res openLoopResult
	var mu sync.Mutex
	observe := func(sched, sent, acked time.Time, ack client.AppendAck, err error) {
		mu.Lock()
		defer mu.Unlock()
		if err != nil {
			res.Errors++
			if res.FirstErr == "" {
				res.FirstErr = err.Error()
			}
			return
		}
		if !sched.Before(from) && sched.Before(to) {
			res.Latency = append(res.Latency, acked.Sub(sched))
			res.SendLag = append(res.SendLag, sent.Sub(sched))
			res.Acked++
		}
		if o.OnAck != nil {
			o.OnAck(ackEvent{Scheduled: sched, Sent: sent, Acked: acked, Ack: ack})
		}
	}
	switch o.Path {
	case "unary", "unary-proto":
		var outstanding atomic.Int64
		var wg sync.WaitGroup
		rctx, cancel := context.WithCancel(ctx)
		defer cancel()
		for i := 0; i < total; i++ {
			sched := start.Add(time.Duration(i) * interval)
			sleepUntil(sched)
			if outstanding.Load() >= int64(o.MaxOutstanding) {
				res.Saturated = true
				break
			}
			outstanding.Add(1)
			wg.Add(1)
			k := i % len(o.Batches.json)
			go func() {
				defer wg.Done()
				defer outstanding.Add(-1)
				sent := time.Now()
				var ack client.AppendAck
				var err error
				if o.Path == "unary" {
					ack, err = c.appendJSON(rctx, o.Stream, o.Batches.json[k])
				} else {
					ack, err = c.appendProto(rctx, c.h1, o.Stream, o.Batches.proto[k])
				}
				observe(sched, sent, time.Now(), ack, err)
			}()
		}
		done := make(chan struct{})
		go func() { wg.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(drainTimeout):
			res.Unfinished = int(outstanding.Load())
			cancel()
			<-done
		}
		return res, nil
	case "session":
		sess, err := c.openRawAppendSession(ctx, o.Stream)
		if err != nil {
			return res, err
		}
		defer sess.close()
		type pending struct{ sched, sent time.Time }
		queue := make(chan pending, o.MaxOutstanding)
		readerDone := make(chan error, 1)
		go func() {
			for {
				ack, err := sess.recvAck()
				now := time.Now()
				if err != nil {
					if errors.Is(err, io.EOF) {
						err = nil
					}
					readerDone <- err
					return
				}
				select {
				case p := <-queue:
					observe(p.sched, p.sent, now, ack, nil)
				default:
					readerDone <- fmt.Errorf("ack without a pending input")
					return
				}
			}
		}()
		var sendErr error
		for i := 0; i < total; i++ {
			sched := start.Add(time.Duration(i) * interval)
			sleepUntil(sched)
			if len(queue) >= o.MaxOutstanding {
				res.Saturated = true
				break
			}
			queue <- pending{sched, time.Now()}
			if sendErr = sess.send(o.Batches.frames[i%len(o.Batches.frames)]); sendErr != nil {
				break
			}
		}
		sess.closeSend()
		select {
		case err := <-readerDone:
			if err == nil {
				err = sendErr
			}
			if err != nil {
				return res, fmt.Errorf("append session: %w", err)
			}
		case <-time.After(drainTimeout):
			res.Unfinished = len(queue)
		}
		return res, nil
	}
	return res, fmt.Errorf("unknown path %q", o.Path)
}

// closedLoopResult is the outcome of a closed-loop run.
type closedLoopResult struct {
	Batches, Records, BodyBytes int64 // acknowledged in the window
	AllBodyBytes                int64 // acknowledged at any time
	Seconds                     float64
	Latency                     []time.Duration // send to ack, in the window
}

func (r *closedLoopResult) add(o *closedLoopResult) {
	r.Batches += o.Batches
	r.Records += o.Records
	r.BodyBytes += o.BodyBytes
	r.AllBodyBytes += o.AllBodyBytes
	r.Latency = append(r.Latency, o.Latency...)
}

// window says whether an ack at t falls in the measured period.
type window struct{ from, to time.Time }

func (w window) in(t time.Time) bool { return !t.Before(w.from) && t.Before(w.to) }

// closedLoopSession keeps depth batches in flight on one S2S append
// session until end, counting what is acknowledged inside w.
func closedLoopSession(ctx context.Context, c *benchClient, stream string, bs *batchSet, depth int, w window, end time.Time, seed int) (closedLoopResult, error) {
	var res closedLoopResult
	sess, err := c.openRawAppendSession(ctx, stream)
	if err != nil {
		return res, err
	}
	defer sess.close()
	queue := make(chan time.Time, depth)
	readerDone := make(chan error, 1)
	go func() {
		for {
			_, err := sess.recvAck()
			now := time.Now()
			if err != nil {
				if errors.Is(err, io.EOF) {
					err = nil
				}
				readerDone <- err
				return
			}
			sent := <-queue
			res.AllBodyBytes += int64(bs.bodyBytes())
			if w.in(now) {
				res.Batches++
				res.Records += int64(bs.Records)
				res.BodyBytes += int64(bs.bodyBytes())
				res.Latency = append(res.Latency, now.Sub(sent))
			}
		}
	}()
	var sendErr error
	for i := seed; time.Now().Before(end); i++ {
		queue <- time.Now() // blocks while depth batches are in flight
		if sendErr = sess.send(bs.frames[i%len(bs.frames)]); sendErr != nil {
			break
		}
	}
	sess.closeSend()
	select {
	case err = <-readerDone:
	case <-time.After(drainTimeout):
		err = fmt.Errorf("acks not complete %v after the end", drainTimeout)
	}
	if err == nil {
		err = sendErr
	}
	return res, err
}

// closedLoopUnary runs workers unary protobuf appends over h2c, each
// sending its next batch to the next stream of names (round robin over
// all of them) as soon as the previous one is acknowledged.
func closedLoopUnary(ctx context.Context, c *benchClient, names []string, bs *batchSet, workers int, w window, end time.Time) (closedLoopResult, error) {
	var total closedLoopResult
	var mu sync.Mutex
	var next atomic.Int64
	var firstErr error
	var wg sync.WaitGroup
	for k := 0; k < workers; k++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var local closedLoopResult
			for time.Now().Before(end) {
				i := next.Add(1) - 1
				name := names[int(i)%len(names)]
				sent := time.Now()
				_, err := c.appendProto(ctx, c.h2, name, bs.proto[int(i)%len(bs.proto)])
				now := time.Now()
				if err != nil {
					mu.Lock()
					if firstErr == nil {
						firstErr = err
					}
					mu.Unlock()
					return
				}
				local.AllBodyBytes += int64(bs.bodyBytes())
				if w.in(now) {
					local.Batches++
					local.Records += int64(bs.Records)
					local.BodyBytes += int64(bs.bodyBytes())
					local.Latency = append(local.Latency, now.Sub(sent))
				}
			}
			mu.Lock()
			total.add(&local)
			mu.Unlock()
		}()
	}
	wg.Wait()
	return total, firstErr
}
