// Package lincheck checks that s2lite's record API is linearizable: clients
// append (plain, with match_seq_num, with fencing_token, fence commands),
// read and check the tail of a few streams concurrently against a server on
// loopback; every call is recorded with its call and return times, and the
// history is checked with porcupine against a sequential model of one
// stream. The tests also run the workload while WAL writes fail, and with a
// second server taking over the same storage.
//
// The model (step) is one stream: its records and fencing token. An
// append succeeds iff its fencing_token (if any) equals the token and then
// its match_seq_num (if any) equals the tail; it is acknowledged at
// [tail, tail+n) and a fence record in it sets the token for later
// batches. A failed condition is a 412 naming the current token or tail
// and changes nothing. A unary read from s below the tail returns exactly
// the records [s, min(s+count, tail)); at or past the tail it is a 416
// with the tail. Check-tail returns the tail. An append whose outcome is
// unknown (no answer, 408, 5xx) has an infinite return time, so it may
// take effect anywhere after its call, or never.
//
// Environment: S2LITE_LINCHECK_LONG=1 runs longer histories and more
// rounds (make lincheck), S2LITE_LINCHECK_SEED=N replays a round's random
// choices, S2LITE_LINCHECK_KNOWN_BUGS=1 runs the reproductions of open
// issues (knownissues_test.go).
package lincheck

import (
	"fmt"
	"hash/maphash"
	"slices"
	"strings"

	"github.com/anishathalye/porcupine"
)

// Kind is the operation of an Input.
type Kind uint8

const (
	Append Kind = iota
	Read
	CheckTail
)

// fencePrefix marks the model form of a fence command record. Bodies of
// ordinary records never contain a NUL byte, so the two cannot collide.
const fencePrefix = "\x00fence\x00"

// FenceRecord is the model form of a fence command record setting token.
func FenceRecord(token string) string { return fencePrefix + token }

// fenceToken reports whether rec is a fence command and the token it sets.
func fenceToken(rec string) (string, bool) {
	return strings.CutPrefix(rec, fencePrefix)
}

// Input is one call on one stream.
type Input struct {
	Stream string
	Kind   Kind

	// Append: the records in model form (a body, or FenceRecord(token)).
	Records  []string
	HasMatch bool
	Match    uint64 // match_seq_num
	HasToken bool
	Token    string // fencing_token

	// Read: start at seq_num Start, at most Count records (0: the unary
	// maximum, 1000).
	Start uint64
	Count uint64
}

// Status classifies an outcome.
type Status uint8

const (
	// OK is a 200.
	OK Status = iota
	// Unknown is an append whose effect is unknown: a timeout, a lost
	// connection or a 5xx. It may or may not have been applied.
	Unknown
	// SeqMismatch is the 412 {"seq_num_mismatch": Expected}.
	SeqMismatch
	// TokenMismatch is the 412 {"fencing_token_mismatch": Token}.
	TokenMismatch
	// OutOfRange is the 416 {"tail": Tail} of a read at or past the tail.
	OutOfRange
)

// Record is one record as read back, in model form.
type Record struct {
	Seq  uint64
	Data string
}

// Output is the result of a call.
type Output struct {
	Status Status
	// Append ack: [Start, End) and the tail when the ack was released.
	Start, End uint64
	// Tail: of an ack, a check-tail or a 416.
	Tail     uint64
	Expected uint64 // SeqMismatch
	Token    string // TokenMismatch
	Records  []Record
}

// unaryMaxRecords is the most records a unary read returns.
const unaryMaxRecords = 1000

// state is the model of one stream: its records and fencing token. Slices
// are shared between states and never written in place (the model must be
// pure), so every append copies.
type state struct {
	records []string
	token   string
	hash    uint64 // chains every record, so Equal rarely compares lists
}

var hashSeed = maphash.MakeSeed()

func (s state) appended(recs []string) state {
	next := state{records: append(slices.Clip(s.records), recs...), token: s.token, hash: s.hash}
	for _, r := range recs {
		var h maphash.Hash
		h.SetSeed(hashSeed)
		var buf [8]byte
		for i := range buf {
			buf[i] = byte(next.hash >> (8 * i))
		}
		h.Write(buf[:])
		h.WriteString(r)
		next.hash = h.Sum64()
		if tok, ok := fenceToken(r); ok {
			// A fence guards later batches only: the batch that carries it
			// was already checked against the old token.
			next.token = tok
		}
	}
	return next
}

