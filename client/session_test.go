package client_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"testing"
	"time"

	"github.com/s2lite/s2lite/client"
)

func TestAppendSessionPipelinesInOrder(t *testing.T) {
	for _, comp := range []client.Compression{client.CompressionNone, client.CompressionZstd, client.CompressionGzip} {
		t.Run(string(comp)+"none", func(t *testing.T) {
			c, _ := newClient(t, client.Config{Compression: comp})
			ctx := ctxT(t)
			s := newStream(t, c, "session-basin", "s")
			// A small in-flight bound forces Submit to wait for acks.
			as, err := s.AppendSession(ctx, client.AppendSessionOptions{MaxInflightBytes: 64 << 10})
			if err != nil {
				t.Fatal(err)
			}
			var pend []*client.PendingAck
			var sent []client.AppendRecord
			for i := range 200 {
				recs := binaryRecords(1 + i%5)
				sent = append(sent, recs...)
				p, err := as.Submit(ctx, client.AppendInput{Records: recs})
				if err != nil {
					t.Fatal(err)
				}
				pend = append(pend, p)
			}
			next := uint64(0)
			for i, p := range pend {
				ack, err := p.Wait(ctx)
				if err != nil {
					t.Fatalf("batch %d: %v", i, err)
				}
				if ack.Start.SeqNum != next || ack.End.SeqNum != next+uint64(1+i%5) {
					t.Fatalf("batch %d ack %+v, want start %d", i, ack, next)
				}
				next = ack.End.SeqNum
			}
			if err := as.Close(); err != nil {
				t.Fatal(err)
			}
			// Everything is there, in order, byte for byte.
			rs, err := s.ReadSession(ctx, client.ReadOptions{Start: client.FromSeqNum(0), Count: ptr(uint64(len(sent)))})
			if err != nil {
				t.Fatal(err)
			}
			defer rs.Close()
			var got []client.SequencedRecord
			for {
				b, err := rs.Next()
				if errors.Is(err, io.EOF) {
					break
				}
				if err != nil {
					t.Fatal(err)
				}
				got = append(got, b.Records...)
			}
			sameRecords(t, got, sent, 0)
		})
	}
}

func TestAppendSessionFailureFailsLaterBatches(t *testing.T) {
	c, _ := newClient(t, client.Config{})
	ctx := ctxT(t)
	s := newStream(t, c, "session-basin", "s")
	as, err := s.AppendSession(ctx, client.AppendSessionOptions{})
	if err != nil {
		t.Fatal(err)
	}
	rec := []client.AppendRecord{{Body: []byte("a")}}
	p1, _ := as.Submit(ctx, client.AppendInput{Records: rec})
	wrong := uint64(99)
	p2, _ := as.Submit(ctx, client.AppendInput{Records: rec, MatchSeqNum: &wrong})
	if _, err := p1.Wait(ctx); err != nil {
		t.Fatalf("first batch: %v", err)
	}
	_, err = p2.Wait(ctx)
	var ce *client.AppendConditionError
	if !errors.As(err, &ce) || *ce.SeqNumMismatch != 1 {
		t.Fatalf("second batch: %v", err)
	}
	// The session is over: later submissions fail, Close reports why.
	if _, err := as.Submit(ctx, client.AppendInput{Records: rec}); err == nil {
		p3, _ := as.Submit(ctx, client.AppendInput{Records: rec})
		if p3 != nil {
			if _, err := p3.Wait(ctx); err == nil {
				t.Fatal("a batch after the failure was acknowledged")
			}
		}
	}
	if err := as.Close(); !errors.As(err, &ce) {
		t.Fatalf("Close: %v", err)
	}
	if tail, _ := s.CheckTail(ctx); tail.SeqNum != 1 {
		t.Fatalf("tail %d after the failed session, want 1", tail.SeqNum)
	}
	// Opening on a missing stream is the server's 404.
	_, err = c.Basin("session-basin").Stream("missing").AppendSession(ctx, client.AppendSessionOptions{})
	wantCode(t, err, 404, "stream_not_found")
}

func ptr[T any](v T) *T { return &v }

