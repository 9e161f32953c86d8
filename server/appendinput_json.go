package server

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"strconv"
	"unicode/utf8"

	"github.com/s2lite/s2lite/stream"
)

// scanAppendInputJSON is the fast path of decodeAppendInputJSON: one pass
// over an AppendInput JSON body of the usual shape, with record bodies and
// headers taken straight from data when they need no unescaping (raw
// format). The general path runs encoding/json several times over the body
// (the object, the records array, each record, each string), which made a
// 1 MiB append spend most of its time in JSON.
//
// It accepts a strict subset of what the general path accepts and returns
// ok false on anything else: unknown or repeated keys, an unusual value
// type, a number that is not a plain u64, invalid base64, malformed JSON.
// The caller then runs the general path, which gives the same result or
// the exact error. So for every input on which ok is true, the result must
// equal the general path's; FuzzAppendInputJSON holds it to that.
//
// Values alias data where possible; the stream package copies what it
// keeps, and data is not reused.
func scanAppendInputJSON(data []byte, f recordFormat) (in stream.AppendInput, ok bool) {
	in, ok, _ = scanAppendInputJSONLimited(data, f)
	return in, ok
}

// scanAppendInputJSONLimited is scanAppendInputJSON that stops at the
// first record past the batch limits and says so (overLimit), rather than
// decoding the rest.
func scanAppendInputJSONLimited(data []byte, f recordFormat) (in stream.AppendInput, ok bool, overLimit error) {
	s := jsonScanner{data: data}
	var sawRecords bool
	var metered uint64
	ok = s.object(func(key []byte) bool {
		switch string(key) {
		case "records":
			if s.null() {
				return false
			}
			sawRecords = true
			return s.array(func() bool {
				if overLimit = batchLimitError(len(in.Records)+1, metered); overLimit != nil {
					return false
				}
				r, ok := s.appendRecord(f)
				if overLimit = recordLimitError(r); overLimit != nil {
					return false
				}
				metered += r.MeteredBytes()
				if overLimit = batchLimitError(len(in.Records)+1, metered); overLimit != nil {
					return false
				}
				in.Records = append(in.Records, r)
				return ok
			})
		case "match_seq_num":
			var ok bool
			in.MatchSeqNum, ok = s.optU64()
			return ok
		case "fencing_token":
			v, present, ok := s.optStr()
			if present {
				t := string(v)
				in.FencingToken = &t
			}
			return ok
		}
		return false
	})
	if overLimit != nil {
		return stream.AppendInput{}, false, overLimit
	}
	if !ok || !sawRecords || !s.end() {
		return stream.AppendInput{}, false, nil
	}
	if in.Records == nil {
		in.Records = []stream.AppendRecord{}
	}
	return in, true, nil
}

func (s *jsonScanner) appendRecord(f recordFormat) (r stream.AppendRecord, ok bool) {
	r.Body = []byte{}
	ok = s.object(func(key []byte) bool {
		switch string(key) {
		case "timestamp":
			var ok bool
			r.Timestamp, ok = s.optU64()
			return ok
		case "headers":
			if s.null() {
				return true
			}
			return s.array(func() bool {
				var pair [2][]byte
				n := 0
				ok := s.array(func() bool {
					if n == 2 {
						return false
					}
					v, ok := s.str()
					if ok {
						pair[n], ok = f.decodeBytes(v)
					}
					n++
					return ok
				})
				r.Headers = append(r.Headers, stream.Header{Name: pair[0], Value: pair[1]})
				return ok && n == 2
			})
		case "body":
			v, present, ok := s.optStr()
			if present {
				r.Body, ok = f.decodeBytes(v)
			}
			return ok
		}
		return false
	})
	return r, ok
}

// decodeBytes is decode for a string already unescaped into b; the result
// may alias b.
func (f recordFormat) decodeBytes(b []byte) ([]byte, bool) {
	if f != formatBase64 {
		return b, true
	}
	out := make([]byte, base64.StdEncoding.DecodedLen(len(b)))
	n, err := base64.StdEncoding.Decode(out, b)
	return out[:n], err == nil
}

// jsonScanner reads JSON tokens from data in order. Every method returns
// false on anything it does not expect, leaving the scanner in an
// unspecified state.
type jsonScanner struct {
	data []byte
	pos  int
}

