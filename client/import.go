package client

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
)

// ImportFinish is the state an import ends with: the exported stream's
// tail, trim point and fencing token.
type ImportFinish struct {
	Tail         Position `json:"tail"`
	TrimPoint    uint64   `json:"trim_point"`
	FencingToken string   `json:"fencing_token"`
}

type importRecordJSON struct {
	SeqNum    uint64      `json:"seq_num"`
	Timestamp uint64      `json:"timestamp"`
	Headers   [][2]string `json:"headers,omitempty"`
	Body      string      `json:"body"`
}

// Import writes records at their own sequence numbers and timestamps and,
// with finish, sets the stream's tail, trim point and fencing token. It is
// an s2lite extension (POST /v1/streams/{stream}/import, enabled on the
// server with --enable-import), not part of the S2 API: s2lite export and
// import use it to move a stream without renumbering. Records must
// continue the stream exactly (the first batch into a stream that never
// held a record may start anywhere). It returns the stream's tail.
func (s *Stream) Import(ctx context.Context, records []SequencedRecord, finish *ImportFinish) (Position, error) {
	in := struct {
		Records []importRecordJSON `json:"records"`
		Finish  *ImportFinish      `json:"finish,omitempty"`
	}{Records: make([]importRecordJSON, len(records)), Finish: finish}
	for i, r := range records {
		jr := importRecordJSON{SeqNum: r.SeqNum, Timestamp: r.Timestamp, Body: b64(r.Body)}
		for _, h := range r.Headers {
			jr.Headers = append(jr.Headers, [2]string{b64(h.Name), b64(h.Value)})
		}
		in.Records[i] = jr
	}
	body, err := json.Marshal(in)
	if err != nil {
		return Position{}, err
	}
	r := s.recordReq(http.MethodPost, "/import")
	r.body, r.ctype, r.isAppend = body, "application/json", true
	resp, err := s.b.c.do(ctx, r)
	if err != nil {
		return Position{}, err
	}
	var t struct {
		Tail Position `json:"tail"`
	}
	if err := json.Unmarshal(resp.body, &t); err != nil {
		return Position{}, fmt.Errorf("decoding import answer: %w", err)
	}
	return t.Tail, nil
}
