package server

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

func TestStreamBasinHeader(t *testing.T) {
	e := newEnv(t, envOptions{})
	e.basinAndStream("", nil)
	paths := []struct{ method, path string }{
		{"GET", "/v1/streams"},
		{"POST", "/v1/streams"},
		{"GET", "/v1/streams/s"},
		{"PUT", "/v1/streams/s"},
		{"PATCH", "/v1/streams/s"},
		{"DELETE", "/v1/streams/s"},
		{"GET", "/v1/streams/s/records/tail"},
		{"GET", "/v1/streams/s/records"},
		{"POST", "/v1/streams/s/records"},
	}
	for _, p := range paths {
		r := e.call(p.method, p.path, "{}", "content-type", "application/json").expectError(t, http.StatusBadRequest, "bad_header")
		if !strings.Contains(string(r.body), "s2-basin") {
			t.Fatalf("%s %s: %s", p.method, p.path, r.body)
		}
		e.call(p.method, p.path, "{}", "content-type", "application/json", "s2-basin", "Not_A_Basin").expectError(t, http.StatusBadRequest, "bad_header")
		// The header is checked before the path (API 1.8).
		if bad := strings.Replace(p.path, "/streams/s", "/streams/..", 1); bad != p.path {
			e.call(p.method, bad, "{}", "content-type", "application/json").expectError(t, http.StatusBadRequest, "bad_header")
		}
	}
}

func TestCreateStream(t *testing.T) {
	e := newEnv(t, envOptions{})
	e.basinAndStream("", map[string]any{"default_stream_config": map[string]any{
		"storage_class": "standard", "retention_policy": map[string]any{"age": 3600},
	}})
	hb := []string{"s2-basin", testBasin}

	r := e.call("POST", "/v1/streams", map[string]any{"stream": "日本語/stream"}, append(hb, "s2-request-token", "t1")...).expect(t, http.StatusCreated)
	info := r.object(t)
	if r.header.Get("s2-provision-result") != "created" || info["name"] != "日本語/stream" || info["cipher"] != nil || info["deleted_at"] != nil {
		t.Fatalf("create: %v %s", r.header, r.body)
	}
	if _, ok := info["cipher"]; !ok {
		t.Fatalf("cipher key missing: %s", r.body)
	}
	r = e.call("POST", "/v1/streams", map[string]any{"stream": "日本語/stream"}, append(hb, "s2-request-token", "t1")...).expect(t, http.StatusCreated)
	if r.header.Get("s2-provision-result") != "noop" {
		t.Fatalf("replay: %v", r.header)
	}
	e.call("POST", "/v1/streams", map[string]any{"stream": "日本語/stream"}, hb...).expectError(t, http.StatusConflict, "resource_already_exists")

	// The stream inherits the basin defaults, resolved.
	path := "/v1/streams/" + url.PathEscape("日本語/stream")
	jsonEqual(t, e.call("GET", path, nil, hb...).expect(t, http.StatusOK).body,
		`{"storage_class":"standard","retention_policy":{"age":3600},"timestamping":{"mode":"client-prefer","uncapped":false},"delete_on_empty":{"min_age_secs":0}}`)

	for _, name := range []string{"", ".", "..", strings.Repeat("x", 513)} {
		e.call("POST", "/v1/streams", map[string]any{"stream": name}, hb...).expectError(t, http.StatusBadRequest, "bad_json")
	}
	e.call("POST", "/v1/streams", map[string]any{"stream": strings.Repeat("x", 512)}, hb...).expect(t, http.StatusCreated)
	e.call("POST", "/v1/streams", map[string]any{"stream": "s", "config": map[string]any{"timestamping": map[string]any{"mode": "never"}}}, hb...).
		expectError(t, http.StatusBadRequest, "bad_json")
	e.call("POST", "/v1/streams", map[string]any{"stream": "s", "config": map[string]any{"retention_policy": map[string]any{"age": 0}}}, hb...).
		expectError(t, http.StatusUnprocessableEntity, "invalid")
	e.call("POST", "/v1/streams", map[string]any{"stream": "s"}, "s2-basin", "missing-basin").expectError(t, http.StatusNotFound, "basin_not_found")
	e.call("POST", "/v1/streams", map[string]any{"stream": "s"}, append(hb, "s2-request-token", strings.Repeat("t", 37))...).
		expectError(t, http.StatusBadRequest, "bad_header")

	// A full config round-trips.
	full := `{"storage_class":"express","retention_policy":{"infinite":{}},"timestamping":{"mode":"client-require","uncapped":true},"delete_on_empty":{"min_age_secs":120}}`
	e.call("POST", "/v1/streams", `{"stream":"full","config":`+full+`}`, append(hb, "content-type", "application/json")...).expect(t, http.StatusCreated)
	jsonEqual(t, e.call("GET", "/v1/streams/full", nil, hb...).expect(t, http.StatusOK).body, full)

	e.call("GET", "/v1/streams/missing", nil, hb...).expectError(t, http.StatusNotFound, "stream_not_found")
	e.call("GET", "/v1/streams/missing", nil, "s2-basin", "missing-basin").expectError(t, http.StatusNotFound, "stream_not_found")
	e.call("GET", "/v1/streams/..", nil, hb...).expectError(t, http.StatusBadRequest, "bad_path")
	e.call("GET", "/v1/streams/"+strings.Repeat("x", 513), nil, hb...).expectError(t, http.StatusBadRequest, "bad_path")
	e.call("GET", "/v1/streams/%FF", nil, hb...).expectError(t, http.StatusBadRequest, "bad_path")
}

