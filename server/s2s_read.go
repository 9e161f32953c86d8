package server

import (
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
	for {
		b, err := sess.Next(ctx)
		switch {
		case errors.Is(err, io.EOF):
			return nil
		case err != nil:
			if r.Context().Err() == nil {
				e := toAPIError(drainErr(ctx, err), fromPath)
				s.logError(r, e)
				_ = fw.terminal(e)
			}
			return nil
		}
		if b.Tail != nil {
			track.following()
		}
		if len(b.Records) == 0 && b.Tail == nil {
			continue
		}
		s.metrics.readRecords.Add(float64(len(b.Records)))
		if fw.message(encodeReadBatch(b)) != nil {
			return nil
		}
	}
}
