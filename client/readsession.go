package client

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"
)

// idleTimeout ends a session attempt that received nothing for this long:
// servers send heartbeats every 5-15 s (API 8.5), so silence this long
// means a dead connection, and the session resumes on a new one.
const idleTimeout = 30 * time.Second

// ReadSession delivers the batches of a read session (API 8.5), over S2S or
// Server-Sent Events. After a retryable failure it opens a new session from
// the record after the last one delivered, with Count and Bytes reduced by
// what was delivered, so each record is delivered once and in order.
type ReadSession struct {
	st     *Stream
	sse    bool
	opts   ReadOptions
	ctx    context.Context
	cancel context.CancelFunc

	// resumeAt is where a resumed session starts: after the last record
	// delivered, or at the tail a heartbeat reported.
	resumeAt           *uint64
	gotCount, gotBytes uint64
	failures           int

	cur sessionStream
	err error // sticky
	mu  sync.Mutex
}

// sessionStream is one HTTP exchange of a session.
type sessionStream interface {
	next() (ReadBatch, error)
	close()
}

// ReadSession opens an S2S read session. Without Count, Bytes, Until or
// Wait it follows the stream until ctx ends or Close is called.
func (s *Stream) ReadSession(ctx context.Context, o ReadOptions) (*ReadSession, error) {
	return s.openReadSession(ctx, o, false)
}

// ReadSessionSSE opens a read session over Server-Sent Events (API 9).
func (s *Stream) ReadSessionSSE(ctx context.Context, o ReadOptions) (*ReadSession, error) {
	return s.openReadSession(ctx, o, true)
}

func (s *Stream) openReadSession(ctx context.Context, o ReadOptions, sse bool) (*ReadSession, error) {
	ctx, cancel := context.WithCancel(ctx)
	rs := &ReadSession{st: s, sse: sse, opts: o, ctx: ctx, cancel: cancel}
	if err := rs.connect(); err != nil {
		cancel()
		return nil, err
	}
	return rs, nil
}

// connect opens a session attempt, retrying retryable failures.
func (rs *ReadSession) connect() error {
	for {
		o := rs.opts
		if rs.resumeAt != nil {
			o.Start = FromSeqNum(*rs.resumeAt)
		}
		if o.Count != nil {
			left := *o.Count - min(*o.Count, rs.gotCount)
			o.Count = &left
		}
		if o.Bytes != nil {
			left := *o.Bytes - min(*o.Bytes, rs.gotBytes)
			o.Bytes = &left
		}
		var cur sessionStream
		var err error
		if rs.sse {
			cur, err = rs.st.openSSE(rs.ctx, &o)
		} else {
			cur, err = rs.st.openS2SRead(rs.ctx, &o)
		}
		if err == nil {
			rs.cur = cur
			return nil
		}
		if err := rs.retryOrFail(err); err != nil {
			return err
		}
	}
}

// retryOrFail waits before another attempt, or returns err when it is
// not retryable or the attempts are used up.
func (rs *ReadSession) retryOrFail(err error) error {
	rs.failures++
	c := rs.st.b.c
	if rs.ctx.Err() != nil {
		return rs.ctx.Err()
	}
	if !IsRetryable(err) || rs.failures >= c.cfg.MaxAttempts {
		return err
	}
	if werr := c.backoff(rs.ctx, rs.failures); werr != nil {
		return werr
	}
	return nil
}

// Next returns the next batch: records, or a heartbeat (no records, Tail
// set) while following. It returns io.EOF when the session ended normally
// (a limit, Until or Wait was reached).
func (rs *ReadSession) Next() (ReadBatch, error) {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	for {
		if rs.err != nil {
			return ReadBatch{}, rs.err
		}
		b, err := rs.cur.next()
		if err == nil {
			rs.failures = 0
			if n := len(b.Records); n > 0 {
				next := b.Records[n-1].SeqNum + 1
				rs.resumeAt = &next
				rs.gotCount += uint64(n)
				for i := range b.Records {
					rs.gotBytes += uint64(b.Records[i].MeteredSize())
				}
			} else if b.Tail != nil && rs.resumeAt == nil {
				t := b.Tail.SeqNum
				rs.resumeAt = &t
			}
			return b, nil
		}
		rs.cur.close()
		if errors.Is(err, io.EOF) {
			rs.err = io.EOF
			continue
		}
		if rerr := rs.retryOrFail(err); rerr != nil {
			rs.err = rerr
			continue
		}
		if cerr := rs.connect(); cerr != nil {
			rs.err = cerr
		}
	}
}