func TestEnsureAndReconfigureStream(t *testing.T) {
	e := newEnv(t, envOptions{})
	e.basinAndStream("", nil)
	hb := []string{"s2-basin", testBasin}

	r := e.call("PUT", "/v1/streams/ens", nil, hb...).expect(t, http.StatusCreated)
	if r.header.Get("s2-provision-result") != "created" || r.object(t)["name"] != "ens" {
		t.Fatalf("ensure: %v %s", r.header, r.body)
	}
	e.call("PUT", "/v1/streams/ens", nil, hb...).expect(t, http.StatusOK)
	// The body is a bare StreamConfig.
	r = e.call("PUT", "/v1/streams/ens", map[string]any{"storage_class": "standard"}, hb...).expect(t, http.StatusOK)
	if r.header.Get("s2-provision-result") != "updated" {
		t.Fatalf("ensure update: %v", r.header)
	}
	if e.call("GET", "/v1/streams/ens", nil, hb...).object(t)["storage_class"] != "standard" {
		t.Fatal("ensure did not apply")
	}
	e.call("PUT", "/v1/streams/ens", `null`, append(hb, "content-type", "application/json")...).expectError(t, http.StatusBadRequest, "bad_json")
	e.call("PUT", "/v1/streams/ens", `[]`, append(hb, "content-type", "application/json")...).expectError(t, http.StatusBadRequest, "bad_json")
	e.call("PUT", "/v1/streams/ens", map[string]any{"retention_policy": map[string]any{"age": 0}}, hb...).expectError(t, http.StatusUnprocessableEntity, "invalid")
	e.call("PUT", "/v1/streams/ens", nil, "s2-basin", "missing-basin").expectError(t, http.StatusNotFound, "basin_not_found")

	// PATCH: empty is a no-op; partial nested; null falls back to defaults.
	before := e.call("GET", "/v1/streams/ens", nil, hb...).body
	jsonEqual(t, e.call("PATCH", "/v1/streams/ens", map[string]any{}, hb...).expect(t, http.StatusOK).body, string(before))
	r = e.call("PATCH", "/v1/streams/ens", `{"timestamping":{"uncapped":true},"delete_on_empty":{"min_age_secs":30},"retention_policy":{"infinite":{}}}`,
		append(hb, "content-type", "application/json")...).expect(t, http.StatusOK)
	jsonEqual(t, r.body, `{"storage_class":"standard","retention_policy":{"infinite":{}},"timestamping":{"mode":"client-prefer","uncapped":true},"delete_on_empty":{"min_age_secs":30}}`)
	r = e.call("PATCH", "/v1/streams/ens", `{"storage_class":null,"delete_on_empty":{"min_age_secs":0}}`, append(hb, "content-type", "application/json")...).expect(t, http.StatusOK)
	jsonEqual(t, r.body, `{"storage_class":"express","retention_policy":{"infinite":{}},"timestamping":{"mode":"client-prefer","uncapped":true},"delete_on_empty":{"min_age_secs":0}}`)

	e.call("PATCH", "/v1/streams/ens", `{"retention_policy":{"age":0}}`, append(hb, "content-type", "application/json")...).expectError(t, http.StatusUnprocessableEntity, "invalid")
	e.call("PATCH", "/v1/streams/ens", `{"storage_class":1}`, append(hb, "content-type", "application/json")...).expectError(t, http.StatusBadRequest, "bad_json")
	e.call("PATCH", "/v1/streams/missing", map[string]any{}, hb...).expectError(t, http.StatusNotFound, "stream_not_found")
}

