package cli

import (
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/s2lite/s2lite/client"
	"github.com/s2lite/s2lite/internal/humandur"
)

// streamConfigValue is the official CLI's serialisation of a stream
// config, for its table.
func streamConfigValue(c *client.StreamConfig) tvalue {
	o := tobject()
	if c == nil {
		c = &client.StreamConfig{}
	}
	o.add("storage_class", optScalar(c.StorageClass))
	switch r := c.RetentionPolicy; {
	case r == nil:
		o.add("retention_policy", tnull())
	case r.Infinite:
		o.add("retention_policy", tscalar("Infinite"))
	default:
		o.add("retention_policy", *tobject().add("Age", tscalar(humandur.Format(r.AgeSecs))))
	}
	if t := c.Timestamping; t != nil {
		ts := tobject().add("timestamping_mode", optScalar(t.Mode))
		if t.Uncapped != nil {
			ts.add("timestamping_uncapped", tscalar(strconv.FormatBool(*t.Uncapped)))
		} else {
			ts.add("timestamping_uncapped", tnull())
		}
		o.add("timestamping", *ts)
	} else {
		o.add("timestamping", tnull())
	}
	if d := c.DeleteOnEmpty; d != nil {
		o.add("delete_on_empty", *tobject().add("delete_on_empty_min_age", tscalar(humandur.Format(d.MinAgeSecs))))
	} else {
		o.add("delete_on_empty", tnull())
	}
	return *o
}

// basinConfigValue is the official CLI's serialisation of a basin config.
func basinConfigValue(c *client.BasinConfig) tvalue {
	o := tobject()
	o.add("default_stream_config", streamConfigValue(c.DefaultStreamConfig))
	o.add("stream_cipher", optScalar(c.StreamCipher))
	o.add("create_stream_on_append", tscalar(strconv.FormatBool(c.CreateStreamOnAppend)))
	o.add("create_stream_on_read", tscalar(strconv.FormatBool(c.CreateStreamOnRead)))
	return *o
}

func optScalar(s *string) tvalue {
	if s == nil {
		return tnull()
	}
	return tscalar(*s)
}

// Record formats of append input and read output.
const (
	formatText       = "text"
	formatJSON       = "json"
	formatJSONBase64 = "json-base64"
)

// parseFormat accepts the official names and aliases (raw for json;
// base64 and json-binsafe for json-base64) and jsonl, which backup guides
// use for json.
func parseFormat(s string) (string, error) {
	switch s {
	case "", formatText:
		return formatText, nil
	case formatJSON, "raw", "jsonl":
		return formatJSON, nil
	case formatJSONBase64, "base64", "json-binsafe":
		return formatJSONBase64, nil
	}
	return "", usagef("invalid value %q for --format: possible values: text, json, json-base64", s)
}

// lossy decodes b as UTF-8 the way Rust's String::from_utf8_lossy does,
// which is what the official CLI prints: each maximal invalid subsequence
// (a byte that cannot start a sequence, or the valid prefix of a
// truncated one) becomes one U+FFFD.
func lossy(b []byte) string {
	if utf8.Valid(b) {
		return string(b)
	}
	var sb strings.Builder
	for len(b) > 0 {
		r, n := utf8.DecodeRune(b)
		if r != utf8.RuneError || n > 1 {
			sb.Write(b[:n])
			b = b[n:]
			continue
		}
		sb.WriteRune(utf8.RuneError)
		b = b[invalidPrefixLen(b):]
	}
	return sb.String()
}

// invalidPrefixLen is the length of the maximal subpart of an ill-formed
// sequence at the start of b (Unicode 15, 3.9, table 3-7): the lead byte
// and as many following bytes as could still continue it, at least 1.
func invalidPrefixLen(b []byte) int {
	c := b[0]
	var need int
	lo, hi := byte(0x80), byte(0xBF)
	switch {
	case c >= 0xC2 && c <= 0xDF:
		need = 1
	case c == 0xE0:
		need, lo = 2, 0xA0
	case c >= 0xE1 && c <= 0xEC, c == 0xEE, c == 0xEF:
		need = 2
	case c == 0xED:
		need, hi = 2, 0x9F
	case c == 0xF0:
		need, lo = 3, 0x90
	case c >= 0xF1 && c <= 0xF3:
		need = 3
	case c == 0xF4:
		need, hi = 3, 0x8F
	default:
		return 1
	}
	n := 1
	for n <= need && n < len(b) {
		x := b[n]
		if x < lo || x > hi {
			break
		}
		lo, hi = 0x80, 0xBF
		n++
	}
	return n
}

