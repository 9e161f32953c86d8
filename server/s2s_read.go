package server

import (
	"context"
	"errors"
	"io"
	"net/http"

	"github.com/s2lite/s2lite/internal/membudget"
	"github.com/s2lite/s2lite/stream"
)

// S2S read session (API 10.5): one ReadBatch message per batch or
// heartbeat; a normal end closes the response stream, an error ends it
// with a terminal message.
func (s *Server) readSessionS2S(w http.ResponseWriter, r *http.Request, basin, name string, req stream.ReadRequest, opts []stream.OpenOption) error {
	lease, release, aerr := s.admitReadSession(r)
	if aerr != nil {
		return aerr
	}
	defer release()
	ctx, cancel := s.sessionContext(r)
	defer cancel()
	sess, err := s.svc.OpenReadSession(ctx, basin, name, req, opts...)
	if err != nil {
		return toAPIError(drainErr(ctx, err), fromPath)
	}
	defer sess.Close()

	codec := &frameCodec{}
	defer codec.close()
	fw := startS2S(w, r, codec)
	track := s.metrics.trackReadSession("s2s")
	defer track.end()
	msgs, stop := s.encodeAhead(ctx, cancel, sess, lease, protoReadBatchBound, func(buf []byte, b stream.ReadBatch) ([]byte, bool) {
		if len(b.Records) == 0 && b.Tail == nil {
			return buf, false
		}
		return appendReadBatch(buf, b), true
	})
	defer stop()
	for m := range msgs {
		switch {
		case errors.Is(m.err, io.EOF):
			return nil
		case m.err != nil:
			if r.Context().Err() == nil {
				e := toAPIError(drainErr(ctx, m.err), fromPath)
				s.logError(r, e)
				_ = fw.terminal(e)
			}
			return nil
		}
		if m.following {
			track.following()
		}
		if fw.message(m.body) != nil {
			return nil
		}
		m.release()
	}
	return nil
}

// encodedBatch is one read batch encoded for the wire, or the error
// (io.EOF at a normal end) that ended the session.
type encodedBatch struct {
	body      []byte
	following bool // the batch carried a tail: the session follows live
	err       error
	free      chan<- []byte
}

// release hands the body's buffer back for a later batch.
func (m encodedBatch) release() { m.free <- m.body }

// encodeAhead reads the session's batches and encodes them with encode on a
// goroutine of its own, one batch ahead of the caller, so that reading the
// next batch from storage overlaps writing the previous one to the
// connection (the HTTP/2 write blocks the handler until its frames are
// out). encode appends to buf and reports false for a batch that sends
// nothing; it runs on that goroutine only, so it may keep state across
// batches. Two buffers alternate, so a session allocates none per batch. The channel is closed
// after the message carrying an error. stop cancels the session context,
// waits for the goroutine and must be called before the session is closed;
// the caller stops receiving only by calling it. bound gives an upper
// bound of what encode appends for a batch.
func (s *Server) encodeAhead(ctx context.Context, cancel context.CancelFunc, sess *stream.ReadSession, lease *membudget.Lease,
	bound func(b stream.ReadBatch) int, encode func(buf []byte, b stream.ReadBatch) ([]byte, bool)) (<-chan encodedBatch, func()) {
	out := make(chan encodedBatch)
	free := make(chan []byte, 2)
	free <- nil
	free <- nil
	quit, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		defer close(out)
		// Not ctx: an error caused by its cancellation (a drain) must
		// still reach the caller, which tells the client.
		send := func(m encodedBatch) bool {
			select {
			case out <- m:
				return true
			case <-quit:
				return false
			}
		}
		// Memory (DESIGN.md, "Memory budget"): the lease holds the two
		// buffers' capacity for as long as they live. A session catching
		// up also reserves a whole batch before reading it, waiting for
		// memory when there is none; a session following live appends
		// blocks in Next for as long as the stream is quiet, so it must
		// not hold a reservation meanwhile: its batches, as large as the
		// appends it follows, are accounted once read.
		following := false
		for {
			var buf []byte
			select {
			case buf = <-free:
			case <-quit:
				return
			}
			if following && cap(buf) > keptFollowBuffer {
				// Live batches are small: give a catch-up sized
				// buffer back rather than keep it for the session's life.
				lease.Shrink(int64(cap(buf)))
				buf = nil
			}
			var reserved int64
			if !following {
				if err := lease.GrowWait(ctx, readBatchMemory, readMemoryWait); err != nil {
					send(encodedBatch{err: err})
					return
				}
				reserved = readBatchMemory
			}
			b, err := sess.Next(ctx)
			if err != nil {
				lease.Shrink(reserved)
				send(encodedBatch{err: err})
				return
			}
			if following {
				reserved = batchMemory(b)
				lease.Account(reserved)
			}
			// The encoded batch gets a buffer of its upper bound, drawn
			// from the lease before it is allocated, so that encoding
			// never grows it: 1 MiB of control bytes in raw JSON is 6 MiB.
			if need := bound(b); need > cap(buf) {
				// A quarter more than this batch needs, so that the
				// next, slightly larger one reuses the buffer.
				need += need / 4
				if err := lease.GrowWait(ctx, int64(need), readMemoryWait); err != nil {
					lease.Shrink(reserved)
					send(encodedBatch{err: err})
					return
				}
				lease.Shrink(int64(cap(buf)))
				buf = make([]byte, 0, need)
			}
			oldCap := cap(buf)
			body, send1 := encode(buf[:0], b)
			lease.Account(int64(cap(body) - oldCap)) // only if the bound was wrong
			lease.Shrink(reserved)
			following = b.Tail != nil
			if !send1 {
				free <- body
				continue
			}
			s.metrics.readRecords.Add(float64(len(b.Records)))
			m := encodedBatch{body: body, following: following, free: free}
			if !send(m) {
				return
			}
		}
	}()
	return out, func() {
		close(quit)
		cancel()
		<-done
	}
}
