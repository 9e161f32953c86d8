package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

// The cipher phase: encrypted streams (API 7.9, a basin's stream_cipher)
// against a plain one, on one server, in the same run. Append ack latency
// (open loop, 1 KiB x 1, as the latency phase measures it) and warm S2S
// catch-up reads of the same amount of data, for aegis-256 and
// aes-256-gcm; each figure is also given as a ratio to the plain stream's.

// CipherResult is the cipher phase's outcome.
type CipherResult struct {
	RecordBytes  int     `json:"record_bytes"`
	BatchRecords int     `json:"latency_batch_records"`
	Rate         float64 `json:"latency_rate_batches_per_sec"`
	// Latency has one point per path and cipher ("none" is the plain
	// stream), ratios to the plain stream of the same path.
	Latency []CipherLatency `json:"append_ack_latency"`
	// StreamMiB is the size of each catch-up stream (its record bodies);
	// FillerMiB went to a plain stream after them, so that all three are
	// in tables.
	StreamMiB float64         `json:"catch_up_stream_mib"`
	FillerMiB float64         `json:"filler_mib"`
	CatchUp   []CipherCatchUp `json:"catch_up_reads"`
	// BlockCache is the server's --block-cache-size in this phase.
	BlockCache string `json:"server_block_cache"`
	// ReadsPerSample reads of a stream, back to back, make one sample.
	ReadsPerSample int `json:"reads_per_sample"`
}

// CipherLatency is one open-loop ack latency run on a stream with the given
// cipher.
type CipherLatency struct {
	Cipher       string             `json:"cipher"`
	Path         string             `json:"path"`
	AchievedRate float64            `json:"acked_batches_per_sec"`
	Ack          Latency            `json:"ack"`
	SendLag      Latency            `json:"client_send_lag"`
	WALPut       Latency            `json:"wal_put_at_proxy"`
	WALObjects   int64              `json:"wal_objects"`
	Errors       int                `json:"errors,omitempty"`
	FirstErr     string             `json:"first_error,omitempty"`
	Saturated    bool               `json:"saturated,omitempty"`
	CPU          map[string]float64 `json:"cpu_cores"`
	P50Ratio     float64            `json:"ack_p50_over_plain"`
	P99Ratio     float64            `json:"ack_p99_over_plain"`
}

// CipherCatchUp is the warm S2S catch-up reads of one stream.
type CipherCatchUp struct {
	Cipher string `json:"cipher"`
	// FillMiBSec is how fast the stream was filled: three pipelined S2S
	// append sessions at once, one per stream (informative only).
	FillMiBSec float64   `json:"fill_mib_per_sec_concurrent"`
	Reads      []ReadRun `json:"reads"`
	// MiBPerSec is the median of the reads, Ratio its ratio to the plain
	// stream's median.
	MiBPerSec float64 `json:"mib_per_sec_median"`
	Ratio     float64 `json:"ratio_to_plain"`
	// ServerCPUMsPerMiB is the server's CPU time per MiB read (median).
	ServerCPUMsPerMiB float64 `json:"server_cpu_ms_per_mib_median"`
}

// cipherNames are the variants compared, the plain stream first.
var cipherNames = []string{"none", "aegis-256", "aes-256-gcm"}

func (sb *serverBench) cipherStreamMiB() int {
	if sb.quick {
		return 16
	}
	return 32
}

// cipherReadsPerSample is how many reads of a stream make one sample.
const cipherReadsPerSample = 2

func (sb *serverBench) cipherReadRounds() int {
	if sb.quick {
		return 3
	}
	return 5
}

// newKeyB64 is a fresh random 32-byte key, base64.
func newKeyB64() string {
	k := make([]byte, 32)
	rand.Read(k)
	return base64.StdEncoding.EncodeToString(k)
}

// cipherBlockCache holds the three catch-up streams (and their tables'
// indexes) with room to spare, so that every warm read is served from
// memory: the default 64 MiB would not.
const cipherBlockCache = "256MiB"

