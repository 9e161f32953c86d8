package client

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
)

// JSON bodies of records use "s2-format: base64" (API 7.2): header names,
// values and bodies travel as standard base64, so every byte survives.
const s2FormatBase64 = "base64"

type jsonAppendRecord struct {
	Timestamp *uint64     `json:"timestamp,omitempty"`
	Headers   [][2]string `json:"headers,omitempty"`
	Body      string      `json:"body,omitempty"`
}

type jsonAppendInput struct {
	Records      []jsonAppendRecord `json:"records"`
	MatchSeqNum  *uint64            `json:"match_seq_num,omitempty"`
	FencingToken *string            `json:"fencing_token,omitempty"`
}

func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

func marshalJSONAppendInput(in *AppendInput) ([]byte, error) {
	j := jsonAppendInput{Records: make([]jsonAppendRecord, len(in.Records)), MatchSeqNum: in.MatchSeqNum, FencingToken: in.FencingToken}
	for i, r := range in.Records {
		jr := jsonAppendRecord{Timestamp: r.Timestamp, Body: b64(r.Body)}
		for _, h := range r.Headers {
			jr.Headers = append(jr.Headers, [2]string{b64(h.Name), b64(h.Value)})
		}
		j.Records[i] = jr
	}
	return json.Marshal(j)
}

type jsonSequencedRecord struct {
	SeqNum    uint64      `json:"seq_num"`
	Timestamp uint64      `json:"timestamp"`
	Headers   [][2]string `json:"headers"`
	Body      string      `json:"body"`
}

type jsonReadBatch struct {
	Records []jsonSequencedRecord `json:"records"`
	Tail    *Position             `json:"tail"`
}

// unmarshalJSONReadBatch decodes a ReadBatch answered in base64 format.
func unmarshalJSONReadBatch(data []byte) (ReadBatch, error) {
	var j jsonReadBatch
	if err := json.Unmarshal(data, &j); err != nil {
		return ReadBatch{}, fmt.Errorf("decoding read batch: %w", err)
	}
	rb := ReadBatch{Tail: j.Tail, Records: make([]SequencedRecord, len(j.Records))}
	for i, jr := range j.Records {
		r := SequencedRecord{SeqNum: jr.SeqNum, Timestamp: jr.Timestamp}
		var err error
		if r.Body, err = base64.StdEncoding.DecodeString(jr.Body); err != nil {
			return ReadBatch{}, fmt.Errorf("decoding record %d body: %w", jr.SeqNum, err)
		}
		for _, h := range jr.Headers {
			n, err1 := base64.StdEncoding.DecodeString(h[0])
			v, err2 := base64.StdEncoding.DecodeString(h[1])
			if err1 != nil || err2 != nil {
				return ReadBatch{}, fmt.Errorf("decoding record %d header: bad base64", jr.SeqNum)
			}
			r.Headers = append(r.Headers, Header{Name: n, Value: v})
		}
		rb.Records[i] = r
	}
	return rb, nil
}
