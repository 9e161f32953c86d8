package server

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/s2lite/s2lite/stream"
)

// Reads (API 8.2): unary JSON or protobuf here, SSE sessions in sse.go,
// S2S sessions in s2s_read.go.

func parseReadRequest(q query) (stream.ReadRequest, *apiError) {
	var req stream.ReadRequest
	var err *apiError
	for _, f := range []struct {
		key string
		dst **uint64
	}{
		{"seq_num", &req.SeqNum},
		{"timestamp", &req.Timestamp},
		{"tail_offset", &req.TailOffset},
		{"count", &req.Count},
		{"bytes", &req.Bytes},
		{"until", &req.Until},
	} {
		if *f.dst, err = q.u64(f.key); err != nil {
			return req, err
		}
	}
	if req.Clamp, err = q.boolean("clamp"); err != nil {
		return req, err
	}
	wait, err := q.uint("wait", 32)
	if err != nil {
		return req, err
	}
	if wait != nil {
		d := time.Duration(*wait) * time.Second
		req.Wait = &d
	}
	return req, nil
}

func (s *Server) read(w http.ResponseWriter, r *http.Request, params []string) error {
	basin, name, err := streamTarget(r, params)
	if err != nil {
		return err
	}
	q, err := parseQuery(r)
	if err != nil {
		return err
	}
	req, err := parseReadRequest(q)
	if err != nil {
		return err
	}
	format, err := parseFormat(r)
	if err != nil {
		return err
	}
	opts, key, err := dataPlaneOptions(r)
	if err != nil {
		return err
	}
	defer key.Zero()
	switch {
	case contentType(r) == mediaTypeS2S:
		return s.readSessionS2S(w, r, basin, name, req, opts)
	case acceptType(r) == mediaTypeSSE:
		return s.readSessionSSE(w, r, basin, name, req, format, opts)
	}

	ctx, cancel := s.sessionContext(r)
	defer cancel()
	start := time.Now()
	batch, rerr := s.svc.Read(ctx, basin, name, req, opts...)
	if rerr != nil {
		return toAPIError(drainErr(ctx, rerr), fromPath)
	}
	s.metrics.readLatency.Observe(time.Since(start).Seconds())
	if wantsProtobuf(r) {
		writeBody(w, r, http.StatusOK, contentTypeProtobuf, encodeReadBatch(batch))
		return nil
	}
	writeBody(w, r, http.StatusOK, contentTypeJSON, appendReadBatchJSON(nil, batch, format))
	return nil
}

// sessionContext is the context of a request that may last: it ends with
// the request or when shutdown begins, whichever comes first.
func (s *Server) sessionContext(r *http.Request) (context.Context, context.CancelFunc) {
	tctx, stopToken := tokenContext(r.Context(), r)
	ctx, cancel := context.WithCancelCause(tctx)
	stop := context.AfterFunc(s.drainCtx, func() { cancel(errDraining) })
	return ctx, func() {
		stop()
		cancel(context.Canceled)
		stopToken()
	}
}

// drainErr turns the cancellation of a session context by shutdown into
// errDraining, so that the client is told to retry rather than nothing.
func drainErr(ctx context.Context, err error) error {
	if errors.Is(err, context.Canceled) {
		switch cause := context.Cause(ctx); {
		case errors.Is(cause, errDraining):
			return errDraining
		case errors.Is(cause, errTokenRevoked):
			return tokenRevoked()
		}
	}
	return err
}