func TestListDeleteAndTail(t *testing.T) {
	e := newEnv(t, envOptions{})
	e.basinAndStream("", nil)
	hb := []string{"s2-basin", testBasin}
	for i := range 4 {
		e.call("POST", "/v1/streams", map[string]any{"stream": fmt.Sprintf("logs/%d", i)}, hb...).expect(t, http.StatusCreated)
	}
	e.call("POST", "/v1/streams", map[string]any{"stream": "other"}, hb...).expect(t, http.StatusCreated)

	var page jsonListStreams
	e.call("GET", "/v1/streams?prefix=logs/&limit=3", nil, hb...).expect(t, http.StatusOK).decode(t, &page)
	if len(page.Streams) != 3 || !page.HasMore || page.Streams[0].Name != "logs/0" {
		t.Fatalf("page %+v", page)
	}
	e.call("GET", "/v1/streams?prefix=logs/&start_after=logs/2", nil, hb...).expect(t, http.StatusOK).decode(t, &page)
	if len(page.Streams) != 1 || page.HasMore || page.Streams[0].Name != "logs/3" {
		t.Fatalf("page %+v", page)
	}
	jsonEqual(t, e.call("GET", "/v1/streams", nil, "s2-basin", "unknown-basin").expect(t, http.StatusOK).body, `{"streams":[],"has_more":false}`)
	e.call("GET", "/v1/streams?prefix="+strings.Repeat("p", 513), nil, hb...).expectError(t, http.StatusBadRequest, "bad_query")
	e.call("GET", "/v1/streams?limit=x", nil, hb...).expectError(t, http.StatusBadRequest, "bad_query")

	jsonEqual(t, e.call("GET", "/v1/streams/other/records/tail", nil, hb...).expect(t, http.StatusOK).body, `{"tail":{"seq_num":0,"timestamp":0}}`)
	ack := e.appendJSON("other", "a", "b")
	var tail jsonTailResponse
	e.call("GET", "/v1/streams/other/records/tail", nil, hb...).expect(t, http.StatusOK).decode(t, &tail)
	if tail.Tail != ack.End || tail.Tail.SeqNum != 2 {
		t.Fatalf("tail %+v after ack %+v", tail, ack)
	}
	e.call("GET", "/v1/streams/missing/records/tail", nil, hb...).expectError(t, http.StatusNotFound, "stream_not_found")

	r := e.call("DELETE", "/v1/streams/other", nil, hb...).expect(t, http.StatusAccepted)
	if len(r.body) != 0 || r.header.Get("Content-Length") != "0" {
		t.Fatalf("delete: %v %q", r.header, r.body)
	}
	e.call("DELETE", "/v1/streams/never", nil, hb...).expectError(t, http.StatusNotFound, "stream_not_found")
	// Until removal completes, the stream answers 409; then 404.
	deadline := time.Now().Add(10 * time.Second)
	for {
		r := e.call("GET", "/v1/streams/other", nil, hb...)
		if r.status == http.StatusNotFound {
			r.expectError(t, http.StatusNotFound, "stream_not_found")
			break
		}
		r.expectError(t, http.StatusConflict, "stream_deletion_pending")
		e.call("GET", "/v1/streams/other/records/tail", nil, hb...)
		if time.Now().After(deadline) {
			t.Fatal("stream deletion did not complete")
		}
		time.Sleep(20 * time.Millisecond)
	}
	e.call("POST", "/v1/streams", map[string]any{"stream": "other"}, hb...).expect(t, http.StatusCreated)
}

