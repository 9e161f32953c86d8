package client

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
)

// AppendSession is a pipelined S2S append session (API 10.4): batches are
// sent without waiting for earlier ones to be acknowledged, and acks come
// back in the order the batches were submitted. The first failure ends the
// session: batches after the failed one are not appended, and their
// PendingAcks fail too.
//
// A session is not retried: a batch sent on a session that broke may or
// may not have been appended. Callers that need exactly-once appends
// across failures set MatchSeqNum or use a fencing token, and start a new
// session.
type AppendSession struct {
	c      *Client
	cancel context.CancelFunc
	pw     *io.PipeWriter
	resp   *http.Response

	maxInflight int64
	sendMu      sync.Mutex // orders frames and pending entries alike

	mu       sync.Mutex
	pending  []*PendingAck
	inflight int64
	room     chan struct{} // closed and replaced when inflight drops
	err      error         // the session's failure, once it failed
	done     chan struct{} // closed when the receiver stops
}

// AppendSessionOptions configure an append session.
type AppendSessionOptions struct {
	// MaxInflightBytes bounds the metered bytes of batches sent and not
	// yet acknowledged: Submit waits for room beyond it (default 5 MiB).
	MaxInflightBytes int64
}

// PendingAck is the acknowledgement of a submitted batch, to come.
type PendingAck struct {
	bytes int64
	done  chan struct{}
	ack   AppendAck
	err   error
}

// Wait returns the batch's acknowledgement once it is durable, or why it
// failed.
func (p *PendingAck) Wait(ctx context.Context) (AppendAck, error) {
	select {
	case <-p.done:
		return p.ack, p.err
	case <-ctx.Done():
		return AppendAck{}, ctx.Err()
	}
}

// Done is closed when the acknowledgement (or failure) is known.
func (p *PendingAck) Done() <-chan struct{} { return p.done }

// AppendSession opens an S2S append session on the stream.
func (s *Stream) AppendSession(ctx context.Context, o AppendSessionOptions) (*AppendSession, error) {
	if o.MaxInflightBytes <= 0 {
		o.MaxInflightBytes = 5 << 20
	}
	ctx, cancel := context.WithCancel(ctx)
	pr, pw := io.Pipe()
	r := s.recordReq(http.MethodPost, "/records")
	var resp *http.Response
	var err error
	for attempt := 1; ; attempt++ {
		// Opening sends nothing that could be appended: retry freely.
		resp, err = s.b.c.openS2S(ctx, r, pr)
		if err == nil || attempt >= s.b.c.cfg.MaxAttempts || !IsRetryable(err) || ctx.Err() != nil {
			break
		}
		if s.b.c.backoff(ctx, attempt) != nil {
			break
		}
	}
	if err != nil {
		cancel()
		_ = pw.Close()
		return nil, err
	}
	a := &AppendSession{
		c: s.b.c, cancel: cancel, pw: pw, resp: resp,
		maxInflight: o.MaxInflightBytes,
		room:        make(chan struct{}),
		done:        make(chan struct{}),
	}
	go a.receive()
	return a, nil
}

// Submit sends a batch and returns its PendingAck. It waits while the
// batches in flight exceed MaxInflightBytes (a single batch larger than
// that is sent alone). An error means the batch was not sent.
func (a *AppendSession) Submit(ctx context.Context, in AppendInput) (*PendingAck, error) {
	if err := in.Validate(); err != nil {
		return nil, err
	}
	msg := appendProtoInput(nil, &in)
	frame, err := appendFrame(nil, msg, a.c.cfg.Compression)
	if err != nil {
		return nil, err
	}
	p := &PendingAck{bytes: in.meteredSize(), done: make(chan struct{})}
	a.sendMu.Lock()
	defer a.sendMu.Unlock()
	for {
		a.mu.Lock()
		if a.err != nil {
			err := a.err
			a.mu.Unlock()
			return nil, err
		}
		if a.inflight == 0 || a.inflight+p.bytes <= a.maxInflight {
			a.inflight += p.bytes
			a.pending = append(a.pending, p)
			a.mu.Unlock()
			break
		}
		room := a.room
		a.mu.Unlock()
		select {
		case <-room:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	if _, err := a.pw.Write(frame); err != nil {
		// The receiver fails this batch with the session's error.
		a.fail(&TransportError{Err: fmt.Errorf("append session: sending: %w", err)})
		return p, nil
	}
	return p, nil
}

// receive matches acks to pending batches, in order.
func (a *AppendSession) receive() {
	defer close(a.done)
	fr := frameReader{br: bufio.NewReader(a.resp.Body)}
	for {
		msg, err := fr.next()
		if err != nil {
			if errors.Is(err, io.EOF) {
				a.mu.Lock()
				n := len(a.pending)
				a.mu.Unlock()
				if n == 0 {
					a.fail(errSessionEnded)
					return
				}
				err = &TransportError{Err: fmt.Errorf("append session ended with %d batches unacknowledged", n)}
			}
			a.fail(err)
			return
		}
		ack, err := decodeProtoAppendAck(msg)
		if err != nil {
			a.fail(err)
			return
		}
		a.mu.Lock()
		if len(a.pending) == 0 {
			a.mu.Unlock()
			a.fail(errors.New("append session: an ack for no batch"))
			return
		}
		p := a.pending[0]
		a.pending = a.pending[1:]
		a.inflight -= p.bytes
		close(a.room)
		a.room = make(chan struct{})
		a.mu.Unlock()
		p.ack = ack
		close(p.done)
	}
}

// errSessionEnded: the session was closed after every ack arrived.
var errSessionEnded = errors.New("append session closed")

// fail ends the session with err: every pending batch fails with it.
func (a *AppendSession) fail(err error) {
	a.mu.Lock()
	if a.err == nil {
		a.err = err
	}
	pending := a.pending
	a.pending = nil
	close(a.room)
	a.room = make(chan struct{})
	a.mu.Unlock()
	for _, p := range pending {
		p.err = err
		close(p.done)
	}
	a.cancel()
}

// Close ends the input, waits for the acks of every batch submitted, and
// returns the session's failure, if any.
func (a *AppendSession) Close() error {
	a.sendMu.Lock()
	_ = a.pw.Close()
	a.sendMu.Unlock()
	<-a.done
	_ = a.resp.Body.Close()
	a.mu.Lock()
	defer a.mu.Unlock()
	if errors.Is(a.err, errSessionEnded) {
		return nil
	}
	return a.err
}

// Abort ends the session at once; batches without an ack fail.
func (a *AppendSession) Abort() {
	a.fail(errors.New("append session aborted"))
	_ = a.pw.CloseWithError(errors.New("aborted"))
	<-a.done
	_ = a.resp.Body.Close()
}
