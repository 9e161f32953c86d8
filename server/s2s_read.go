package server

import (
	"context"
	"errors"
	"io"
	"net/http"

	"github.com/s2lite/s2lite/stream"
)

// S2S read session (API 10.5): one ReadBatch message per batch or
// heartbeat; a normal end closes the response stream, an error ends it
// with a terminal message.
func (s *Server) readSessionS2S(w http.ResponseWriter, r *http.Request, basin, name string, req stream.ReadRequest, opts []stream.OpenOption) error {
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
	msgs, stop := s.encodeAhead(ctx, cancel, sess)
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

// encodedBatch is one read batch encoded as an s2.v1.ReadBatch, or the
// error (io.EOF at a normal end) that ended the session.
type encodedBatch struct {
	body      []byte
	following bool // the batch carried a tail: the session follows live
	err       error
	free      chan<- []byte
}

// release hands the body's buffer back for a later batch.
func (m encodedBatch) release() { m.free <- m.body }

// encodeAhead reads and encodes the session's batches on a goroutine of
// its own, one batch ahead of the caller, so that reading the next batch
// from storage overlaps writing the previous one to the connection (the
// HTTP/2 write blocks the handler until its frames are out). Two buffers
// alternate, so a session allocates none per batch. The channel is closed
// after the message carrying an error. stop cancels the session context,
// waits for the goroutine and must be called before the session is closed;
// the caller stops receiving only by calling it.
func (s *Server) encodeAhead(ctx context.Context, cancel context.CancelFunc, sess *stream.ReadSession) (<-chan encodedBatch, func()) {
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
		for {
			var buf []byte
			select {
			case buf = <-free:
			case <-quit:
				return
			}
			b, err := sess.Next(ctx)
			if err != nil {
				send(encodedBatch{err: err})
				return
			}
			if len(b.Records) == 0 && b.Tail == nil {
				free <- buf
				continue
			}
			s.metrics.readRecords.Add(float64(len(b.Records)))
			m := encodedBatch{body: appendReadBatch(buf[:0], b), following: b.Tail != nil, free: free}
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
