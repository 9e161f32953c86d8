package stream

import (
	"encoding/binary"
	"unicode/utf8"
)

// Record limits and metering (API 2.4, 2.5, 7.1).

const (
	// MaxBatchRecords bounds the records of one append batch and of one
	// read batch.
	MaxBatchRecords = 1000
	// MaxBatchBytes bounds the metered size of one append or read batch.
	MaxBatchBytes = 1 << 20
	// MaxRecordBytes bounds the metered size of one record.
	MaxRecordBytes = 1 << 20
	// maxHeaders bounds the headers of one record (a 24-bit count).
	maxHeaders = 1<<24 - 1
)

// MeteredSize is the metered size of a record: 8 + 2 per header + the
// lengths of header names, header values and the body.
func MeteredSize(headers []Header, body []byte) uint64 {
	n := uint64(8 + 2*len(headers) + len(body))
	for _, h := range headers {
		n += uint64(len(h.Name) + len(h.Value))
	}
	return n
}

// MeteredBytes is the metered size of a sequenced record.
func (r SequencedRecord) MeteredBytes() uint64 { return MeteredSize(r.Headers, r.Body) }

// MeteredBytes is the metered size of a record to append.
func (r AppendRecord) MeteredBytes() uint64 { return MeteredSize(r.Headers, r.Body) }

// commandKind identifies a command record.
type commandKind uint8

const (
	notCommand commandKind = iota
	commandFence
	commandTrim
)

// parsedCommand is a validated command record.
type parsedCommand struct {
	kind      commandKind
	token     string // fence
	trimPoint uint64 // trim
}

// parseCommand classifies a record and validates command payloads.
func parseCommand(r *AppendRecord) (parsedCommand, error) {
	empty := -1
	for i, h := range r.Headers {
		if len(h.Name) == 0 {
			empty = i
			break
		}
	}
	if empty < 0 {
		return parsedCommand{}, nil
	}
	if len(r.Headers) != 1 {
		return parsedCommand{}, invalidf("invalid header: empty name")
	}
	switch string(r.Headers[0].Value) {
	case "fence":
		if !utf8.Valid(r.Body) {
			return parsedCommand{}, invalidf("invalid `fence` command: invalid UTF-8")
		}
		if len(r.Body) > maxFencingToken {
			return parsedCommand{}, invalidf("invalid `fence` command: fencing token must not exceed %d bytes in length", maxFencingToken)
		}
		return parsedCommand{kind: commandFence, token: string(r.Body)}, nil
	case "trim":
		if len(r.Body) != 8 {
			return parsedCommand{}, invalidf("invalid `trim` command: earliest sequence number to trim to was %d bytes, must be 8", len(r.Body))
		}
		return parsedCommand{kind: commandTrim, trimPoint: binary.BigEndian.Uint64(r.Body)}, nil
	}
	return parsedCommand{}, invalidf("unknown command")
}

// validatedInput is an append batch that passed every stateless check.
type validatedInput struct {
	in       AppendInput
	commands []parsedCommand // one per record
	metered  uint64
	// imported, for Service.Import, gives the records' positions.
	imported *importSpec
}

// validateAppendInput applies the stateless rules of API 7.3 and 7.1. The
// stateful ones (fencing, match_seq_num, client-require timestamps) belong
// to the sequencer.
func validateAppendInput(in AppendInput) (*validatedInput, error) {
	if len(in.Records) == 0 {
		return nil, invalidf("record batch must not be empty")
	}
	if len(in.Records) > MaxBatchRecords {
		return nil, invalidf("record batch must not exceed %d records", MaxBatchRecords)
	}
	if in.FencingToken != nil {
		if err := ValidateFencingToken(*in.FencingToken); err != nil {
			return nil, err
		}
	}
	v := &validatedInput{in: in, commands: make([]parsedCommand, len(in.Records))}
	for i := range in.Records {
		r := &in.Records[i]
		if len(r.Headers) > maxHeaders {
			return nil, invalidf("record must not have more than %d headers", maxHeaders)
		}
		size := r.MeteredBytes()
		if size > MaxRecordBytes {
			return nil, invalidf("record must have metered size less than 1 MiB")
		}
		cmd, err := parseCommand(r)
		if err != nil {
			return nil, err
		}
		v.commands[i] = cmd
		v.metered += size
	}
	if v.metered > MaxBatchBytes {
		return nil, invalidf("record batch must not exceed a metered size of 1 MiB")
	}
	return v, nil
}