// step is the sequential specification of one stream (API 7.4, 8.1, 8.3).
func step(s state, in Input, out Output) (bool, state) {
	tail := uint64(len(s.records))
	switch in.Kind {
	case Append:
		// Conditions in the order of API 7.4: fencing token, then
		// match_seq_num. A failed condition changes nothing.
		if in.HasToken && in.Token != s.token {
			ok := out.Status == Unknown || out.Status == TokenMismatch && out.Token == s.token
			return ok, s
		}
		if in.HasMatch && in.Match != tail {
			ok := out.Status == Unknown || out.Status == SeqMismatch && out.Expected == tail
			return ok, s
		}
		switch out.Status {
		case Unknown:
			// The caller gives unknown outcomes an infinite return time,
			// so "not applied" is the linearization that puts this
			// operation after every other one.
			return true, s.appended(in.Records)
		case OK:
			n := uint64(len(in.Records))
			ok := out.Start == tail && out.End == tail+n && out.Tail >= out.End
			return ok, s.appended(in.Records)
		}
		return false, s
	case Read:
		if in.Start >= tail {
			// A unary read without wait at or past the tail is a 416.
			return out.Status == OutOfRange && out.Tail == tail, s
		}
		if out.Status != OK {
			return false, s
		}
		count := in.Count
		if count == 0 || count > unaryMaxRecords {
			count = unaryMaxRecords
		}
		end := min(in.Start+count, tail)
		if uint64(len(out.Records)) != end-in.Start {
			return false, s
		}
		for i, r := range out.Records {
			seq := in.Start + uint64(i)
			if r.Seq != seq || r.Data != s.records[seq] {
				return false, s
			}
		}
		return true, s
	case CheckTail:
		return out.Status == OK && out.Tail == tail, s
	}
	return false, s
}

// Model is the porcupine model of the record API: histories are
// partitioned by stream, and each stream is checked against step.
var Model = porcupine.Model{
	Partition: func(history []porcupine.Operation) [][]porcupine.Operation {
		byStream := map[string][]porcupine.Operation{}
		var order []string
		for _, op := range history {
			name := op.Input.(Input).Stream
			if _, ok := byStream[name]; !ok {
				order = append(order, name)
			}
			byStream[name] = append(byStream[name], op)
		}
		out := make([][]porcupine.Operation, 0, len(order))
		for _, name := range order {
			out = append(out, byStream[name])
		}
		return out
	},
	Init: func() any { return state{} },
	Step: func(s, in, out any) (bool, any) {
		return step(s.(state), in.(Input), out.(Output))
	},
	Equal: func(a, b any) bool {
		x, y := a.(state), b.(state)
		return x.hash == y.hash && x.token == y.token && slices.Equal(x.records, y.records)
	},
	Hash: func(s any) uint64 { return s.(state).hash },
	DescribeOperation: func(in, out any) string {
		return describe(in.(Input), out.(Output))
	},
	DescribeOperationMetadata: func(m any) string {
		if m == nil {
			return ""
		}
		return fmt.Sprint(m)
	},
	DescribeState: func(s any) string {
		st := s.(state)
		return fmt.Sprintf("tail=%d token=%q", len(st.records), st.token)
	},
}

func describe(in Input, out Output) string {
	var b strings.Builder
	switch in.Kind {
	case Append:
		fmt.Fprintf(&b, "append(%s", strings.Join(readable(in.Records), ","))
		if in.HasMatch {
			fmt.Fprintf(&b, " match=%d", in.Match)
		}
		if in.HasToken {
			fmt.Fprintf(&b, " token=%q", in.Token)
		}
		b.WriteString(")")
	case Read:
		fmt.Fprintf(&b, "read(%d,count=%d)", in.Start, in.Count)
	case CheckTail:
		b.WriteString("tail()")
	}
	b.WriteString(" -> ")
	switch out.Status {
	case OK:
		switch in.Kind {
		case Append:
			fmt.Fprintf(&b, "[%d,%d) tail=%d", out.Start, out.End, out.Tail)
		case Read:
			var recs []string
			for _, r := range out.Records {
				recs = append(recs, fmt.Sprintf("%d:%s", r.Seq, readable([]string{r.Data})[0]))
			}
			fmt.Fprintf(&b, "[%s]", strings.Join(recs, " "))
		case CheckTail:
			fmt.Fprintf(&b, "%d", out.Tail)
		}
	case Unknown:
		b.WriteString("unknown")
	case SeqMismatch:
		fmt.Fprintf(&b, "412 seq_num_mismatch=%d", out.Expected)
	case TokenMismatch:
		fmt.Fprintf(&b, "412 fencing_token_mismatch=%q", out.Token)
	case OutOfRange:
		fmt.Fprintf(&b, "416 tail=%d", out.Tail)
	}
	return b.String()
}

// readable renders fence records as fence(token).
func readable(recs []string) []string {
	out := make([]string, len(recs))
	for i, r := range recs {
		if tok, ok := fenceToken(r); ok {
			out[i] = fmt.Sprintf("fence(%q)", tok)
		} else {
			out[i] = r
		}
	}
	return out
}
