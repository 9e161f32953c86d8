package client

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// CheckTail returns the stream's tail: the next sequence number and the
// timestamp of the last record (API 8.1).
func (s *Stream) CheckTail(ctx context.Context) (Position, error) {
	var t struct {
		Tail Position `json:"tail"`
	}
	err := s.b.c.getJSON(ctx, s.req(http.MethodGet, "/records/tail"), &t)
	return t.Tail, err
}

// Append appends one batch atomically and returns once it is durable (API
// 7.3). A failed condition is an *AppendConditionError.
func (s *Stream) Append(ctx context.Context, in AppendInput) (AppendAck, error) {
	r := s.recordReq(http.MethodPost, "/records")
	r.isAppend = true
	switch s.b.c.cfg.Format {
	case FormatJSON:
		body, err := marshalJSONAppendInput(&in)
		if err != nil {
			return AppendAck{}, err
		}
		r.body, r.ctype, r.accept = body, "application/json", "application/json"
		r.headers = map[string]string{"s2-format": s2FormatBase64}
	default:
		r.body, r.ctype, r.accept = appendProtoInput(nil, &in), "application/protobuf", "application/protobuf"
	}
	resp, err := s.b.c.do(ctx, r)
	if err != nil {
		return AppendAck{}, err
	}
	if s.b.c.cfg.Format == FormatJSON {
		var ack AppendAck
		if err := json.Unmarshal(resp.body, &ack); err != nil {
			return AppendAck{}, fmt.Errorf("decoding AppendAck: %w", err)
		}
		return ack, nil
	}
	return decodeProtoAppendAck(resp.body)
}

// Fence appends a fence command record setting the stream's fencing token;
// fencingToken, when non-nil, must match the current one.
func (s *Stream) Fence(ctx context.Context, newToken string, fencingToken *string, matchSeqNum *uint64) (AppendAck, error) {
	return s.Append(ctx, AppendInput{Records: []AppendRecord{FenceRecord(newToken)}, FencingToken: fencingToken, MatchSeqNum: matchSeqNum})
}

// Trim appends a trim command record: records before trimPoint are
// deleted.
func (s *Stream) Trim(ctx context.Context, trimPoint uint64, fencingToken *string, matchSeqNum *uint64) (AppendAck, error) {
	return s.Append(ctx, AppendInput{Records: []AppendRecord{TrimRecord(trimPoint)}, FencingToken: fencingToken, MatchSeqNum: matchSeqNum})
}

// ReadStart is where a read begins; the zero value starts at the tail.
type ReadStart struct {
	kind  byte // 0 tail, 's' seq_num, 't' timestamp, 'o' tail_offset
	value uint64
}

// FromSeqNum starts at a sequence number.
func FromSeqNum(n uint64) ReadStart { return ReadStart{kind: 's', value: n} }

// FromTimestamp starts at the first record with a timestamp >= ms.
func FromTimestamp(ms uint64) ReadStart { return ReadStart{kind: 't', value: ms} }

// FromTailOffset starts n records before the tail.
func FromTailOffset(n uint64) ReadStart { return ReadStart{kind: 'o', value: n} }

// ReadOptions select the records of a read (API 8.2).
type ReadOptions struct {
	Start ReadStart
	// Clamp starts at the tail instead of failing when Start is beyond it.
	Clamp bool
	// Count and Bytes limit the records (metered bytes); nil means no
	// limit in a session, the server's maximum (1000, 1 MiB) in a unary
	// read.
	Count *uint64
	Bytes *uint64
	// Until stops before the first record with a timestamp >= Until.
	Until *uint64
	// Wait is how long to wait for new records: for a unary read, for
	// the first one (at most 60 s); for a session, between batches. Nil
	// means the API's default (a session without limits follows forever).
	Wait *time.Duration
}

func (o *ReadOptions) query() url.Values {
	q := url.Values{}
	switch o.Start.kind {
	case 's':
		q.Set("seq_num", strconv.FormatUint(o.Start.value, 10))
	case 't':
		q.Set("timestamp", strconv.FormatUint(o.Start.value, 10))
	case 'o':
		q.Set("tail_offset", strconv.FormatUint(o.Start.value, 10))
	}
	if o.Clamp {
		q.Set("clamp", "true")
	}
	if o.Count != nil {
		q.Set("count", strconv.FormatUint(*o.Count, 10))
	}
	if o.Bytes != nil {
		q.Set("bytes", strconv.FormatUint(*o.Bytes, 10))
	}
	if o.Until != nil {
		q.Set("until", strconv.FormatUint(*o.Until, 10))
	}
	if o.Wait != nil {
		q.Set("wait", strconv.FormatInt(int64(o.Wait.Round(time.Second)/time.Second), 10))
	}
	return q
}

// Read is a unary read: one batch of at most 1000 records and 1 MiB
// (API 8.6). A start beyond the tail is a *RangeNotSatisfiableError.
func (s *Stream) Read(ctx context.Context, o ReadOptions) (ReadBatch, error) {
	r := s.recordReq(http.MethodGet, "/records")
	r.query = o.query()
	if o.Wait != nil {
		// A long poll must outlive the per-attempt timeout.
		ctx = withLongPoll(ctx)
	}
	if s.b.c.cfg.Format == FormatJSON {
		r.accept = "application/json"
		r.headers = map[string]string{"s2-format": s2FormatBase64}
		resp, err := s.b.c.do(ctx, r)
		if err != nil {
			return ReadBatch{}, err
		}
		return unmarshalJSONReadBatch(resp.body)
	}
	r.accept = "application/protobuf"
	resp, err := s.b.c.do(ctx, r)
	if err != nil {
		return ReadBatch{}, err
	}
	return decodeProtoReadBatch(resp.body)
}

type longPollKey struct{}

// maxWait is the longest wait a server allows a unary read (API 2.4).
const maxWait = 60 * time.Second

func withLongPoll(ctx context.Context) context.Context {
	return context.WithValue(ctx, longPollKey{}, true)
}