// Close ends the session; a Next blocked in another goroutine returns.
func (rs *ReadSession) Close() {
	rs.cancel()
	if rs.mu.TryLock() {
		rs.cur.close()
		rs.mu.Unlock()
	}
}

// attempt holds one HTTP exchange and the watchdog that cancels it after
// idleTimeout of silence.
type attempt struct {
	resp     *http.Response
	cancel   context.CancelFunc
	idle     *time.Timer
	mu       sync.Mutex
	timedOut bool
}

func newAttempt(ctx context.Context) (context.Context, *attempt) {
	ctx, cancel := context.WithCancel(ctx)
	a := &attempt{cancel: cancel}
	a.idle = time.AfterFunc(idleTimeout, func() {
		a.mu.Lock()
		a.timedOut = true
		a.mu.Unlock()
		cancel()
	})
	return ctx, a
}

// alive notes that something arrived.
func (a *attempt) alive() { a.idle.Reset(idleTimeout) }

// wrap turns a read failure into a retryable transport error when the
// watchdog caused it.
func (a *attempt) wrap(err error) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.timedOut {
		return &TransportError{Err: fmt.Errorf("read session: nothing received for %v", idleTimeout)}
	}
	return err
}

func (a *attempt) close() {
	a.idle.Stop()
	a.cancel()
	if a.resp != nil {
		_ = a.resp.Body.Close()
	}
}

// s2sRead is an S2S read session attempt.
type s2sRead struct {
	*attempt
	fr frameReader
}

func (s *Stream) openS2SRead(ctx context.Context, o *ReadOptions) (sessionStream, error) {
	ctx, a := newAttempt(ctx)
	r := s.recordReq(http.MethodGet, "/records")
	r.query = o.query()
	resp, err := s.b.c.openS2S(ctx, r, nil)
	if err != nil {
		a.close()
		return nil, a.wrap(err)
	}
	a.resp = resp
	a.alive()
	return &s2sRead{attempt: a, fr: frameReader{br: bufio.NewReaderSize(resp.Body, s2sReadBufBytes)}}, nil
}

func (r *s2sRead) next() (ReadBatch, error) {
	msg, err := r.fr.next()
	if err != nil {
		return ReadBatch{}, r.wrap(err)
	}
	r.alive()
	return decodeProtoReadBatch(msg)
}

// sseRead is an SSE read session attempt.
type sseRead struct {
	*attempt
	br *bufio.Reader
}

func (s *Stream) openSSE(ctx context.Context, o *ReadOptions) (sessionStream, error) {
	ctx, a := newAttempt(ctx)
	u := s.b.c.basin + streamPath(s.name) + "/records"
	if q := o.query(); len(q) > 0 {
		u += "?" + q.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		a.close()
		return nil, fmt.Errorf("client: %w", err)
	}
	s.b.c.setCommonHeaders(req, s.b.name)
	req.Header.Set("Accept", "text/event-stream")
	req.Header.Set("s2-format", s2FormatBase64)
	req.Header.Del("Accept-Encoding") // event streams are never compressed
	if k := s.key.header(); k != "" {
		req.Header.Set(encryptionKeyHeader, k)
	}
	resp, err := s.b.c.unary.Do(req)
	if err != nil {
		a.close()
		return nil, a.wrap(&TransportError{Err: err})
	}
	if resp.StatusCode != http.StatusOK {
		data, rerr := readBody(resp)
		resp.Body.Close()
		a.close()
		if rerr != nil {
			return nil, &TransportError{Err: rerr}
		}
		return nil, decodeError(resp.StatusCode, data)
	}
	a.resp = resp
	a.alive()
	return &sseRead{attempt: a, br: bufio.NewReaderSize(resp.Body, s2sReadBufBytes)}, nil
}

