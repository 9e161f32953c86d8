package server

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/s2lite/s2lite/stream"
)

// checkAppendInputScan holds the fast AppendInput JSON path to the general
// one: whenever the fast path accepts data, the general path must accept it
// too and decode the same input. It reports whether the fast path accepted.
func checkAppendInputScan(t *testing.T, data []byte, f recordFormat) bool {
	t.Helper()
	fast, ok := scanAppendInputJSON(data, f)
	if !ok {
		return false
	}
	slow, err := parseAppendInputJSONSlow(data, f)
	// Both paths share the fencing token's length check.
	if fastErr := checkFencingTokenJSON(fast.FencingToken); fastErr != nil || err != nil {
		if fastErr == nil || err == nil || fastErr.Error() != err.Error() {
			t.Fatalf("fast path accepted what the general path rejects (%v, fast path: %v):\n%q", err, fastErr, data)
		}
		return true
	}
	if d := diffAppendInput(fast, slow); d != "" {
		t.Fatalf("fast and general paths differ: %s\n%q", d, data)
	}
	return true
}

func diffAppendInput(a, b stream.AppendInput) string {
	if (a.MatchSeqNum == nil) != (b.MatchSeqNum == nil) || (a.MatchSeqNum != nil && *a.MatchSeqNum != *b.MatchSeqNum) {
		return "match_seq_num"
	}
	if (a.FencingToken == nil) != (b.FencingToken == nil) || (a.FencingToken != nil && *a.FencingToken != *b.FencingToken) {
		return "fencing_token"
	}
	if len(a.Records) != len(b.Records) || (a.Records == nil) != (b.Records == nil) {
		return fmt.Sprintf("%d records against %d", len(a.Records), len(b.Records))
	}
	for i, ra := range a.Records {
		rb := b.Records[i]
		if (ra.Timestamp == nil) != (rb.Timestamp == nil) || (ra.Timestamp != nil && *ra.Timestamp != *rb.Timestamp) {
			return fmt.Sprintf("record %d: timestamp", i)
		}
		if !bytes.Equal(ra.Body, rb.Body) || (ra.Body == nil) != (rb.Body == nil) {
			return fmt.Sprintf("record %d: body %q against %q", i, ra.Body, rb.Body)
		}
		if len(ra.Headers) != len(rb.Headers) || (ra.Headers == nil) != (rb.Headers == nil) {
			return fmt.Sprintf("record %d: %d headers against %d", i, len(ra.Headers), len(rb.Headers))
		}
		for j, h := range ra.Headers {
			if !bytes.Equal(h.Name, rb.Headers[j].Name) || !bytes.Equal(h.Value, rb.Headers[j].Value) {
				return fmt.Sprintf("record %d: header %d", i, j)
			}
		}
	}
	return ""
}

// jsonGen writes random AppendInput bodies: mostly of the usual shape, with
// the odd thing the fast path must decline or get exactly right.
type jsonGen struct {
	r   *rand.Rand
	buf strings.Builder
}

func (g *jsonGen) space() {
	if g.r.IntN(4) == 0 {
		g.buf.WriteString([]string{" ", "\n", "\t", "\r\n  ", ""}[g.r.IntN(5)])
	}
}

func (g *jsonGen) str(base64Body bool) {
	g.buf.WriteByte('"')
	n := g.r.IntN(12)
	if base64Body && g.r.IntN(8) != 0 {
		raw := make([]byte, n)
		for i := range raw {
			raw[i] = byte(g.r.IntN(256))
		}
		g.buf.WriteString(formatBase64.encode(raw))
		if g.r.IntN(10) == 0 {
			g.buf.WriteString("=") // invalid padding
		}
		g.buf.WriteByte('"')
		return
	}
	pieces := []string{"a", "Z", "0", " ", "é", "漢", "😀", `\n`, `\"`, `\\`, `\/`, `\u00e9`, `\ud83d\ude00`, "<", "&"}
	odd := []string{`\ud800`, `\udc00x`, "\xff", "\xc3", "\t", `\x`, `\u12`}
	for range n {
		if g.r.IntN(40) == 0 {
			g.buf.WriteString(odd[g.r.IntN(len(odd))])
			continue
		}
		g.buf.WriteString(pieces[g.r.IntN(len(pieces))])
	}
	g.buf.WriteByte('"')
}

func (g *jsonGen) u64() {
	v := []string{"0", "7", "1234567890", "18446744073709551615", "18446744073709551616", "01", "-1", "1.5", "1e3", "null", `"5"`, "true"}
	if g.r.IntN(3) != 0 {
		g.buf.WriteString(v[g.r.IntN(3)])
		return
	}
	g.buf.WriteString(v[g.r.IntN(len(v))])
}

func (g *jsonGen) key(k string) {
	g.space()
	if g.r.IntN(40) == 0 {
		k = strings.Replace(k, "s", `\u0073`, 1)
	}
	g.buf.WriteString(`"` + k + `"`)
	g.space()
	g.buf.WriteByte(':')
	g.space()
}

