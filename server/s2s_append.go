package server

import (
	"context"
	"errors"
	"io"
	"net/http"
	"time"

	"github.com/s2lite/s2lite/internal/membudget"
	"github.com/s2lite/s2lite/stream"
)

// S2S append session (API 10.4). A reader goroutine decodes input frames
// and submits each batch to the stream.AppendSession as soon as it
// arrives, without waiting for earlier ones to be durable; the handler
// goroutine waits for the futures in submission order and writes one ack
// per input. The first failure (undecodable frame, rejected or failed
// batch) is reported with a terminal message after the acks of everything
// before it, and nothing after it is processed.

// submitted is one input handed from the reader to the writer: a future,
// or the error that ended the input.
type submitted struct {
	future  *stream.AppendFuture
	records int
	metered uint64
	lease   *membudget.Lease
	held    int64 // bytes of lease the input holds until settled
	start   time.Time
	err     error
}

// maxPendingInputs bounds the inputs submitted but not yet acknowledged
// to the client. The in-flight byte budget of the stream service is the
// real admission control; this only keeps the queue finite.
const maxPendingInputs = 1024

func (s *Server) appendSession(w http.ResponseWriter, r *http.Request, basin, name string, opts []stream.OpenOption) error {
	sess, err := s.svc.OpenAppendSession(r.Context(), basin, name, opts...)
	if err != nil {
		return toAPIError(err, fromPath)
	}
	defer sess.Close()

	// HTTP/2 is full duplex anyway; HTTP/1.1 needs to be told, and
	// refuses on some connections, which then simply cannot pipeline.
	rc := http.NewResponseController(w)
	_ = rc.EnableFullDuplex()

	inCodec, outCodec := &frameCodec{lease: requestLease(r)}, &frameCodec{}
	defer outCodec.close()
	fw := startS2S(w, r, outCodec)
	s.metrics.appendSessions.Inc()
	defer s.metrics.appendSessions.Dec()

	tokenCtx, stopToken := tokenContext(r.Context(), r)
	defer stopToken()
	readerCtx, stopReader := context.WithCancel(tokenCtx)
	defer stopReader()
	items := make(chan submitted, maxPendingInputs)
	var inputEnded bool // the client closed its input cleanly
	go func() {
		defer close(items)
		defer inCodec.close()
		allow := func(in stream.AppendInput) *apiError { return allowCommands(r, basin, name, in) }
		inputEnded = s.readAppendInputs(readerCtx, r.Body, inCodec, sess, allow, items)
	}()

	// unblock interrupts the reader, which may be blocked reading the
	// request body. Both HTTP/1.1 and HTTP/2 support read deadlines;
	// closing the body is the fallback for writers that do not.
	unblock := func() {
		stopReader()
		if rc.SetReadDeadline(time.Now()) != nil {
			_ = r.Body.Close()
		}
	}
	drained := s.drainCtx.Done()
	revoked := tokenCtx.Done()
	failed := false
	for open := true; open; {
		select {
		case <-drained:
			// Shutdown: take no more input, but acknowledge everything
			// already submitted.
			drained = nil
			unblock()
		case <-revoked:
			// The token was revoked or expired: the same, then say why.
			revoked = nil
			unblock()
		case it, ok := <-items:
			if !ok {
				open = false
				break
			}
			if failed {
				s.settle(it)
				continue
			}
			if err := s.ackInput(r, fw, it); err != nil {
				failed = true
				unblock()
			}
		}
	}
	// items is closed: the reader has returned and inputEnded is set.
	switch {
	case failed || inputEnded || r.Context().Err() != nil:
	case errors.Is(context.Cause(tokenCtx), errTokenRevoked):
		_ = fw.terminal(tokenRevoked())
	case s.isDraining():
		_ = fw.terminal(shuttingDown())
	}
	return nil
}

// readAppendInputs reads, decodes and submits inputs until the client ends
// its input (it then returns true), ctx ends, or an input fails (which it
// passes on as the last item).
func (s *Server) readAppendInputs(ctx context.Context, body io.Reader, codec *frameCodec, sess *stream.AppendSession,
	allow func(stream.AppendInput) *apiError, items chan<- submitted) bool {
	for {
		payload, held, err := readFrame(ctx, body, codec)
		if ctx.Err() != nil {
			return false
		}
		if errors.Is(err, io.EOF) {
			return true
		}
		if errors.Is(err, membudget.ErrExhausted) {
			items <- submitted{err: err}
			return false
		}
		if err != nil {
			items <- submitted{err: badFrame("%v", err)}
			return false
		}
		in, err := decodeAppendInput(payload)
		if err != nil {
			var limit *errBatchLimit
			if errors.As(err, &limit) {
				items <- submitted{err: invalid("%s", limit.msg)}
				return false
			}
			items <- submitted{err: badFrame("failed to decode AppendInput: %v", err)}
			return false
		}
		if err := allow(in); err != nil {
			items <- submitted{err: err}
			return false
		}
		// The readiness checked when the session opened can be lost while
		// it runs (fenced; in cluster mode, a lease gone stale): each input
		// is checked again, so that none is accepted after it.
		if s.opts.Ready != nil {
			if err := s.opts.Ready(); err != nil {
				items <- submitted{err: newAPIError(http.StatusServiceUnavailable, codeUnavailable, "server unavailable: "+err.Error())}
				return false
			}
		}
		it := submitted{records: len(in.Records), metered: meteredBytes(in), start: time.Now(), lease: codec.lease, held: held}
		// Decoding aliases the payload; only the record structs are new.
		it.held += int64(len(in.Records)) * decodedOverhead
		codec.lease.Account(int64(len(in.Records)) * decodedOverhead)
		s.metrics.appendInflight.Add(float64(it.metered))
		it.future, err = sess.Submit(ctx, in)
		s.metrics.appendPermitLatency.Observe(time.Since(it.start).Seconds())
		if err != nil {
			s.metrics.appendInflight.Sub(float64(it.metered))
			if ctx.Err() != nil {
				return false
			}
			items <- submitted{err: err}
			return false
		}
		items <- it
	}
}

// ackInput waits for one input's outcome and writes its ack, or the
// terminal message of its failure (returned as the error).
func (s *Server) ackInput(r *http.Request, fw *frameWriter, it submitted) error {
	if it.err != nil {
		e := toAPIError(it.err, fromPath)
		s.logError(r, e)
		_ = fw.terminal(e)
		return it.err
	}
	ack, err := s.settle(it)
	if err != nil {
		e := toAPIError(err, fromPath)
		s.logError(r, e)
		_ = fw.terminal(e)
		return err
	}
	s.metrics.observeAppend(it.records, it.metered, time.Since(it.start))
	return fw.message(encodeAppendAck(ack))
}

// settle waits for a submitted input to resolve; appends that were
// submitted always run to completion, whatever happens to the session,
// unless the shutdown grace period ends first (a hung store): then the
// outcome is unknown and the input is answered 503.
func (s *Server) settle(it submitted) (stream.AppendAck, error) {
	if it.future == nil {
		return stream.AppendAck{}, it.err
	}
	ack, err := it.future.Wait(s.abortCtx)
	if err != nil && s.abortCtx.Err() != nil {
		err = abortAnswer(errAborted)
	}
	s.metrics.appendInflight.Sub(float64(it.metered))
	it.lease.Shrink(it.held)
	return ack, err
}
