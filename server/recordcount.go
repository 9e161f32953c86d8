package server

import (
	"bytes"
	"io"

	"github.com/s2lite/s2lite/stream"
)

// Counting records as a body arrives, before it is whole (limits before
// work): a few KiB of gzip can inflate to 16 MiB of empty records, and
// reading all of it only to refuse the batch costs tens of milliseconds of
// CPU per request; counted as it inflates, the body is refused at the
// first record past the batch limit. The counters only count: a body they
// cannot follow (malformed) is left for the decoder to report.

// recordCounter reads through to r and fails with the batch limit's error
// once it has seen more records than a batch may hold.
type recordCounter struct {
	r     io.Reader
	count func(p []byte) int // records seen in p, given what came before
	seen  int
}

func (c *recordCounter) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	if n > 0 {
		c.seen += c.count(p[:n])
		if c.seen > stream.MaxBatchRecords {
			return n, batchLimitError(c.seen, 0)
		}
	}
	return n, err
}

// protoRecords follows the top level of a protobuf AppendInput and counts
// field 1 (records).
type protoRecords struct {
	state   int // 0: tag, 1: length, 2: skip, 3: varint value, 4: lost
	varint  uint64
	shift   uint
	field   uint64
	skip    uint64
	records int
}

func (s *protoRecords) count(p []byte) int {
	before := s.records
	for i := 0; i < len(p) && s.state != 4; {
		switch s.state {
		case 2:
			k := min(uint64(len(p)-i), s.skip)
			i += int(k)
			if s.skip -= k; s.skip == 0 {
				s.state = 0
			}
			continue
		}
		b := p[i]
		i++
		if s.shift >= 64 {
			s.state = 4
			break
		}
		s.varint |= uint64(b&0x7f) << s.shift
		s.shift += 7
		if b&0x80 != 0 {
			continue
		}
		v := s.varint
		s.varint, s.shift = 0, 0
		switch s.state {
		case 0: // a tag
			s.field = v >> 3
			switch v & 7 {
			case 0:
				s.state = 3
			case 2:
				s.state = 1
			default:
				s.state = 4 // not an AppendInput field: the decoder says so
			}
		case 1: // a length
			if s.field == 1 {
				s.records++
			}
			if s.skip, s.state = v, 2; v == 0 {
				s.state = 0
			}
		case 3: // a varint value
			s.state = 0
		}
	}
	return s.records - before
}

// jsonRecords counts the objects opened two levels deep in JSON text: in
// an AppendInput those are the elements of "records" (the only array at
// the top level whose elements are objects); headers are deeper.
type jsonRecords struct {
	depth    int
	inString bool
	// slashes is the number of backslashes just before the current
	// position inside a string (carried across reads).
	slashes int
}

func (s *jsonRecords) count(p []byte) int {
	n := 0
	for i := 0; i < len(p); {
		if s.inString {
			// Most of a body is string content: jump to the next quote
			// (IndexByte is vectorized) and decide from the backslashes
			// before it whether it ends the string.
			j := bytes.IndexByte(p[i:], '"')
			if j < 0 {
				s.slashes = trailingSlashes(p[i:], s.slashes)
				return n
			}
			escaped := trailingSlashes(p[i:i+j], s.slashes)%2 == 1
			s.slashes = 0
			i += j + 1
			if !escaped {
				s.inString = false
			}
			continue
		}
		switch c := p[i]; c {
		case '"':
			s.inString, s.slashes = true, 0
		case '{', '[':
			if c == '{' && s.depth == 2 {
				n++
			}
			s.depth++
		case '}', ']':
			s.depth--
		}
		i++
	}
	return n
}

// trailingSlashes is the number of backslashes that end p, continuing
// carried when p is all backslashes.
func trailingSlashes(p []byte, carried int) int {
	k := 0
	for k < len(p) && p[len(p)-1-k] == '\\' {
		k++
	}
	if k == len(p) {
		return carried + k
	}
	return k
}

// countRecords wraps a unary append body of media type ct in the counter
// of its encoding.
func countRecords(r io.Reader, protobuf bool) io.Reader {
	if protobuf {
		return &recordCounter{r: r, count: new(protoRecords).count}
	}
	return &recordCounter{r: r, count: new(jsonRecords).count}
}