func (sb *serverBench) cipherPhase() error {
	started := time.Now()
	first := sb.proxy.mark()
	srv, _, err := sb.startServer("cipher", "S2LITE_BLOCK_CACHE_SIZE="+cipherBlockCache)
	if err != nil {
		return err
	}
	defer srv.stop()
	// One basin per variant, a client for each; the encrypted ones send
	// their key on every raw append and read.
	clients := map[string]*benchClient{}
	for _, cipher := range cipherNames {
		c, err := newBenchClient(srv.base, "bench-cipher-"+cipher)
		if err != nil {
			return err
		}
		defer c.close()
		if cipher == "none" {
			err = c.createBasin(sb.ctx)
		} else {
			c.encKey = newKeyB64()
			err = c.createCipherBasin(sb.ctx, cipher)
		}
		if err != nil {
			return err
		}
		clients[cipher] = c
	}
	plain := clients["none"]
	const recordBytes, rate = 1024, 200.0
	cr := &CipherResult{RecordBytes: recordBytes, BatchRecords: 1, Rate: rate, ReadsPerSample: cipherReadsPerSample, BlockCache: cipherBlockCache}

	// Ack latency: the three variants one after another, per path.
	bs := sb.batch(recordBytes, 1)
	for _, path := range []string{"session", "unary"} {
		var base *CipherLatency
		for _, cipher := range cipherNames {
			c := clients[cipher]
			name := "lat-" + path
			if err := c.createStream(sb.ctx, name); err != nil {
				return err
			}
			sb.settle(plain, 20*time.Second, 500*time.Millisecond)
			warm, meas := sb.scale(time.Second), sb.scale(4*time.Second)
			start := time.Now().Add(20 * time.Millisecond)
			wait := sb.markWindow(plain, window{start.Add(warm), start.Add(warm + meas)}, "")
			res, err := openLoop(sb.ctx, c, openLoopOpts{Path: path, Stream: name, Batches: bs, Rate: rate, Warmup: warm, Measure: meas})
			mk := wait()
			pt := CipherLatency{Cipher: cipher, Path: path}
			if err != nil {
				res.Errors++
				if res.FirstErr == "" {
					res.FirstErr = err.Error()
				}
			}
			pt.Ack, pt.SendLag = summarize(res.Latency), summarize(res.SendLag)
			pt.Errors, pt.FirstErr, pt.Saturated = res.Errors, res.FirstErr, res.Saturated
			pt.AchievedRate = math.Round(float64(res.Acked)/meas.Seconds()*10) / 10
			_, puts := sb.proxy.since(mk.p0, mk.p1)
			pt.WALObjects, _, pt.WALPut = walStats(puts)
			pt.CPU = cores(mk.c0, mk.c1)
			if base == nil {
				base = &pt
				pt.P50Ratio, pt.P99Ratio = 1, 1
			} else {
				pt.P50Ratio, pt.P99Ratio = ratio(pt.Ack.P50, base.Ack.P50), ratio(pt.Ack.P99, base.Ack.P99)
			}
			sb.logf("cipher latency %-7s %-11s 1 KiB x 1 @ %g/s: ack p50 %.2f p99 %.2f ms (n=%d, %d errors) | WAL PUT p50 %.2f | over plain %.2f / %.2f | cores %s",
				path, cipher, rate, pt.Ack.P50, pt.Ack.P99, pt.Ack.N, pt.Errors, pt.WALPut.P50, pt.P50Ratio, pt.P99Ratio, fmtCores(pt.CPU))
			if pt.Errors > 0 {
				sb.logf("cipher latency %s %s: first error: %s", path, cipher, pt.FirstErr)
			}
			cr.Latency = append(cr.Latency, pt)
		}
	}

	sb.logf("cipher latency: done by %.0f s into the phase", time.Since(started).Seconds())

	// Catch-up: the three streams filled at once (so that every table
	// holds a third of each), then a plain filler so that all of them are
	// in tables; after the flushes, one untimed read of each fills the
	// block cache, then rounds of one S2S read per stream, interleaved.
	fill := sb.batch(recordBytes, 1000)
	batches := sb.cipherStreamMiB() << 20 / fill.bodyBytes()
	records := int64(batches * fill.Records)
	cr.StreamMiB = round2(float64(batches*fill.bodyBytes()) / (1 << 20))
	cus := make([]CipherCatchUp, len(cipherNames))
	var wg sync.WaitGroup
	errs := make([]error, len(cipherNames))
	for i, cipher := range cipherNames {
		c := clients[cipher]
		if err := c.createStream(sb.ctx, "catchup"); err != nil {
			return err
		}
		cus[i].Cipher = cipher
		wg.Add(1)
		go func() {
			defer wg.Done()
			t0 := time.Now()
			errs[i] = appendRawN(sb.ctx, c, "catchup", fill, batches, 8)
			cus[i].FillMiBSec = round2(float64(batches*fill.bodyBytes()) / (1 << 20) / time.Since(t0).Seconds())
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	for _, cipher := range cipherNames {
		if err := clients[cipher].checkCipher(sb.ctx, "catchup", cipher); err != nil {
			return err
		}
	}
	if err := plain.createStream(sb.ctx, "filler"); err != nil {
		return err
	}
	fb := sb.fillerMiB() << 20 / fill.bodyBytes()
	if err := appendRawN(sb.ctx, plain, "filler", fill, fb, 16); err != nil {
		return err
	}
	cr.FillerMiB = round2(float64(fb*fill.bodyBytes()) / (1 << 20))
	sb.logf("cipher catch-up: filled %d MiB x 3 + %.0f MiB filler by %.0f s into the phase", sb.cipherStreamMiB(), cr.FillerMiB, time.Since(started).Seconds())
	settled := sb.settle(plain, 60*time.Second, time.Second)
	sb.logf("cipher catch-up: flushes and compactions settled in %.1f s", settled.Seconds())
	for i, cipher := range cipherNames {
		if _, err := readAllOnce(sb.ctx, clients[cipher], "catchup", "s2s", records); err != nil {
			return fmt.Errorf("%s: %w", cus[i].Cipher, err)
		}
	}
	for round := 0; round < sb.cipherReadRounds(); round++ {
		for i, cipher := range cipherNames {
			// Each sample is reads back to back of the stream, long
			// enough for the CPU figures (/proc counts 10 ms ticks).
			p0, c0 := sb.proxy.mark(), sb.meter.sample()
			rr := ReadRun{Path: "s2s"}
			var secs, mib float64
			for k := 0; k < cipherReadsPerSample; k++ {
				one, err := readAllOnce(sb.ctx, clients[cipher], "catchup", "s2s", records)
				if err != nil {
					return fmt.Errorf("%s: %w", cipher, err)
				}
				rr.Records += one.Records
				secs += one.Seconds
				mib += one.MiBPerSec * one.Seconds
			}
			rr.Seconds, rr.MiBPerSec = round3(secs), round2(mib/secs)
			rr.CPU = cores(c0, sb.meter.sample())
			reqs, _ := sb.proxy.since(p0, sb.proxy.mark())
			ops := reqs.byOp()
			rr.GETs, rr.GETMiB = ops["GET"].Requests, round2(float64(ops["GET"].Bytes)/(1<<20))
			rr.GETSeconds = round3(float64(ops["GET"].Nanos) / 1e9)
			cus[i].Reads = append(cus[i].Reads, rr)
		}
	}
	for i := range cus {
		var mibs, cpu []float64
		for _, r := range cus[i].Reads {
			mibs = append(mibs, r.MiBPerSec)
			cpu = append(cpu, 1000*r.CPU["server"]*r.Seconds/(cr.StreamMiB*cipherReadsPerSample))
		}
		cus[i].MiBPerSec = round2(median(mibs))
		cus[i].ServerCPUMsPerMiB = round2(median(cpu))
		cus[i].Ratio = ratio(cus[i].MiBPerSec, cus[0].MiBPerSec)
		sb.logf("cipher catch-up %-11s %.0f MiB: warm S2S median %.1f MiB/s (reads %v), over plain %.2f; server %.2f ms CPU per MiB; fill %.1f MiB/s",
			cus[i].Cipher, cr.StreamMiB, cus[i].MiBPerSec, mibs, cus[i].Ratio, cus[i].ServerCPUMsPerMiB, cus[i].FillMiBSec)
	}
	cr.CatchUp = cus
	sb.rep.Cipher = cr
	sb.checkWALPuts("cipher", plain, first)
	sb.logf("cipher phase: %.0f s", time.Since(started).Seconds())
	return nil
}

// checkCipher makes sure that the stream has the cipher the comparison
// says (StreamInfo.cipher; "none" for no cipher), and, for an encrypted
// one, that a read without the key is refused: otherwise the figures would
// compare plain streams with themselves.
func (c *benchClient) checkCipher(ctx context.Context, stream, want string) error {
	data, err := rawDo(ctx, c.h1, http.MethodGet, c.base+"/v1/streams?prefix="+url.QueryEscape(stream), nil, "s2-basin", c.basin.Name())
	if err != nil {
		return err
	}
	var list struct {
		Streams []struct {
			Name   string  `json:"name"`
			Cipher *string `json:"cipher"`
		} `json:"streams"`
	}
	if err := json.Unmarshal(data, &list); err != nil {
		return fmt.Errorf("listing streams: %w", err)
	}
	got := "missing"
	for _, s := range list.Streams {
		if s.Name == stream {
			got = "none"
			if s.Cipher != nil {
				got = *s.Cipher
			}
		}
	}
	if got != want {
		return fmt.Errorf("stream %s in basin %s has cipher %s, want %s", stream, c.basin.Name(), got, want)
	}
	if want == "none" {
		return nil
	}
	_, err = rawDo(ctx, c.h1, http.MethodGet, c.recordsURL(stream)+"?seq_num=0&count=1", nil, "s2-basin", c.basin.Name())
	if err == nil || !strings.Contains(err.Error(), "400") {
		return fmt.Errorf("read of encrypted stream %s without a key: %v, want 400 bad_header", stream, err)
	}
	return nil
}

// appendRawN appends n prebuilt batches through one raw S2S append session
// with depth batches in flight (a raw session, so that it carries the
// client's encryption key; it only fills streams).
func appendRawN(ctx context.Context, c *benchClient, stream string, bs *batchSet, n, depth int) error {
	sess, err := c.openRawAppendSession(ctx, stream)
	if err != nil {
		return err
	}
	defer sess.close()
	slots := make(chan struct{}, depth)
	done := make(chan error, 1)
	go func() {
		for i := 0; i < n; i++ {
			if _, err := sess.recvAck(); err != nil {
				done <- fmt.Errorf("ack %d of %d on %s: %w", i, n, stream, err)
				return
			}
			<-slots
		}
		if _, err := sess.recvAck(); !errors.Is(err, io.EOF) {
			done <- fmt.Errorf("end of append session on %s: %v", stream, err)
			return
		}
		done <- nil
	}()
	for i := 0; i < n; i++ {
		select {
		case slots <- struct{}{}:
		case err := <-done:
			if err == nil {
				err = errors.New("session ended early")
			}
			return err
		}
		if err := sess.send(bs.frames[i%len(bs.frames)]); err != nil {
			return fmt.Errorf("appending to %s: %w", stream, err)
		}
	}
	sess.closeSend()
	select {
	case err := <-done:
		return err
	case <-time.After(drainTimeout):
		return fmt.Errorf("appending to %s: acks not complete %v after the end", stream, drainTimeout)
	}
}
