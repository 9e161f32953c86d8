package server

import (
	"net/http"
	"runtime"
	"strings"
	"testing"

	"google.golang.org/protobuf/encoding/protowire"
)

// TestBatchLimitsBeforeWork: an append with far more records than a batch
// may hold is refused with 422 as soon as the decoder passes the limit,
// without decoding the rest (a 16 MiB body of empty records used to be
// decoded whole, about 1.3 GB, before the count was checked).
func TestBatchLimitsBeforeWork(t *testing.T) {
	e := newEnv(t, envOptions{})
	e.basinAndStream("limits", nil)
	hb := []string{"s2-basin", testBasin}

	// JSON: 2 million empty records, about 6 MB of body.
	body := `{"records":[` + strings.Repeat(`{},`, 2_000_000) + `{}]}`
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	r := e.call("POST", "/v1/streams/limits/records", body, append(hb, "content-type", "application/json")...)
	runtime.ReadMemStats(&after)
	if r.status != http.StatusUnprocessableEntity || !strings.Contains(string(r.body), "must not exceed 1000 records") {
		t.Fatalf("JSON: %s", r)
	}
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 200<<20 {
		t.Fatalf("JSON: refusing the batch allocated %d MiB", alloc>>20)
	}

	// Protobuf: 2 million empty records.
	var pb []byte
	for range 2_000_000 {
		pb = protowire.AppendTag(pb, 1, protowire.BytesType)
		pb = protowire.AppendVarint(pb, 0)
	}
	runtime.GC()
	runtime.ReadMemStats(&before)
	r = e.call("POST", "/v1/streams/limits/records", pb, append(hb, "content-type", "application/protobuf")...)
	runtime.ReadMemStats(&after)
	if r.status != http.StatusUnprocessableEntity || !strings.Contains(string(r.body), "must not exceed 1000 records") {
		t.Fatalf("protobuf: %s", r)
	}
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 200<<20 {
		t.Fatalf("protobuf: refusing the batch allocated %d MiB", alloc>>20)
	}

	// One record over 1 MiB keeps its own message.
	big := `{"records":[{"body":"` + strings.Repeat("x", 1<<20+1) + `"}]}`
	r = e.call("POST", "/v1/streams/limits/records", big, append(hb, "content-type", "application/json")...)
	if r.status != http.StatusUnprocessableEntity || !strings.Contains(string(r.body), "record must have metered size less than 1 MiB") {
		t.Fatalf("one large record: %s", r)
	}
}

// TestBatchLimitsBeforeWorkGeneralJSON: the general JSON decoder (the path
// for shapes the fast scanner does not take) also stops at the first
// record past the limit instead of materializing millions of them.
func TestBatchLimitsBeforeWorkGeneralJSON(t *testing.T) {
	body := []byte(`{"records":[` + strings.Repeat(`{},`, 2_000_000) + `{}]}`)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	_, err := parseAppendInputJSONSlow(body, formatRaw)
	runtime.ReadMemStats(&after)
	if err == nil || err.status != http.StatusUnprocessableEntity || !strings.Contains(string(err.body), "must not exceed 1000 records") {
		t.Fatalf("got %v", err)
	}
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 32<<20 {
		t.Fatalf("refusing the batch allocated %d MiB", alloc>>20)
	}
	// 1000 records are still fine, and a non-array is still worded.
	ok := []byte(`{"records":[` + strings.Repeat(`{"body":"x"},`, 999) + `{"body":"x"}]}`)
	if in, err := parseAppendInputJSONSlow(ok, formatRaw); err != nil || len(in.Records) != 1000 {
		t.Fatalf("1000 records: %d, %v", len(in.Records), err)
	}
	if _, err := parseAppendInputJSONSlow([]byte(`{"records":{}}`), formatRaw); err == nil || err.status != http.StatusBadRequest {
		t.Fatalf("records as an object: %v", err)
	}
}
