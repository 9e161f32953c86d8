package server

import (
	"bytes"
	"errors"
	"io"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/s2lite/s2lite/stream"
)

// Read sessions over Server-Sent Events (API 9).

// lastEventID is a parsed Last-Event-ID: the last delivered seq_num and
// the record count and metered bytes delivered on that connection.
type lastEventID struct{ seqNum, count, bytes uint64 }

func parseLastEventID(v string) (lastEventID, bool) {
	parts := strings.Split(strings.TrimSpace(v), ",")
	if len(parts) != 3 {
		return lastEventID{}, false
	}
	var n [3]uint64
	for i, p := range parts {
		x, err := strconv.ParseUint(p, 10, 64)
		if err != nil {
			return lastEventID{}, false
		}
		n[i] = x
	}
	return lastEventID{n[0], n[1], n[2]}, true
}

func saturatingSub(a, b uint64) uint64 {
	if b > a {
		return 0
	}
	return a - b
}

// resume rewrites a read request to continue after id (API 9.4): the
// start moves past the last delivered record (clamp is kept) and the
// limits shrink by what was already delivered.
func (id lastEventID) resume(req stream.ReadRequest) stream.ReadRequest {
	next := id.seqNum
	if next < math.MaxUint64 {
		next++
	}
	req.SeqNum, req.Timestamp, req.TailOffset = &next, nil, nil
	if req.Count != nil {
		c := saturatingSub(*req.Count, id.count)
		req.Count = &c
	}
	if req.Bytes != nil {
		b := saturatingSub(*req.Bytes, id.bytes)
		req.Bytes = &b
	}
	return req
}

func (s *Server) readSessionSSE(w http.ResponseWriter, r *http.Request, basin, name string, req stream.ReadRequest, format recordFormat, opts []stream.OpenOption) error {
	v, ok, herr := headerValue(r, headerLastEventID)
	if herr != nil {
		return herr
	}
	if ok {
		id, valid := parseLastEventID(v)
		if !valid {
			return badHeader("invalid `last-event-id` header: expected `seq_num,count,bytes`")
		}
		req = id.resume(req)
	}

	ctx, cancel := s.sessionContext(r)
	defer cancel()
	sess, err := s.svc.OpenReadSession(ctx, basin, name, req, opts...)
	if err != nil {
		return toAPIError(drainErr(ctx, err), fromPath)
	}
	defer sess.Close()

	h := w.Header()
	h.Set("Content-Type", mediaTypeSSE)
	h.Set("Cache-Control", "no-cache, no-transform")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	if rc.Flush() != nil {
		return nil
	}

	track := s.metrics.trackReadSession("sse")
	defer track.end()
	ev := sseWriter{w: w, rc: rc}
	var count, metered uint64
	for {
		b, err := sess.Next(ctx)
		switch {
		case errors.Is(err, io.EOF):
			ev.done()
			return nil
		case err != nil:
			if r.Context().Err() == nil {
				e := toAPIError(drainErr(ctx, err), fromPath)
				s.logError(r, e)
				ev.event("error", "", e.body)
			}
			return nil
		}
		if b.Tail != nil {
			track.following()
		}
		if len(b.Records) == 0 {
			if b.Tail == nil {
				continue
			}
			data, _ := marshalJSON(struct {
				Timestamp uint64       `json:"timestamp"`
				Tail      jsonPosition `json:"tail"`
			}{uint64(time.Now().UnixMilli()), positionJSON(*b.Tail)})
			if !ev.event("ping", "", data) {
				return nil
			}
			continue
		}
		count += uint64(len(b.Records))
		for _, rec := range b.Records {
			metered += rec.MeteredBytes()
		}
		s.metrics.readRecords.Add(float64(len(b.Records)))
		data, merr := marshalJSON(readBatchJSON(b, format))
		if merr != nil {
			ev.event("error", "", toAPIError(merr, fromPath).body)
			return nil
		}
		id := strconv.FormatUint(b.Records[len(b.Records)-1].SeqNum, 10) + "," +
			strconv.FormatUint(count, 10) + "," + strconv.FormatUint(metered, 10)
		if !ev.event("batch", id, data) {
			return nil
		}
	}
}

// sseWriter writes and flushes whole events; it reports false once the
// client is gone.
type sseWriter struct {
	w   io.Writer
	rc  *http.ResponseController
	buf bytes.Buffer
}

func (e *sseWriter) event(name, id string, data []byte) bool {
	e.buf.Reset()
	e.buf.WriteString("event: ")
	e.buf.WriteString(name)
	e.buf.WriteByte('\n')
	if id != "" {
		e.buf.WriteString("id: ")
		e.buf.WriteString(id)
		e.buf.WriteByte('\n')
	}
	e.buf.WriteString("data: ")
	e.buf.Write(data)
	e.buf.WriteString("\n\n")
	return e.flush()
}

func (e *sseWriter) done() bool {
	e.buf.Reset()
	e.buf.WriteString("data: [DONE]\n\n")
	return e.flush()
}

func (e *sseWriter) flush() bool {
	if _, err := e.w.Write(e.buf.Bytes()); err != nil {
		return false
	}
	return e.rc.Flush() == nil
}
