package server

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"math/rand/v2"
	"net/http"
	"runtime"
	"strings"
	"testing"

	"google.golang.org/protobuf/encoding/protowire"
)

// TestRecordCounters: fed a valid AppendInput in arbitrary pieces, each
// counter finds exactly its records.
func TestRecordCounters(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for iter := range 2000 {
		n := rng.IntN(40)
		var pb []byte
		var js strings.Builder
		js.WriteString(`{"fencing_token":"{[x","records":[`)
		for i := range n {
			var rec []byte
			body := bytes.Repeat([]byte{byte(rng.IntN(256))}, rng.IntN(300))
			if rng.IntN(2) == 0 {
				var h []byte
				h = protowire.AppendTag(h, 1, protowire.BytesType)
				h = protowire.AppendBytes(h, []byte("k{"))
				rec = protowire.AppendTag(rec, 2, protowire.BytesType)
				rec = protowire.AppendBytes(rec, h)
			}
			rec = protowire.AppendTag(rec, 3, protowire.BytesType)
			rec = protowire.AppendBytes(rec, body)
			pb = protowire.AppendTag(pb, 1, protowire.BytesType)
			pb = protowire.AppendBytes(pb, rec)
			if i > 0 {
				js.WriteString(",")
			}
			var tricky strings.Builder
			for range rng.IntN(12) {
				tricky.WriteByte(`\\"{}[]x`[rng.IntN(7)])
			}
			fmt.Fprintf(&js, `{"headers":[["{\"","}]"]],"body":%q,"x":%q}`, strings.Repeat("}{[\\", rng.IntN(5)), tricky.String())
		}
		js.WriteString(`],"match_seq_num":7}`)
		pb = protowire.AppendTag(pb, 2, protowire.VarintType)
		pb = protowire.AppendVarint(pb, 1<<40)
		for _, c := range []struct {
			name  string
			data  []byte
			count func([]byte) int
		}{
			{"protobuf", pb, new(protoRecords).count},
			{"json", []byte(js.String()), new(jsonRecords).count},
		} {
			got := 0
			for rest := c.data; len(rest) > 0; {
				k := min(len(rest), 1+rng.IntN(17))
				got += c.count(rest[:k])
				rest = rest[k:]
			}
			if got != n {
				t.Fatalf("iteration %d, %s: counted %d records, want %d", iter, c.name, got, n)
			}
		}
	}
}

// TestCompressionBombRefusedWhileInflating: a gzip body of a few KiB that
// inflates to 16 MiB of empty records is refused with 422 after inflating
// little more than the batch limit's worth.
func TestCompressionBombRefusedWhileInflating(t *testing.T) {
	e := newEnv(t, envOptions{})
	e.basinAndStream("bomb", nil)
	gz := func(p []byte) []byte {
		var buf bytes.Buffer
		w, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
		w.Write(p)
		w.Close()
		return buf.Bytes()
	}
	proto := make([]byte, 0, 16<<20)
	for len(proto) < 16<<20-2 {
		proto = protowire.AppendTag(proto, 1, protowire.BytesType)
		proto = protowire.AppendVarint(proto, 0)
	}
	json := []byte(`{"records":[` + strings.Repeat(`{},`, (16<<20)/3-10) + `{}]}`)
	for _, c := range []struct {
		ct   string
		body []byte
	}{{"application/protobuf", gz(proto)}, {"application/json", gz(json)}} {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		r := e.call("POST", "/v1/streams/bomb/records", c.body, "s2-basin", testBasin, "content-type", c.ct, "content-encoding", "gzip")
		runtime.ReadMemStats(&after)
		if r.status != http.StatusUnprocessableEntity || !strings.Contains(string(r.body), "must not exceed 1000 records") {
			t.Fatalf("%s bomb of %d bytes: %s", c.ct, len(c.body), r)
		}
		if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 4<<20 {
			t.Errorf("%s bomb: refusing it allocated %d KiB", c.ct, alloc>>10)
		}
	}
}