// object writes the fields in a random order, sometimes one twice, and
// sometimes one the API does not know.
func (g *jsonGen) object(fields map[string]func()) {
	keys := make([]string, 0, len(fields)+2)
	for k := range fields {
		if g.r.IntN(5) != 0 {
			keys = append(keys, k)
		}
	}
	if g.r.IntN(30) == 0 {
		keys = append(keys, "unknown")
		fields["unknown"] = func() { g.buf.WriteString(`{"x":[1,2]}`) }
	}
	if len(keys) > 0 && g.r.IntN(30) == 0 {
		keys = append(keys, keys[0])
	}
	g.r.Shuffle(len(keys), func(i, j int) { keys[i], keys[j] = keys[j], keys[i] })
	g.space()
	g.buf.WriteByte('{')
	for i, k := range keys {
		if i > 0 {
			g.buf.WriteByte(',')
		}
		g.key(k)
		fields[k]()
		g.space()
	}
	g.buf.WriteByte('}')
}

func (g *jsonGen) array(n int, elem func()) {
	g.buf.WriteByte('[')
	for i := range n {
		if i > 0 {
			g.buf.WriteByte(',')
		}
		g.space()
		elem()
		g.space()
	}
	g.buf.WriteByte(']')
}

func (g *jsonGen) maybeNull(v func()) func() {
	return func() {
		if g.r.IntN(15) == 0 {
			g.buf.WriteString("null")
			return
		}
		v()
	}
}

func (g *jsonGen) input(base64Body bool) []byte {
	g.buf.Reset()
	record := func() {
		g.object(map[string]func(){
			"timestamp": g.u64,
			"body":      g.maybeNull(func() { g.str(base64Body) }),
			"headers": g.maybeNull(func() {
				g.array(g.r.IntN(3), func() {
					n := 2
					if g.r.IntN(20) == 0 {
						n = g.r.IntN(4)
					}
					g.array(n, func() { g.str(base64Body) })
				})
			}),
		})
	}
	g.object(map[string]func(){
		"records":       g.maybeNull(func() { g.array(g.r.IntN(4), record) }),
		"match_seq_num": g.u64,
		"fencing_token": g.maybeNull(func() { g.str(false) }),
	})
	g.space()
	b := []byte(g.buf.String())
	switch g.r.IntN(12) {
	case 0:
		b = b[:g.r.IntN(len(b)+1)]
	case 1:
		b[g.r.IntN(len(b))] = "{}[]\",: \\0an"[g.r.IntN(12)]
	}
	return b
}

func TestAppendInputScanMatchesGeneralPath(t *testing.T) {
	n := 20000
	if testing.Short() {
		n = 5000
	}
	g := &jsonGen{r: rand.New(rand.NewPCG(1, 2))}
	for _, f := range []recordFormat{formatRaw, formatBase64} {
		accepted := 0
		for range n {
			if checkAppendInputScan(t, g.input(f == formatBase64), f) {
				accepted++
			}
		}
		t.Logf("format %d: fast path took %d of %d bodies", f, accepted, n)
		// The generator is built so that both paths are exercised.
		if accepted < n/20 || accepted > n*9/10 {
			t.Errorf("format %d: fast path took %d of %d bodies: the generator no longer tests both paths", f, accepted, n)
		}
	}
}

func TestAppendInputScanCommonShapes(t *testing.T) {
	for _, tc := range []struct {
		body string
		f    recordFormat
		fast bool
	}{
		{`{"records":[{"body":"hello"}]}`, formatRaw, true},
		{` {"records" : [ {"body":"a","headers":[["k","v"]],"timestamp":12} ] , "match_seq_num":3,"fencing_token":"t"} `, formatRaw, true},
		{`{"records":[{"body":"aGk="}]}`, formatBase64, true},
		{"{\"records\":[{\"body\":\"a\nb\"}]}", formatRaw, false},       // control character: invalid JSON
		{`{"records":[{"body":"a\u00e9\n"}]}`, formatRaw, true},         // unescaped by encoding/json
		{`{"records":[{"body":"x"}],"extra":1}`, formatRaw, false},      // unknown key: the general path ignores it
		{`{"records":[{"body":"x"}],"records":[]}`, formatRaw, false},   // repeated key: the last one wins there
		{`{"records":[{"body":"!!"}]}`, formatBase64, false},            // invalid base64: the general path's error
		{`{"records":[{"timestamp":1.0}]}`, formatRaw, false},           // not a u64 there either
		{`{"records":[{"headers":[["a","b","c"]]}]}`, formatRaw, false}, // not a pair
		{`{"records":null}`, formatRaw, false},
	} {
		data := []byte(tc.body)
		if got := checkAppendInputScan(t, data, tc.f); got != tc.fast {
			t.Errorf("%s: fast path took it: %v, want %v", data, got, tc.fast)
		}
	}
}

// FuzzAppendInputJSON: the fast path never accepts what the general path
// rejects and never decodes differently.
func FuzzAppendInputJSON(f *testing.F) {
	g := &jsonGen{r: rand.New(rand.NewPCG(3, 4))}
	for i := range 50 {
		f.Add(g.input(i%2 == 1), i%2 == 1)
	}
	f.Fuzz(func(t *testing.T, data []byte, b64 bool) {
		format := formatRaw
		if b64 {
			format = formatBase64
		}
		checkAppendInputScan(t, data, format)
	})
}
