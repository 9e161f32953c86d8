package server

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"

	"github.com/s2lite/s2lite/stream"
)

// JSON records (API 7.2): strings map to bytes as UTF-8 (raw) or standard
// padded base64, per the s2-format header.

// marshalJSON is json.Marshal without HTML escaping: record bodies are
// data, and escaping <, > and & only makes them longer.
func marshalJSON(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

func (f recordFormat) decode(s string) ([]byte, bool) {
	if f == formatBase64 {
		b, err := base64.StdEncoding.DecodeString(s)
		return b, err == nil
	}
	return []byte(s), true
}

func (f recordFormat) encode(b []byte) string {
	if f == formatBase64 {
		return base64.StdEncoding.EncodeToString(b)
	}
	return strings.ToValidUTF8(string(b), "\uFFFD")
}

// jsonAppendRecord is one decoded record before its strings become bytes.
type jsonAppendRecord struct {
	timestamp *uint64
	headers   [][]string
	body      string
}

// decodeAppendInputJSON decodes an AppendInput JSON body. Shape problems
// are 400 bad_json; undecodable base64 is 422 invalid (API 7.2).
func decodeAppendInputJSON(data []byte, f recordFormat) (stream.AppendInput, *apiError) {
	in, ok, overLimit := scanAppendInputJSONLimited(data, f)
	if overLimit != nil {
		return in, invalid("%s", overLimit.Error())
	}
	if !ok {
		return parseAppendInputJSONSlow(data, f)
	}
	if err := checkFencingTokenJSON(in.FencingToken); err != nil {
		return in, err
	}
	return in, nil
}

func checkFencingTokenJSON(token *string) *apiError {
	if token != nil && len(*token) > 36 {
		return badJSON("Failed to deserialize the JSON body into the target type: fencing_token: fencing token must not exceed 36 bytes in length")
	}
	return nil
}

// parseAppendInputJSONSlow is the general path of decodeAppendInputJSON,
// through encoding/json: it takes every shape the API allows and gives the
// exact error for the rest.
func parseAppendInputJSONSlow(data []byte, f recordFormat) (stream.AppendInput, *apiError) {
	var in stream.AppendInput
	recs, err := parseAppendInputJSON(data, &in)
	var limit *errBatchLimit
	if errors.As(err, &limit) {
		return in, invalid("%s", limit.msg)
	}
	if err != nil {
		return in, badJSON("Failed to deserialize the JSON body into the target type: %v", err)
	}
	if err := checkFencingTokenJSON(in.FencingToken); err != nil {
		return in, err
	}
	in.Records = make([]stream.AppendRecord, len(recs))
	for i, r := range recs {
		out := stream.AppendRecord{Timestamp: r.timestamp}
		if len(r.headers) > 0 {
			out.Headers = make([]stream.Header, len(r.headers))
			for j, h := range r.headers {
				name, ok1 := f.decode(h[0])
				value, ok2 := f.decode(h[1])
				if !ok1 || !ok2 {
					return in, invalid("invalid Base64 encoding")
				}
				out.Headers[j] = stream.Header{Name: name, Value: value}
			}
		}
		body, ok := f.decode(r.body)
		if !ok {
			return in, invalid("invalid Base64 encoding")
		}
		out.Body = body
		in.Records[i] = out
	}
	return in, nil
}

func parseAppendInputJSON(data []byte, in *stream.AppendInput) ([]jsonAppendRecord, error) {
	obj, err := parseObject("", data)
	if err != nil {
		return nil, err
	}
	rawRecords, ok := obj["records"]
	if !ok {
		return nil, fieldErrorf("", "missing field `records`")
	}
	if isNull(rawRecords) {
		return nil, fieldErrorf("records", "invalid type: null, expected a sequence")
	}
	recs, err := parseRecordsJSON(rawRecords)
	if err != nil {
		return nil, err
	}
	if in.MatchSeqNum, err = obj.optU64("", "match_seq_num"); err != nil {
		return nil, err
	}
	if in.FencingToken, err = obj.optString("", "fencing_token"); err != nil {
		return nil, err
	}
	return recs, nil
}

// parseRecordsJSON parses the records array one element at a time and
// stops at the first record past the batch limit, so that a body of
// millions of records costs no more than the limit's worth of work.
func parseRecordsJSON(raw json.RawMessage) ([]jsonAppendRecord, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('[') {
		// Not an array: the general decoder words the error.
		var items []json.RawMessage
		if err := decodeValue("records", raw, &items); err != nil {
			return nil, err
		}
		return nil, fieldErrorf("records", "invalid type, expected a sequence")
	}
	var recs []jsonAppendRecord
	for dec.More() {
		if len(recs) == stream.MaxBatchRecords {
			return nil, batchLimitError(len(recs)+1, 0)
		}
		var item json.RawMessage
		if err := dec.Decode(&item); err != nil {
			return nil, fieldErrorf("records", "%v", err)
		}
		r, err := parseAppendRecordJSON("records[]", item)
		if err != nil {
			return nil, err
		}
		recs = append(recs, r)
	}
	return recs, nil
}

func parseAppendRecordJSON(path string, raw json.RawMessage) (jsonAppendRecord, error) {
	var r jsonAppendRecord
	obj, err := parseObject(path, raw)
	if err != nil {
		return r, err
	}
	if r.timestamp, err = obj.optU64(path, "timestamp"); err != nil {
		return r, err
	}
	if raw, ok := obj.get("headers"); ok {
		if err := decodeValue(joinPath(path, "headers"), raw, &r.headers); err != nil {
			return r, err
		}
		for _, h := range r.headers {
			if len(h) != 2 {
				return r, fieldErrorf(joinPath(path, "headers"), "invalid length %d, expected a [name, value] pair", len(h))
			}
		}
	}
	if b, err := obj.optString(path, "body"); err != nil {
		return r, err
	} else if b != nil {
		r.body = *b
	}
	return r, nil
}

type jsonSequencedRecord struct {
	SeqNum    uint64      `json:"seq_num"`
	Timestamp uint64      `json:"timestamp"`
	Headers   [][2]string `json:"headers,omitempty"`
	Body      string      `json:"body,omitempty"`
}

// jsonReadBatch is the unary read response and the SSE batch payload.
// Records is never null; Tail only appears for live batches.
type jsonReadBatch struct {
	Records []jsonSequencedRecord `json:"records"`
	Tail    *jsonPosition         `json:"tail,omitempty"`
}