// TestReadSessionFollows: both transports see catch-up records, then live
// appends, with heartbeats in between, until Close.
func TestReadSessionFollows(t *testing.T) {
	for _, sse := range []bool{false, true} {
		t.Run(fmt.Sprintf("sse=%v", sse), func(t *testing.T) {
			c, _ := newClient(t, client.Config{})
			ctx := ctxT(t)
			s := newStream(t, c, "follow-basin", "s")
			if _, err := s.Append(ctx, client.AppendInput{Records: binaryRecords(3)}); err != nil {
				t.Fatal(err)
			}
			open := s.ReadSession
			if sse {
				open = s.ReadSessionSSE
			}
			rs, err := open(ctx, client.ReadOptions{Start: client.FromSeqNum(0)})
			if err != nil {
				t.Fatal(err)
			}
			var got []client.SequencedRecord
			heartbeats := 0
			appended := false
			for len(got) < 6 {
				b, err := rs.Next()
				if err != nil {
					t.Fatalf("Next after %d records: %v", len(got), err)
				}
				if len(b.Records) == 0 {
					heartbeats++
					if b.Tail == nil {
						t.Fatal("heartbeat without tail")
					}
				}
				got = append(got, b.Records...)
				if len(got) == 3 && !appended {
					appended = true
					if _, err := s.Append(ctx, client.AppendInput{Records: binaryRecords(3)}); err != nil {
						t.Fatal(err)
					}
				}
			}
			if heartbeats == 0 {
				t.Fatal("no heartbeat on reaching the tail")
			}
			want := append(binaryRecords(3), binaryRecords(3)...)
			sameRecords(t, got, want, 0)
			// Close ends a Next blocked in another goroutine.
			done := make(chan error, 1)
			go func() {
				for {
					if _, err := rs.Next(); err != nil {
						done <- err
						return
					}
				}
			}()
			time.Sleep(50 * time.Millisecond)
			rs.Close()
			select {
			case err := <-done:
				if err == nil || errors.Is(err, io.EOF) {
					t.Fatalf("Next after Close: %v", err)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("Next did not return after Close")
			}
		})
	}
}

// TestReadSessionResumes cuts the connection under a session again and
// again: every record arrives once, in order, and the count limit holds
// across attempts.
func TestReadSessionResumes(t *testing.T) {
	for _, sse := range []bool{false, true} {
		t.Run(fmt.Sprintf("sse=%v", sse), func(t *testing.T) {
			_, srv := newClient(t, client.Config{})
			p := startProxy(t, srv.URL[len("http://"):])
			c, err := client.New(client.Config{AccountEndpoint: p.URL(), MaxAttempts: 5, MinBackoff: time.Millisecond, MaxBackoff: 5 * time.Millisecond})
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			ctx := ctxT(t)
			s := newStream(t, c, "resume-basin", "s")
			const total = 3000
			for i := 0; i < total; i += 500 {
				recs := make([]client.AppendRecord, 500)
				for j := range recs {
					recs[j].Body = fmt.Appendf(nil, "record %d", i+j)
				}
				if _, err := s.Append(ctx, client.AppendInput{Records: recs}); err != nil {
					t.Fatal(err)
				}
			}
			open := s.ReadSession
			if sse {
				open = s.ReadSessionSSE
			}
			rs, err := open(ctx, client.ReadOptions{Start: client.FromSeqNum(0), Count: ptr(uint64(total - 100))})
			if err != nil {
				t.Fatal(err)
			}
			defer rs.Close()
			next := uint64(0)
			cuts := 0
			for {
				b, err := rs.Next()
				if errors.Is(err, io.EOF) {
					break
				}
				if err != nil {
					t.Fatalf("after %d records and %d cuts: %v", next, cuts, err)
				}
				for _, r := range b.Records {
					if r.SeqNum != next || string(r.Body) != fmt.Sprintf("record %d", next) {
						t.Fatalf("record %d (%q), want %d", r.SeqNum, r.Body, next)
					}
					next++
				}
				if len(b.Records) > 0 && cuts < 3 {
					p.cut()
					cuts++
				}
			}
			if next != total-100 || cuts != 3 {
				t.Fatalf("read %d records with %d cuts, want %d with 3", next, cuts, total-100)
			}
		})
	}
}

func TestReadSessionErrors(t *testing.T) {
	c, _ := newClient(t, client.Config{})
	ctx := ctxT(t)
	s := newStream(t, c, "errors-basin", "s")
	_, err := s.ReadSession(ctx, client.ReadOptions{Start: client.FromSeqNum(5), Count: ptr(uint64(1))})
	var re *client.RangeNotSatisfiableError
	if !errors.As(err, &re) {
		t.Fatalf("S2S beyond tail: %v", err)
	}
	_, err = s.ReadSessionSSE(ctx, client.ReadOptions{Start: client.FromSeqNum(5), Count: ptr(uint64(1))})
	if !errors.As(err, &re) {
		t.Fatalf("SSE beyond tail: %v", err)
	}
	_, err = c.Basin("errors-basin").Stream("nope").ReadSession(ctx, client.ReadOptions{})
	wantCode(t, err, 404, "stream_not_found")
	// A bounded wait ends a following session normally.
	short := time.Second
	rs, err := s.ReadSession(ctx, client.ReadOptions{Start: client.FromSeqNum(0), Clamp: true, Wait: &short})
	if err != nil {
		t.Fatal(err)
	}
	defer rs.Close()
	for {
		_, err := rs.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := s.ReadSession(cctx, client.ReadOptions{}); err == nil {
		t.Fatal("session opened on a cancelled context")
	}
}
