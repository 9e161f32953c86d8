package server

import (
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestAppendJSON(t *testing.T) {
	e := newEnv(t, envOptions{})
	e.basinAndStream("s", nil)
	hb := []string{"s2-basin", testBasin}
	path := "/v1/streams/s/records"

	r := e.call("POST", path, `{"records":[{"timestamp":null,"headers":[["x-test","value"],["x-test","again"]],"body":"hello"},{}],
		"match_seq_num":0,"fencing_token":""}`, append(hb, "content-type", "application/json")...).expect(t, http.StatusOK)
	var ack jsonAppendAck
	r.decode(t, &ack)
	if ack.Start.SeqNum != 0 || ack.End.SeqNum != 2 || ack.Tail.SeqNum != 2 || ack.Start.Timestamp == 0 || ack.End.Timestamp < ack.Start.Timestamp {
		t.Fatalf("ack %s", r.body)
	}
	// Headers (duplicates, order) and an empty body come back exactly;
	// empty headers and bodies are omitted.
	r = e.call("GET", path+"?seq_num=0", nil, hb...).expect(t, http.StatusOK)
	jsonEqual(t, r.body, fmt.Sprintf(`{"records":[{"seq_num":0,"timestamp":%d,"headers":[["x-test","value"],["x-test","again"]],"body":"hello"},
		{"seq_num":1,"timestamp":%d}]}`, ack.Start.Timestamp, ack.End.Timestamp))

	// An older client timestamp is raised to keep timestamps monotonic.
	prev := ack.End.Timestamp
	r = e.call("POST", path, `{"records":[{"timestamp":1000,"body":"old"}]}`, append(hb, "content-type", "application/json")...).expect(t, http.StatusOK)
	r.decode(t, &ack)
	if ack.Start.SeqNum != 2 || ack.Start.Timestamp != prev {
		t.Fatalf("ack %s, want start 2 at timestamp %d", r.body, prev)
	}

	// Conditions: 412 bodies carry no code.
	r = e.call("POST", path, map[string]any{"records": []any{map[string]any{}}, "match_seq_num": 0}, hb...).expect(t, http.StatusPreconditionFailed)
	jsonEqual(t, r.body, `{"seq_num_mismatch":3}`)
	e.call("POST", path, `{"records":[{"headers":[["","fence"]],"body":"tok"}]}`, append(hb, "content-type", "application/json")...).expect(t, http.StatusOK)
	r = e.call("POST", path, map[string]any{"records": []any{map[string]any{}}, "fencing_token": "other"}, hb...).expect(t, http.StatusPreconditionFailed)
	jsonEqual(t, r.body, `{"fencing_token_mismatch":"tok"}`)
	e.call("POST", path, map[string]any{"records": []any{map[string]any{}}, "fencing_token": "tok"}, hb...).expect(t, http.StatusOK)

	// Body problems are 400 bad_json, in JSON.
	for _, body := range []string{
		`{"records":[{"body":"x"}],"fencing_token":"` + strings.Repeat("f", 37) + `"}`,
		`{}`, `{"records":null}`, `{"records":{}}`, `{"records":[{"body":1}]}`, `{"records":[{"headers":[["a"]]}]}`,
		`{"records":[{"timestamp":-1}]}`, `{"records":[{"timestamp":1.5}]}`, `{"records":[],"match_seq_num":"1"}`, `[`,
	} {
		e.call("POST", path, body, append(hb, "content-type", "application/json")...).expectError(t, http.StatusBadRequest, "bad_json")
	}
	e.call("POST", path, `{"records":[{}]}`, hb...).expectError(t, http.StatusBadRequest, "bad_json")
	e.call("POST", path, `{"records":[{}]}`, append(hb, "content-type", "text/plain")...).expectError(t, http.StatusBadRequest, "bad_json")

	// Semantic problems are 422 invalid.
	recs1001 := make([]any, 1001)
	for i := range recs1001 {
		recs1001[i] = map[string]any{}
	}
	for _, body := range []any{
		map[string]any{"records": []any{}},
		map[string]any{"records": recs1001},
		map[string]any{"records": []any{map[string]any{"headers": [][]string{{"", "not-a-command"}}}}},
		map[string]any{"records": []any{map[string]any{"headers": [][]string{{"", "fence"}, {"x", "y"}}}}},
		map[string]any{"records": []any{map[string]any{"headers": [][]string{{"", "trim"}}, "body": "short"}}},
		map[string]any{"records": []any{map[string]any{"body": strings.Repeat("x", 1<<20)}}},
	} {
		e.call("POST", path, body, hb...).expectError(t, http.StatusUnprocessableEntity, "invalid")
	}
	// A 1000-record batch is fine.
	e.call("POST", path, map[string]any{"records": recs1001[:1000]}, hb...).expect(t, http.StatusOK)

	// Record headers: s2-format and the encryption key are validated.
	e.call("POST", path, map[string]any{"records": []any{map[string]any{}}}, append(hb, "s2-format", "hex")...).expectError(t, http.StatusBadRequest, "bad_header")
	e.call("POST", path, map[string]any{"records": []any{map[string]any{}}}, append(hb, "s2-encryption-key", strings.Repeat("k", 45))...).
		expectError(t, http.StatusBadRequest, "bad_header")
	e.call("POST", "/v1/streams/missing/records", map[string]any{"records": []any{map[string]any{}}}, hb...).expectError(t, http.StatusNotFound, "stream_not_found")
	e.call("POST", "/v1/streams/missing/records", map[string]any{"records": []any{map[string]any{}}}, "s2-basin", "missing-basin").
		expectError(t, http.StatusNotFound, "basin_not_found")

	// client-require without a timestamp is 422.
	e.call("POST", "/v1/streams", map[string]any{"stream": "req", "config": map[string]any{"timestamping": map[string]any{"mode": "client-require"}}}, hb...).expect(t, http.StatusCreated)
	e.call("POST", "/v1/streams/req/records", map[string]any{"records": []any{map[string]any{}}}, hb...).expectError(t, http.StatusUnprocessableEntity, "invalid")
}

func TestRecordFormats(t *testing.T) {
	e := newEnv(t, envOptions{})
	e.basinAndStream("f", nil)
	hb := []string{"s2-basin", testBasin}
	path := "/v1/streams/f/records"
	bin := []byte{0, 0xff, 0xfe, 'a'}
	b64 := base64.StdEncoding.EncodeToString(bin)

	for _, format := range []string{"base64", " json-binsafe "} {
		e.call("POST", path, map[string]any{"records": []any{map[string]any{"headers": [][]string{{b64, b64}}, "body": b64}}},
			append(hb, "s2-format", format)...).expect(t, http.StatusOK)
	}
	e.call("POST", path, map[string]any{"records": []any{map[string]any{"body": "!!notbase64"}}}, append(hb, "s2-format", "base64")...).
		expectError(t, http.StatusUnprocessableEntity, "invalid")
	e.call("POST", path, map[string]any{"records": []any{map[string]any{"body": "<&>"}}}, append(hb, "s2-format", "json")...).expect(t, http.StatusOK)

	var batch jsonReadBatch
	e.call("GET", path+"?seq_num=0", nil, append(hb, "s2-format", "base64")...).expect(t, http.StatusOK).decode(t, &batch)
	if len(batch.Records) != 3 || batch.Records[0].Body != b64 || batch.Records[1].Headers[0] != [2]string{b64, b64} ||
		batch.Records[2].Body != base64.StdEncoding.EncodeToString([]byte("<&>")) {
		t.Fatalf("base64 read %+v", batch)
	}
	// raw: invalid UTF-8 is replaced, text is not HTML-escaped.
	r := e.call("GET", path+"?seq_num=0", nil, append(hb, "s2-format", "raw")...).expect(t, http.StatusOK)
	r.decode(t, &batch)
	if batch.Records[0].Body != "\x00\uFFFDa" && batch.Records[0].Body != "\x00\uFFFD\uFFFDa" {
		t.Fatalf("raw body %q", batch.Records[0].Body)
	}
	if !strings.Contains(string(r.body), `"body":"<&>"`) {
		t.Fatalf("raw read escaped text: %s", r.body)
	}
	e.call("GET", path+"?seq_num=0", nil, append(hb, "s2-format", "binary")...).expectError(t, http.StatusBadRequest, "bad_header")

	// Commands read back as [["", "fence"]] / [["", "trim"]].
	trim := make([]byte, 8)
	binary.BigEndian.PutUint64(trim, 1)
	e.call("POST", path, map[string]any{"records": []any{
		map[string]any{"headers": [][]string{{"", "ZmVuY2U="}}, "body": base64.StdEncoding.EncodeToString([]byte("tok"))},
		map[string]any{"headers": [][]string{{"", "dHJpbQ=="}}, "body": base64.StdEncoding.EncodeToString(trim)},
	}}, append(hb, "s2-format", "base64")...).expect(t, http.StatusOK)
	r = e.call("GET", path+"?seq_num=3&count=1", nil, hb...).expect(t, http.StatusOK)
	if !strings.Contains(string(r.body), `"headers":[["","fence"]],"body":"tok"`) {
		t.Fatalf("fence read back as %s", r.body)
	}
	r = e.call("GET", path+"?seq_num=4&count=1", nil, append(hb, "s2-format", "base64")...).expect(t, http.StatusOK)
	if !strings.Contains(string(r.body), `"headers":[["","dHJpbQ=="]],"body":"AAAAAAAAAAE="`) {
		t.Fatalf("trim read back as %s", r.body)
	}
}

func TestProtobufAppendRead(t *testing.T) {
	e := newEnv(t, envOptions{})
	e.basinAndStream("p", nil)
	hb := []string{"s2-basin", testBasin}
	path := "/v1/streams/p/records"
	bin := []byte{0, 1, 0xff}

	in := pbInput(t,
		pbRecord(t, 5, bin, [2][]byte{[]byte("h\x00"), {0xfe}}),
		pbRecord(t, -1, []byte("text")),
	).setU64("match_seq_num", 0).setString("fencing_token", "")
	r := e.call("POST", path, in.marshal(t), append(hb, "content-type", "application/protobuf", "accept", "application/protobuf")...).expect(t, http.StatusOK)
	if ct := r.header.Get("Content-Type"); ct != "application/protobuf" {
		t.Fatalf("content type %q", ct)
	}
	ack := unmarshalPB(t, "AppendAck", r.body)
	if ack.sub("start").u64("seq_num") != 0 || ack.sub("end").u64("seq_num") != 2 || ack.sub("tail").u64("seq_num") != 2 ||
		ack.sub("start").u64("timestamp") != 5 || !ack.has("tail") {
		t.Fatalf("ack %v", ack)
	}
	// x-protobuf in, JSON out.
	r = e.call("POST", path, pbInput(t, pbRecord(t, -1, []byte("third"))).marshal(t), append(hb, "content-type", "application/x-protobuf")...).expect(t, http.StatusOK)
	var jack jsonAppendAck
	r.decode(t, &jack)
	if jack.Start.SeqNum != 2 {
		t.Fatalf("json ack %s", r.body)
	}

	r = e.call("GET", path+"?seq_num=0", nil, append(hb, "accept", "application/x-protobuf, application/json")...).expect(t, http.StatusOK)
	batch := unmarshalPB(t, "ReadBatch", r.body)
	recs := batch.list("records")
	if len(recs) != 3 || batch.has("tail") {
		t.Fatalf("read batch %v", batch)
	}
	h := recs[0].list("headers")
	if recs[0].u64("seq_num") != 0 || recs[0].u64("timestamp") != 5 || string(recs[0].bytes("body")) != string(bin) ||
		len(h) != 1 || string(h[0].bytes("name")) != "h\x00" || string(h[0].bytes("value")) != "\xfe" {
		t.Fatalf("record 0: %v", recs[0])
	}
	if got := pbBodies(batch); got[1] != "text" || got[2] != "third" || recs[2].u64("seq_num") != 2 {
		t.Fatalf("bodies %q", got)
	}

	// Failures are JSON whatever the request format.
	e.call("POST", path, []byte{0xff, 0xff}, append(hb, "content-type", "application/protobuf", "accept", "application/protobuf")...).
		expectError(t, http.StatusBadRequest, "bad_proto")
	long := pbInput(t, pbRecord(t, -1, nil)).setString("fencing_token", strings.Repeat("f", 37))
	e.call("POST", path, long.marshal(t), append(hb, "content-type", "application/protobuf")...).expectError(t, http.StatusUnprocessableEntity, "invalid")
	r = e.call("POST", path, pbInput(t, pbRecord(t, -1, nil)).setU64("match_seq_num", 9).marshal(t),
		append(hb, "content-type", "application/protobuf", "accept", "application/protobuf")...).expect(t, http.StatusPreconditionFailed)
	jsonEqual(t, r.body, `{"seq_num_mismatch":3}`)
	r = e.call("GET", path+"?seq_num=99", nil, append(hb, "accept", "application/protobuf")...).expect(t, http.StatusRequestedRangeNotSatisfiable)
	jsonEqual(t, r.body, `{"tail":{"seq_num":3,"timestamp":`+fmt.Sprint(recs[2].u64("timestamp"))+`}}`)
}

func TestUnaryRead(t *testing.T) {
	e := newEnv(t, envOptions{})
	e.basinAndStream("r", nil)
	hb := []string{"s2-basin", testBasin}
	path := "/v1/streams/r/records"

	// Empty stream: 416 at the tail without wait; 200 empty with wait.
	jsonEqual(t, e.call("GET", path+"?seq_num=0", nil, hb...).expect(t, http.StatusRequestedRangeNotSatisfiable).body, `{"tail":{"seq_num":0,"timestamp":0}}`)
	start := time.Now()
	jsonEqual(t, e.call("GET", path+"?seq_num=0&wait=1", nil, hb...).expect(t, http.StatusOK).body, `{"records":[]}`)
	if d := time.Since(start); d < 900*time.Millisecond {
		t.Fatalf("wait=1 returned after %v", d)
	}

	e.appendJSON("r", "first", "second", "third")
	bodies := func(r *response) []string {
		var b jsonReadBatch
		r.expect(t, http.StatusOK).decode(t, &b)
		out := []string{}
		for _, rec := range b.Records {
			out = append(out, rec.Body)
		}
		return out
	}
	for q, want := range map[string]string{
		"seq_num=0":              "first,second,third",
		"seq_num=1&count=1":      "second",
		"seq_num=0&bytes=20":     "first",
		"seq_num=0&bytes=13":     "first",
		"seq_num=0&bytes=12":     "",
		"seq_num=0&count=0":      "",
		"tail_offset=2":          "second,third",
		"tail_offset=10":         "first,second,third",
		"seq_num=0&count=5000":   "first,second,third",
		"timestamp=0&clamp=true": "first,second,third",
	} {
		if got := strings.Join(bodies(e.call("GET", path+"?"+q, nil, hb...)), ","); got != want {
			t.Errorf("%s: got %q, want %q", q, got, want)
		}
	}
	// Until excludes records at or after it.
	var b jsonReadBatch
	e.call("GET", path+"?seq_num=0", nil, hb...).decode(t, &b)
	last := b.Records[2].Timestamp
	if got := bodies(e.call("GET", path+fmt.Sprintf("?seq_num=0&until=%d", last), nil, hb...)); len(got) != 0 && b.Records[0].Timestamp == last {
		t.Fatalf("until=%d: %q", last, got)
	}

	// 416 cases carry the tail.
	for _, q := range []string{"seq_num=3", "tail_offset=0", "seq_num=999999", "seq_num=999999&clamp=false", "seq_num=999999&clamp=true", ""} {
		r := e.call("GET", path+"?"+q, nil, hb...).expect(t, http.StatusRequestedRangeNotSatisfiable)
		if r.object(t)["tail"].(map[string]any)["seq_num"] != 3.0 {
			t.Fatalf("%s: %s", q, r.body)
		}
	}
	// Long poll beyond the tail with clamp: 200 empty after the wait.
	jsonEqual(t, e.call("GET", path+"?seq_num=999999&clamp=true&wait=1", nil, hb...).expect(t, http.StatusOK).body, `{"records":[]}`)
	// A live record ends a long poll early and carries the tail.
	done := make(chan *response, 1)
	go func() { done <- e.call("GET", path+"?seq_num=3&wait=10", nil, hb...) }()
	time.Sleep(100 * time.Millisecond)
	e.appendJSON("r", "live")
	r := <-done
	r.expect(t, http.StatusOK).decode(t, &b)
	if len(b.Records) != 1 || b.Records[0].Body != "live" || b.Tail == nil || b.Tail.SeqNum != 4 {
		t.Fatalf("long poll: %s", r.body)
	}

	// Query and semantic validation.
	for _, q := range []string{"seq_num=-1", "seq_num=x", "clamp=1", "wait=4294967296", "count=1.5", "seq_num=1&seq_num=2"} {
		e.call("GET", path+"?"+q, nil, hb...).expectError(t, http.StatusBadRequest, "bad_query")
	}
	e.call("GET", path+"?seq_num=0&timestamp=0", nil, hb...).expectError(t, http.StatusUnprocessableEntity, "invalid")
	e.call("GET", path+"?timestamp=10&until=10", nil, hb...).expectError(t, http.StatusUnprocessableEntity, "invalid")
	e.call("GET", "/v1/streams/missing/records?seq_num=0", nil, hb...).expectError(t, http.StatusNotFound, "stream_not_found")
	e.call("GET", path+"?seq_num=0", nil, append(hb, "s2-encryption-key", " ")...).expectError(t, http.StatusBadRequest, "bad_header")
}