// maxSSEEvent bounds one event's data line: a 1 MiB batch in base64 JSON.
const maxSSEEvent = 8 << 20

func (r *sseRead) next() (ReadBatch, error) {
	for {
		event, data, err := r.event()
		if err != nil {
			return ReadBatch{}, r.wrap(err)
		}
		r.alive()
		switch {
		case event == "" && string(data) == "[DONE]":
			return ReadBatch{}, io.EOF
		case event == "batch":
			return unmarshalJSONReadBatch(data)
		case event == "ping":
			var p struct {
				Tail *Position `json:"tail"`
			}
			if err := json.Unmarshal(data, &p); err != nil {
				return ReadBatch{}, fmt.Errorf("sse ping: %w", err)
			}
			if p.Tail != nil {
				return ReadBatch{Tail: p.Tail}, nil
			}
		case event == "error":
			return ReadBatch{}, decodeError(statusOfEventError(data), data)
		}
		// Other events are ignored, as the API allows.
	}
}

// event reads one event: its type and data.
func (r *sseRead) event() (string, []byte, error) {
	var event string
	var data []byte
	seen := false
	for {
		line, err := r.br.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			// A long data line: gather it whole, within a bound.
			full := append([]byte{}, line...)
			for errors.Is(err, bufio.ErrBufferFull) {
				line, err = r.br.ReadSlice('\n')
				full = append(full, line...)
				if len(full) > maxSSEEvent {
					return "", nil, fmt.Errorf("sse: event over %d bytes", maxSSEEvent)
				}
			}
			line = full
		}
		if err != nil {
			if errors.Is(err, io.EOF) && !seen {
				return "", nil, &TransportError{Err: errors.New("sse: stream ended without [DONE]")}
			}
			return "", nil, &TransportError{Err: fmt.Errorf("sse: %w", err)}
		}
		line = bytes.TrimRight(line, "\r\n")
		if len(line) == 0 {
			if seen {
				return event, data, nil
			}
			continue
		}
		seen = true
		switch {
		case bytes.HasPrefix(line, []byte("event:")):
			event = string(bytes.TrimSpace(line[len("event:"):]))
		case bytes.HasPrefix(line, []byte("data:")):
			d := bytes.TrimPrefix(line[len("data:"):], []byte(" "))
			if data != nil {
				data = append(data, '\n')
			}
			data = append(data, d...)
		}
	}
}

// statusOfEventError gives an SSE error event the status its body would
// have carried as an HTTP answer (API 12.1, 12.2).
func statusOfEventError(data []byte) int {
	var b struct {
		Code                 string          `json:"code"`
		SeqNumMismatch       json.RawMessage `json:"seq_num_mismatch"`
		FencingTokenMismatch json.RawMessage `json:"fencing_token_mismatch"`
		Tail                 json.RawMessage `json:"tail"`
	}
	_ = json.Unmarshal(data, &b)
	switch {
	case b.SeqNumMismatch != nil || b.FencingTokenMismatch != nil:
		return http.StatusPreconditionFailed
	case b.Tail != nil:
		return http.StatusRequestedRangeNotSatisfiable
	}
	if s, ok := codeStatus[b.Code]; ok {
		return s
	}
	return http.StatusInternalServerError
}

// codeStatus maps API error codes to their HTTP statuses (API 12.2).
var codeStatus = map[string]int{
	"access_token_not_found": 404, "authn": 401, "bad_frame": 400, "bad_header": 400,
	"bad_json": 400, "bad_path": 400, "bad_proto": 400, "bad_query": 400,
	"basin_deletion_pending": 409, "basin_not_found": 404, "client_hangup": 499,
	"decryption_failed": 400, "hot_server": 502, "invalid": 422, "not_implemented": 501,
	"other": 500, "permission_denied": 403, "quota_exhausted": 403, "rate_limited": 429,
	"request_timeout": 408, "resource_already_exists": 409, "server_draining": 503,
	"storage": 500, "stream_deletion_pending": 409, "stream_not_found": 404,
	"transaction_conflict": 409, "unavailable": 503, "upstream_timeout": 504,
}