// appendJSONString writes s as a JSON string the way serde_json does: only
// quote, backslash and control characters are escaped.
func appendJSONString(dst []byte, s string) []byte {
	const hex = "0123456789abcdef"
	dst = append(dst, '"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"' || c == '\\':
			dst = append(dst, '\\', c)
		case c == '\n':
			dst = append(dst, '\\', 'n')
		case c == '\r':
			dst = append(dst, '\\', 'r')
		case c == '\t':
			dst = append(dst, '\\', 't')
		case c == '\b':
			dst = append(dst, '\\', 'b')
		case c == '\f':
			dst = append(dst, '\\', 'f')
		case c < 0x20:
			dst = append(dst, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xF])
		default:
			dst = append(dst, c)
		}
	}
	return append(dst, '"')
}

// appendRecordJSON writes one record as the official CLI's json or
// json-base64 line (without the newline): seq_num, timestamp, headers
// (left out when none), body (left out when empty).
func appendRecordJSON(dst []byte, r *client.SequencedRecord, b64 bool) []byte {
	str := func(b []byte) string {
		if b64 {
			return base64.StdEncoding.EncodeToString(b)
		}
		return lossy(b)
	}
	dst = append(dst, `{"seq_num":`...)
	dst = strconv.AppendUint(dst, r.SeqNum, 10)
	dst = append(dst, `,"timestamp":`...)
	dst = strconv.AppendUint(dst, r.Timestamp, 10)
	if len(r.Headers) > 0 {
		dst = append(dst, `,"headers":[`...)
		for i, h := range r.Headers {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = append(dst, '[')
			dst = appendJSONString(dst, str(h.Name))
			dst = append(dst, ',')
			dst = appendJSONString(dst, str(h.Value))
			dst = append(dst, ']')
		}
		dst = append(dst, ']')
	}
	if len(r.Body) > 0 {
		dst = append(dst, `,"body":`...)
		dst = appendJSONString(dst, str(r.Body))
	}
	return append(dst, '}')
}

// commandText describes a command record for text output, as the official
// CLI does on stderr.
func commandText(r *client.SequencedRecord) string {
	var desc string
	switch r.Command() {
	case client.CommandFence:
		desc = "new fencing token \"" + lossy(r.Body) + "\""
	case client.CommandTrim:
		var tp uint64
		if len(r.Body) >= 8 {
			tp = binary.BigEndian.Uint64(r.Body)
		}
		desc = fmt.Sprintf("trim to %d", tp)
	default:
		desc = "unknown command"
	}
	return fmt.Sprintf("%s // %d @ %d", desc, r.SeqNum, r.Timestamp)
}

// inputRecord is one line of json or json-base64 append input. Other keys
// (seq_num in read output) are ignored, so read output appends back.
type inputRecord struct {
	Timestamp *uint64           `json:"timestamp"`
	Headers   []json.RawMessage `json:"headers"`
	Body      *string           `json:"body"`
}

var errNull = errors.New("null is not a string")

// parseRecordLine turns one input line into a record.
func parseRecordLine(line []byte, format string) (client.AppendRecord, error) {
	if format == formatText {
		return client.AppendRecord{Body: append([]byte{}, line...)}, nil
	}
	var in inputRecord
	if err := json.Unmarshal(line, &in); err != nil {
		return client.AppendRecord{}, err
	}
	b64 := format == formatJSONBase64
	decode := func(s string) ([]byte, error) {
		if !b64 {
			return []byte(s), nil
		}
		b, err := base64.StdEncoding.Strict().DecodeString(s)
		if err != nil {
			return nil, fmt.Errorf("invalid base64: %s", s)
		}
		return b, nil
	}
	rec := client.AppendRecord{Timestamp: in.Timestamp, Body: []byte{}}
	if in.Body != nil {
		b, err := decode(*in.Body)
		if err != nil {
			return rec, err
		}
		rec.Body = b
	}
	for _, raw := range in.Headers {
		var pair []*string
		if err := json.Unmarshal(raw, &pair); err != nil || len(pair) != 2 {
			return rec, fmt.Errorf("a header must be a [name, value] pair of strings, got %s", raw)
		}
		if pair[0] == nil || pair[1] == nil {
			return rec, errNull
		}
		n, err := decode(*pair[0])
		if err != nil {
			return rec, err
		}
		v, err := decode(*pair[1])
		if err != nil {
			return rec, err
		}
		rec.Headers = append(rec.Headers, client.Header{Name: n, Value: v})
	}
	return rec, nil
}
