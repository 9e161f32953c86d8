package server

import (
	"encoding/base64"
	"strconv"
	"unicode/utf8"

	"github.com/s2lite/s2lite/stream"
)

// appendReadBatchJSON appends a read batch as the JSON of the unary read
// response and the SSE batch event, exactly as encoding/json renders
// jsonReadBatch with HTML escaping off (a test holds it to that), without
// reflection or an intermediate string per record: a 1 MiB batch is one
// pass over its bytes.
func appendReadBatchJSON(b []byte, rb stream.ReadBatch, f recordFormat) []byte {
	b = append(b, `{"records":[`...)
	for i, r := range rb.Records {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"seq_num":`...)
		b = strconv.AppendUint(b, r.SeqNum, 10)
		b = append(b, `,"timestamp":`...)
		b = strconv.AppendUint(b, r.Timestamp, 10)
		if len(r.Headers) > 0 {
			b = append(b, `,"headers":[`...)
			for j, h := range r.Headers {
				if j > 0 {
					b = append(b, ',')
				}
				b = append(b, '[')
				b = appendFormattedJSON(b, h.Name, f)
				b = append(b, ',')
				b = appendFormattedJSON(b, h.Value, f)
				b = append(b, ']')
			}
			b = append(b, ']')
		}
		if len(r.Body) > 0 { // an empty body is omitted, as omitempty does
			b = append(b, `,"body":`...)
			b = appendFormattedJSON(b, r.Body, f)
		}
		b = append(b, '}')
	}
	b = append(b, ']')
	if rb.Tail != nil {
		b = append(b, `,"tail":{"seq_num":`...)
		b = strconv.AppendUint(b, rb.Tail.SeqNum, 10)
		b = append(b, `,"timestamp":`...)
		b = strconv.AppendUint(b, rb.Tail.Timestamp, 10)
		b = append(b, '}')
	}
	return append(b, '}')
}

// appendFormattedJSON appends p as a JSON string in format f: base64, whose
// alphabet needs no escaping, or raw text with each run of invalid UTF-8
// replaced by one U+FFFD, as recordFormat.encode does.
func appendFormattedJSON(b, p []byte, f recordFormat) []byte {
	b = append(b, '"')
	if f == formatBase64 {
		b = base64.StdEncoding.AppendEncode(b, p)
		return append(b, '"')
	}
	const hex = "0123456789abcdef"
	invalid := false // the previous byte was part of an invalid run
	for i := 0; i < len(p); {
		c := p[i]
		if c < utf8.RuneSelf {
			invalid = false
			i++
			switch {
			case c == '"' || c == '\\':
				b = append(b, '\\', c)
			case c >= 0x20:
				b = append(b, c)
			case c == '\n':
				b = append(b, '\\', 'n')
			case c == '\r':
				b = append(b, '\\', 'r')
			case c == '\t':
				b = append(b, '\\', 't')
			case c == '\b':
				b = append(b, '\\', 'b')
			case c == '\f':
				b = append(b, '\\', 'f')
			default:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			}
			continue
		}
		r, size := utf8.DecodeRune(p[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			if !invalid {
				b = append(b, "\uFFFD"...)
			}
			invalid = true
		case r == '\u2028' || r == '\u2029':
			// Valid JSON, but not valid JavaScript: encoding/json escapes them.
			invalid = false
			b = append(b, '\\', 'u', '2', '0', '2', hex[r&0xf])
		default:
			invalid = false
			b = append(b, p[i:i+size]...)
		}
		i += size
	}
	return append(b, '"')
}

// jsonBatchRecordOverhead bounds what appendReadBatchJSON writes around a
// record's strings: field names, two 20-digit numbers, punctuation.
const jsonBatchRecordOverhead = 96

// jsonReadBatchBound is an upper bound of len(appendReadBatchJSON(nil, rb, f)),
// so that the buffer can be drawn from the memory budget before encoding.
func jsonReadBatchBound(rb stream.ReadBatch, f recordFormat) int {
	n := 128 // the envelope and the tail
	for _, r := range rb.Records {
		n += jsonBatchRecordOverhead + jsonStringBound(r.Body, f)
		for _, h := range r.Headers {
			n += 4 + jsonStringBound(h.Name, f) + jsonStringBound(h.Value, f)
		}
	}
	return n
}

// jsonEscapedLen is how long each ASCII byte is in a JSON string; bytes
// from 0x80 up are counted as 3, which bounds both a replacement character
// for an invalid byte and an escaped U+2028/U+2029 (6 bytes for 3).
var jsonEscapedLen = func() (t [256]uint8) {
	for c := range 256 {
		switch {
		case c >= utf8.RuneSelf:
			t[c] = 3
		case c == '"' || c == '\\' || c == '\n' || c == '\r' || c == '\t' || c == '\b' || c == '\f':
			t[c] = 2
		case c < 0x20:
			t[c] = 6
		default:
			t[c] = 1
		}
	}
	return t
}()

// jsonStringBound bounds the length of appendFormattedJSON(nil, p, f).
func jsonStringBound(p []byte, f recordFormat) int {
	if f == formatBase64 {
		return 2 + base64.StdEncoding.EncodedLen(len(p))
	}
	n := 2
	for _, c := range p {
		n += int(jsonEscapedLen[c])
	}
	return n
}