func TestAutoCreate(t *testing.T) {
	e := newEnv(t, envOptions{})
	e.basinAndStream("", map[string]any{"create_stream_on_append": true, "create_stream_on_read": true,
		"default_stream_config": map[string]any{"retention_policy": map[string]any{"age": 99}}})
	hb := []string{"s2-basin", testBasin}
	e.appendJSON("auto-append", "x")
	if rp := e.call("GET", "/v1/streams/auto-append", nil, hb...).expect(t, http.StatusOK).object(t)["retention_policy"]; rp.(map[string]any)["age"] != 99.0 {
		t.Fatalf("auto-created stream retention %v", rp)
	}
	// A read of a missing stream creates it and then finds it empty.
	r := e.call("GET", "/v1/streams/auto-read/records?tail_offset=1&count=1", nil, hb...).expect(t, http.StatusRequestedRangeNotSatisfiable)
	jsonEqual(t, r.body, `{"tail":{"seq_num":0,"timestamp":0}}`)
	e.call("GET", "/v1/streams/auto-read", nil, hb...).expect(t, http.StatusOK)
	e.call("GET", "/v1/streams/auto-tail/records/tail", nil, hb...).expect(t, http.StatusOK)
}

// TestAutoCreateStreamConfigHeader covers s2-stream-config: the config a
// stream gets if the request auto-creates it, on every request that can.
func TestAutoCreateStreamConfigHeader(t *testing.T) {
	e := newEnv(t, envOptions{})
	e.basinAndStream("", map[string]any{"create_stream_on_append": true, "create_stream_on_read": true,
		"default_stream_config": map[string]any{"retention_policy": map[string]any{"age": 3600}}})
	hb := []string{"s2-basin", testBasin}
	config := func(name string) string {
		t.Helper()
		return string(e.call("GET", "/v1/streams/"+name, nil, hb...).expect(t, http.StatusOK).body)
	}
	exists := func(name string) bool {
		t.Helper()
		return e.call("GET", "/v1/streams/"+name, nil, hb...).status == http.StatusOK
	}
	const own = `{"storage_class":"standard","retention_policy":{"age":120}}`
	const want = `{"storage_class":"standard","retention_policy":{"age":120},
		"timestamping":{"mode":"client-prefer","uncapped":false},"delete_on_empty":{"min_age_secs":0}}`
	withOwn := append(hb, "s2-stream-config", own)
	records := map[string]any{"records": []any{map[string]any{"body": "x"}}}

	e.call("POST", "/v1/streams/json/records", records, withOwn...).expect(t, http.StatusOK)
	e.call("POST", "/v1/streams/proto/records", pbInput(t, pbRecord(t, -1, []byte("x"))).marshal(t),
		append(withOwn, "content-type", "application/protobuf")...).expect(t, http.StatusOK)
	e.call("GET", "/v1/streams/read/records?seq_num=0", nil, withOwn...).expect(t, http.StatusRequestedRangeNotSatisfiable)
	e.call("GET", "/v1/streams/tail/records/tail", nil, withOwn...).expect(t, http.StatusOK)
	sse, r := e.openSSE("/v1/streams/sse/records", withOwn...)
	if r != nil {
		t.Fatalf("SSE: %v", r)
	}
	sse.close()
	s2sRead, r := e.openS2S("GET", "/v1/streams/s2s-read/records", withOwn...)
	if r != nil {
		t.Fatalf("S2S read: %v", r)
	}
	s2sRead.close()
	s2sAppend, r := e.openS2S("POST", "/v1/streams/s2s-append/records", withOwn...)
	if r != nil {
		t.Fatalf("S2S append: %v", r)
	}
	s2sAppend.send(pbInput(t, pbRecord(t, -1, []byte("x"))).marshal(t), 0)
	s2sAppend.expectMessage("AppendAck")
	s2sAppend.close()
	for _, name := range []string{"json", "proto", "read", "tail", "sse", "s2s-read", "s2s-append"} {
		jsonEqual(t, []byte(config(name)), want)
	}
	// Unset fields come from the basin default, then the system defaults.
	e.call("GET", "/v1/streams/partial/records/tail", nil, append(hb, "s2-stream-config", `{"timestamping":{"mode":"arrival"}}`)...).
		expect(t, http.StatusOK)
	jsonEqual(t, []byte(config("partial")), `{"storage_class":"express","retention_policy":{"age":3600},
		"timestamping":{"mode":"arrival","uncapped":false},"delete_on_empty":{"min_age_secs":0}}`)
	// No header: the basin defaults.
	e.appendJSON("plain", "x")
	jsonEqual(t, []byte(config("plain")), `{"storage_class":"express","retention_policy":{"age":3600},
		"timestamping":{"mode":"client-prefer","uncapped":false},"delete_on_empty":{"min_age_secs":0}}`)
	// The header is ignored when the stream exists.
	e.call("POST", "/v1/streams/json/records", records, append(hb, "s2-stream-config", `{"storage_class":"express"}`)...).expect(t, http.StatusOK)
	jsonEqual(t, []byte(config("json")), want)

	// A value that does not decode is 400 bad_header, before the body and
	// before any auto-create; a semantic problem is 422 invalid, as in a
	// create-stream body.
	for _, v := range []string{
		"", "not json", "[]", "null", `{"storage_class":"cold"}`, `{"retention_policy":{"age":-1}}`,
		`{"retention_policy":{}}`, `{"unknown":1}`, `{"timestamping":{"mode":"arrival","extra":true}}`,
		`{"retention_policy":{"infinite":{"x":1}}}`, `{"delete_on_empty":{"min_age_secs":1,"max":2}}`,
	} {
		bad := append(hb, "s2-stream-config", v)
		e.call("POST", "/v1/streams/bad/records", "not json", append(bad, "content-type", "application/json")...).
			expectError(t, http.StatusBadRequest, "bad_header")
		e.call("GET", "/v1/streams/bad/records?seq_num=0", nil, bad...).expectError(t, http.StatusBadRequest, "bad_header")
		e.call("GET", "/v1/streams/bad/records/tail", nil, bad...).expectError(t, http.StatusBadRequest, "bad_header")
		_, r = e.openSSE("/v1/streams/bad/records", bad...)
		r.expectError(t, http.StatusBadRequest, "bad_header")
		_, r = e.openS2S("POST", "/v1/streams/bad/records", bad...)
		r.expectError(t, http.StatusBadRequest, "bad_header")
		// Also for a stream that exists.
		e.call("GET", "/v1/streams/json/records/tail", nil, bad...).expectError(t, http.StatusBadRequest, "bad_header")
	}
	zeroAge := append(hb, "s2-stream-config", `{"retention_policy":{"age":0}}`)
	e.call("POST", "/v1/streams/bad/records", records, zeroAge...).expectError(t, http.StatusUnprocessableEntity, "invalid")
	e.call("GET", "/v1/streams/bad/records?seq_num=0", nil, zeroAge...).expectError(t, http.StatusUnprocessableEntity, "invalid")
	_, r = e.openS2S("GET", "/v1/streams/bad/records", zeroAge...)
	r.expectError(t, http.StatusUnprocessableEntity, "invalid")
	if exists("bad") {
		t.Fatal("a request with an invalid s2-stream-config auto-created its stream")
	}
}
