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
	msgs, stop := s.encodeAhead(ctx, cancel, sess, lease, func(b stream.ReadBatch) int { return jsonReadBatchBound(b, format) + sseEventOverhead }, func(buf []byte, b stream.ReadBatch) ([]byte, bool) {
		if len(b.Records) == 0 {
			if b.Tail == nil {
				return buf, false
			}
			buf = append(buf, "event: ping\ndata: {\"timestamp\":"...)
			buf = strconv.AppendInt(buf, time.Now().UnixMilli(), 10)
			buf = append(buf, `,"tail":{"seq_num":`...)
			buf = strconv.AppendUint(buf, b.Tail.SeqNum, 10)
			buf = append(buf, `,"timestamp":`...)
			buf = strconv.AppendUint(buf, b.Tail.Timestamp, 10)
			return append(buf, "}}\n\n"...), true
		}
		count += uint64(len(b.Records))
		for _, rec := range b.Records {
			metered += rec.MeteredBytes()
		}
		// The id lets a client resume after the last record it saw.
		buf = append(buf, "event: batch\nid: "...)
		buf = strconv.AppendUint(buf, b.Records[len(b.Records)-1].SeqNum, 10)
		buf = append(buf, ',')
		buf = strconv.AppendUint(buf, count, 10)
		buf = append(buf, ',')
		buf = strconv.AppendUint(buf, metered, 10)
		buf = append(buf, "\ndata: "...)
		// The JSON holds no newline (they are escaped), so it is one
		// data line.
		buf = appendReadBatchJSON(buf, b, format)
		return append(buf, "\n\n"...), true
	})
	defer stop()
	for m := range msgs {
		switch {
		case errors.Is(m.err, io.EOF):
			ev.done()
			return nil
		case m.err != nil:
			if r.Context().Err() == nil {
				e := toAPIError(drainErr(ctx, m.err), fromPath)
				s.logError(r, e)
				ev.event("error", "", e.body)
			}
			return nil
		}
		if m.following {
			track.following()
		}
		if !ev.raw(m.body) {
			return nil
		}
		m.release()
	}
	return nil
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

// raw writes an event already encoded.
func (e *sseWriter) raw(p []byte) bool {
	if _, err := e.w.Write(p); err != nil {
		return false
	}
	return e.rc.Flush() == nil
}

func (e *sseWriter) done() bool {
	e.buf.Reset()
	e.buf.WriteString("data: [DONE]\n\n")
	return e.flush()
}

func (e *sseWriter) flush() bool { return e.raw(e.buf.Bytes()) }

// sseEventOverhead bounds what an SSE batch event adds around its JSON:
// the event and id lines (three 20-digit numbers) and the data prefix, or
// a whole ping event.
const sseEventOverhead = 160