func (s *jsonScanner) skipSpace() {
	for s.pos < len(s.data) {
		switch s.data[s.pos] {
		case ' ', '\t', '\n', '\r':
			s.pos++
		default:
			return
		}
	}
}

// consume skips space and then c, if c is next.
func (s *jsonScanner) consume(c byte) bool {
	s.skipSpace()
	if s.pos < len(s.data) && s.data[s.pos] == c {
		s.pos++
		return true
	}
	return false
}

// end says whether only space is left.
func (s *jsonScanner) end() bool {
	s.skipSpace()
	return s.pos == len(s.data)
}

// null consumes a null literal if one is next.
func (s *jsonScanner) null() bool {
	s.skipSpace()
	if bytes.HasPrefix(s.data[s.pos:], []byte("null")) && s.delimited(s.pos+4) {
		s.pos += 4
		return true
	}
	return false
}

// delimited says whether a literal ending at i ends there (JSON has no
// literal such as "nullx" or "12a").
func (s *jsonScanner) delimited(i int) bool {
	if i == len(s.data) {
		return true
	}
	switch s.data[i] {
	case ' ', '\t', '\n', '\r', ',', '}', ']':
		return true
	}
	return false
}

// object reads an object, calling field with each key once the scanner is
// at its value; field must consume the value. A repeated key, or more than
// maxObjectKeys keys, is refused (no AppendInput object has more).
func (s *jsonScanner) object(field func(key []byte) bool) bool {
	if !s.consume('{') {
		return false
	}
	if s.consume('}') {
		return true
	}
	var seen [maxObjectKeys][]byte
	n := 0
	for {
		key, ok := s.str()
		if !ok || n == maxObjectKeys {
			return false
		}
		for _, k := range seen[:n] {
			if bytes.Equal(k, key) {
				return false
			}
		}
		seen[n] = key
		n++
		if !s.consume(':') || !field(key) {
			return false
		}
		if s.consume(',') {
			continue
		}
		return s.consume('}')
	}
}

const maxObjectKeys = 3

// array reads an array, calling elem at each element; elem must consume it.
func (s *jsonScanner) array(elem func() bool) bool {
	if !s.consume('[') {
		return false
	}
	if s.consume(']') {
		return true
	}
	for {
		if !elem() {
			return false
		}
		if s.consume(',') {
			continue
		}
		return s.consume(']')
	}
}

// str reads a string. Plain strings (no escapes, valid UTF-8) are returned
// as a slice of data; others are unescaped by encoding/json, so that escapes,
// surrogates and invalid UTF-8 come out exactly as the general path has them.
func (s *jsonScanner) str() ([]byte, bool) {
	if !s.consume('"') {
		return nil, false
	}
	start := s.pos
	plain := true
	for s.pos < len(s.data) {
		c := s.data[s.pos]
		switch {
		case c == '"':
			v := s.data[start:s.pos]
			s.pos++
			if plain && utf8.Valid(v) {
				return v, true
			}
			var out string
			if err := json.Unmarshal(s.data[start-1:s.pos], &out); err != nil {
				return nil, false
			}
			return []byte(out), true
		case c == '\\':
			plain = false
			s.pos += 2 // the escaped character cannot end the string
		case c < 0x20:
			return nil, false
		default:
			s.pos++
		}
	}
	return nil, false
}

// optStr reads null (present false) or a string, as str does.
func (s *jsonScanner) optStr() (v []byte, present, ok bool) {
	if s.null() {
		return nil, false, true
	}
	v, ok = s.str()
	return v, ok, ok
}

// optU64 reads null (nil) or a u64 written as plain digits.
func (s *jsonScanner) optU64() (*uint64, bool) {
	if s.null() {
		return nil, true
	}
	start := s.pos
	for s.pos < len(s.data) && s.data[s.pos] >= '0' && s.data[s.pos] <= '9' {
		s.pos++
	}
	digits := s.data[start:s.pos]
	if len(digits) == 0 || (digits[0] == '0' && len(digits) > 1) || !s.delimited(s.pos) {
		return nil, false
	}
	v, err := strconv.ParseUint(string(digits), 10, 64)
	if err != nil {
		return nil, false
	}
	return &v, true
}
