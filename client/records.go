package client

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// Header is a record header: an ordered (name, value) pair of bytes.
type Header struct {
	Name  []byte
	Value []byte
}

// AppendRecord is a record to append (API 7.1). Timestamp is optional: the
// server assigns one per the stream's timestamping mode.
type AppendRecord struct {
	Timestamp *uint64
	Headers   []Header
	Body      []byte
}

// AppendInput is one batch to append atomically: 1 to 1000 records of at
// most 1 MiB metered in all (API 2.4), with optional conditions.
type AppendInput struct {
	Records []AppendRecord
	// MatchSeqNum, when set, makes the append fail with an
	// AppendConditionError unless the batch's first record would get
	// exactly this sequence number.
	MatchSeqNum *uint64
	// FencingToken, when set, makes the append fail unless it equals the
	// stream's current fencing token.
	FencingToken *string
}

// AppendAck is the acknowledgement of a durable append (API 7.3): Start is
// the first record's position, End.SeqNum is one past the last record, and
// Tail is the stream's tail when the ack was released.
type AppendAck struct {
	Start Position `json:"start"`
	End   Position `json:"end"`
	Tail  Position `json:"tail"`
}

// SequencedRecord is a record read from a stream.
type SequencedRecord struct {
	SeqNum    uint64
	Timestamp uint64
	Headers   []Header
	Body      []byte
}

// ReadBatch is a batch of records read. In a session, a batch with no
// records and a Tail is a heartbeat; Tail is set on batches of live
// (followed) records and nil on catch-up batches.
type ReadBatch struct {
	Records []SequencedRecord
	Tail    *Position
}

// Command records (API 7.1) carry one header with an empty name whose
// value names the command.
const (
	CommandFence = "fence"
	CommandTrim  = "trim"
)

// FenceRecord returns a command record that sets the stream's fencing
// token (at most 36 bytes; empty clears it).
func FenceRecord(token string) AppendRecord {
	return AppendRecord{Headers: []Header{{Name: []byte{}, Value: []byte(CommandFence)}}, Body: []byte(token)}
}

// TrimRecord returns a command record that trims every record before
// seqNum.
func TrimRecord(seqNum uint64) AppendRecord {
	return AppendRecord{Headers: []Header{{Name: []byte{}, Value: []byte(CommandTrim)}}, Body: binary.BigEndian.AppendUint64(nil, seqNum)}
}

// Command returns the command a record carries ("fence", "trim" or
// another value), or "" for an ordinary (envelope) record.
func (r *SequencedRecord) Command() string {
	if len(r.Headers) == 1 && len(r.Headers[0].Name) == 0 {
		return string(r.Headers[0].Value)
	}
	return ""
}

// TrimPoint decodes the body of a trim command record.
func (r *SequencedRecord) TrimPoint() (uint64, error) {
	if r.Command() != CommandTrim || len(r.Body) != 8 {
		return 0, errors.New("not a trim command record")
	}
	return binary.BigEndian.Uint64(r.Body), nil
}

// MeteredSize is a record's size as the API counts it for limits (API 2.5).
func MeteredSize(headers []Header, body []byte) int64 {
	n := int64(8 + 2*len(headers) + len(body))
	for _, h := range headers {
		n += int64(len(h.Name) + len(h.Value))
	}
	return n
}

// MeteredSize is the record's metered size (API 2.5).
func (r *AppendRecord) MeteredSize() int64 { return MeteredSize(r.Headers, r.Body) }

// MeteredSize is the record's metered size (API 2.5).
func (r *SequencedRecord) MeteredSize() int64 { return MeteredSize(r.Headers, r.Body) }

// Batch limits of an AppendInput (API 2.4).
const (
	MaxBatchRecords = 1000
	MaxBatchBytes   = 1 << 20
)

// Validate checks an input against the batch limits, so that a caller
// learns of an oversized batch before sending it.
func (in *AppendInput) Validate() error {
	if len(in.Records) == 0 {
		return errors.New("append: empty batch")
	}
	if len(in.Records) > MaxBatchRecords {
		return fmt.Errorf("append: %d records in a batch, at most %d", len(in.Records), MaxBatchRecords)
	}
	if n := in.meteredSize(); n > MaxBatchBytes {
		return fmt.Errorf("append: batch of %d metered bytes, at most %d", n, MaxBatchBytes)
	}
	return nil
}

// meteredSize of the whole input.
func (in *AppendInput) meteredSize() int64 {
	var n int64
	for i := range in.Records {
		n += in.Records[i].MeteredSize()
	}
	return n
}
