package lincheck

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// Client speaks the unary JSON record API of one server.
type Client struct {
	base  string // http://127.0.0.1:port
	basin string
	http  *http.Client
}

// ErrUnexpected wraps a response that is neither an outcome the model
// knows nor an unknown outcome: a client or server bug worth failing on.
var ErrUnexpected = errors.New("lincheck: unexpected response")

// NewClient returns a client of the server at base. timeout bounds each
// call; a call that times out has an unknown outcome.
func NewClient(base, basin string, tr http.RoundTripper, timeout time.Duration) *Client {
	return &Client{base: base, basin: basin, http: &http.Client{Transport: tr, Timeout: timeout}}
}

type jsonPos struct {
	SeqNum    uint64 `json:"seq_num"`
	Timestamp uint64 `json:"timestamp"`
}

type jsonRecord struct {
	SeqNum  uint64      `json:"seq_num,omitempty"`
	Headers [][2]string `json:"headers,omitempty"`
	Body    string      `json:"body,omitempty"`
}

// do sends one request; status 0 means no response (the outcome is
// unknown).
func (c *Client) do(ctx context.Context, method, path string, q url.Values, body any) (int, []byte, error) {
	u := c.base + path
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return 0, nil, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("s2-basin", c.basin)
	if body != nil {
		req.Header.Set("content-type", "application/json")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, nil, err
	}
	return resp.StatusCode, b, nil
}

func recordsPath(stream string) string {
	return "/v1/streams/" + url.PathEscape(stream) + "/records"
}

// Append sends in (an Append input) and returns the outcome and the HTTP
// status. Transport errors, 408 and 5xx are an Unknown outcome, not an
// error; err is set only for responses the model has no place for.
func (c *Client) Append(ctx context.Context, in Input) (Output, int, error) {
	type appendInput struct {
		Records      []jsonRecord `json:"records"`
		MatchSeqNum  *uint64      `json:"match_seq_num,omitempty"`
		FencingToken *string      `json:"fencing_token,omitempty"`
	}
	var body appendInput
	for _, r := range in.Records {
		if tok, ok := fenceToken(r); ok {
			body.Records = append(body.Records, jsonRecord{Headers: [][2]string{{"", "fence"}}, Body: tok})
		} else {
			body.Records = append(body.Records, jsonRecord{Body: r})
		}
	}
	if in.HasMatch {
		body.MatchSeqNum = &in.Match
	}
	if in.HasToken {
		body.FencingToken = &in.Token
	}
	status, b, err := c.do(ctx, http.MethodPost, recordsPath(in.Stream), nil, body)
	switch {
	case err != nil || unknownStatus(status):
		return Output{Status: Unknown}, status, nil
	case status == http.StatusOK:
		var ack struct{ Start, End, Tail jsonPos }
		if err := json.Unmarshal(b, &ack); err != nil {
			return Output{}, status, fmt.Errorf("%w: ack %s: %v", ErrUnexpected, b, err)
		}
		return Output{Status: OK, Start: ack.Start.SeqNum, End: ack.End.SeqNum, Tail: ack.Tail.SeqNum}, status, nil
	case status == http.StatusPreconditionFailed:
		var m struct {
			SeqNumMismatch       *uint64 `json:"seq_num_mismatch"`
			FencingTokenMismatch *string `json:"fencing_token_mismatch"`
		}
		if err := json.Unmarshal(b, &m); err != nil {
			return Output{}, status, fmt.Errorf("%w: 412 %s: %v", ErrUnexpected, b, err)
		}
		switch {
		case m.SeqNumMismatch != nil:
			return Output{Status: SeqMismatch, Expected: *m.SeqNumMismatch}, status, nil
		case m.FencingTokenMismatch != nil:
			return Output{Status: TokenMismatch, Token: *m.FencingTokenMismatch}, status, nil
		}
	}
	return Output{}, status, fmt.Errorf("%w: append: %d %s", ErrUnexpected, status, b)
}

// unknownStatus reports a status whose outcome is unknown: request_timeout
// and 5xx are the codes API 12.2 does not guarantee side-effect free.
func unknownStatus(status int) bool {
	return status == http.StatusRequestTimeout || status >= 500
}

// errNoOutcome is a read or check-tail that got no answer; it says nothing
// about the stream and is left out of the history.
var errNoOutcome = errors.New("lincheck: no outcome")

func isNoOutcome(err error) bool { return errors.Is(err, errNoOutcome) }

// Read does a unary read of in (a Read input).
func (c *Client) Read(ctx context.Context, in Input) (Output, int, error) {
	q := url.Values{"seq_num": {strconv.FormatUint(in.Start, 10)}}
	if in.Count > 0 {
		q.Set("count", strconv.FormatUint(in.Count, 10))
	}
	status, b, err := c.do(ctx, http.MethodGet, recordsPath(in.Stream), q, nil)
	switch {
	case err != nil || unknownStatus(status):
		return Output{}, status, fmt.Errorf("%w: read: %d %s %v", errNoOutcome, status, b, err)
	case status == http.StatusOK:
		var batch struct{ Records []jsonRecord }
		if err := json.Unmarshal(b, &batch); err != nil {
			return Output{}, status, fmt.Errorf("%w: read %s: %v", ErrUnexpected, b, err)
		}
		out := Output{Status: OK, Records: make([]Record, 0, len(batch.Records))}
		for _, r := range batch.Records {
			data := r.Body
			switch {
			case len(r.Headers) == 1 && r.Headers[0] == [2]string{"", "fence"}:
				data = FenceRecord(r.Body)
			case len(r.Headers) > 0:
				return Output{}, status, fmt.Errorf("%w: read a record with headers %q", ErrUnexpected, r.Headers)
			}
			out.Records = append(out.Records, Record{Seq: r.SeqNum, Data: data})
		}
		return out, status, nil
	case status == http.StatusRequestedRangeNotSatisfiable:
		var m struct{ Tail jsonPos }
		if err := json.Unmarshal(b, &m); err != nil {
			return Output{}, status, fmt.Errorf("%w: 416 %s: %v", ErrUnexpected, b, err)
		}
		return Output{Status: OutOfRange, Tail: m.Tail.SeqNum}, status, nil
	}
	return Output{}, status, fmt.Errorf("%w: read: %d %s", ErrUnexpected, status, b)
}

// CheckTail asks for the tail of in.Stream.
func (c *Client) CheckTail(ctx context.Context, in Input) (Output, int, error) {
	status, b, err := c.do(ctx, http.MethodGet, recordsPath(in.Stream)+"/tail", nil, nil)
	switch {
	case err != nil || unknownStatus(status):
		return Output{}, status, fmt.Errorf("%w: check tail: %d %s %v", errNoOutcome, status, b, err)
	case status == http.StatusOK:
		var m struct{ Tail jsonPos }
		if err := json.Unmarshal(b, &m); err != nil {
			return Output{}, status, fmt.Errorf("%w: tail %s: %v", ErrUnexpected, b, err)
		}
		return Output{Status: OK, Tail: m.Tail.SeqNum}, status, nil
	}
	return Output{}, status, fmt.Errorf("%w: check tail: %d %s", ErrUnexpected, status, b)
}

// Call performs in and records it in h. Calls without an outcome (a read
// that failed) are not recorded; unexpected responses are returned.
func (c *Client) Call(ctx context.Context, h *History, client int, in Input) (Output, error) {
	call := h.Now()
	var out Output
	var status int
	var err error
	switch in.Kind {
	case Append:
		out, status, err = c.Append(ctx, in)
	case Read:
		out, status, err = c.Read(ctx, in)
	case CheckTail:
		out, status, err = c.CheckTail(ctx, in)
	}
	ret := h.Now()
	if err != nil {
		return out, err
	}
	h.Add(client, Meta{Server: c.base, HTTPStatus: status}, in, call, out, ret)
	return out, nil
}

// CreateStreams creates the basin and the streams.
func (c *Client) CreateStreams(ctx context.Context, streams []string) error {
	status, b, err := c.do(ctx, http.MethodPost, "/v1/basins", nil, map[string]string{"basin": c.basin})
	if err != nil || status != http.StatusCreated {
		return fmt.Errorf("create basin: %d %s %v", status, b, err)
	}
	for _, s := range streams {
		status, b, err := c.do(ctx, http.MethodPost, "/v1/streams", nil, map[string]string{"stream": s})
		if err != nil || status != http.StatusCreated {
			return fmt.Errorf("create stream %s: %d %s %v", s, status, b, err)
		}
	}
	return nil
}

// ReadAll reads a whole stream page by page, recording every page in h
// (the final reads that ResolveUnknown relies on are part of the history).
func (c *Client) ReadAll(ctx context.Context, h *History, client int, stream string) ([]string, error) {
	var recs []string
	for range 1 << 20 { // bounded: a page has at least one record
		in := Input{Stream: stream, Kind: Read, Start: uint64(len(recs))}
		out, err := c.Call(ctx, h, client, in)
		if err != nil {
			return nil, err
		}
		if out.Status == OutOfRange {
			if out.Tail != uint64(len(recs)) {
				return nil, fmt.Errorf("%w: read to the end of %s: 416 with tail %d after %d records", ErrUnexpected, stream, out.Tail, len(recs))
			}
			return recs, nil
		}
		if len(out.Records) == 0 {
			return nil, fmt.Errorf("%w: empty page of %s at %d below the tail", ErrUnexpected, stream, len(recs))
		}
		for _, r := range out.Records {
			if r.Seq != uint64(len(recs)) {
				return nil, fmt.Errorf("%w: %s: record %d where %d was expected", ErrUnexpected, stream, r.Seq, len(recs))
			}
			recs = append(recs, r.Data)
		}
	}
	return nil, fmt.Errorf("%w: %s never ends", ErrUnexpected, stream)
}
