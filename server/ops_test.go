package server

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"

	"github.com/s2lite/s2lite/engine"
	"github.com/s2lite/s2lite/objstore"
	"github.com/s2lite/s2lite/stream"
)

func TestHealth(t *testing.T) {
	var ready error
	e := newEnv(t, envOptions{server: Options{Ready: func() error { return ready }}})
	for _, p := range []string{"/health", "/ping"} {
		r := e.call("GET", p, nil).expect(t, http.StatusOK)
		if string(r.body) != "OK" || !strings.HasPrefix(r.header.Get("Content-Type"), "text/plain") {
			t.Fatalf("%s: %q %v", p, r.body, r.header)
		}
		e.callWith(e.h2, "GET", p, nil).expect(t, http.StatusOK)
	}
	ready = errors.New("storage fenced")
	if r := e.call("GET", "/health", nil).expect(t, http.StatusServiceUnavailable); !strings.Contains(string(r.body), "storage fenced") {
		t.Fatalf("health body %q", r.body)
	}
}

func TestMetricsExposition(t *testing.T) {
	e := newEnv(t, envOptions{})
	e.basinAndStream("m", nil)
	e.appendJSON("m", "x")
	e.call("GET", "/v1/streams/m/records?seq_num=0", nil, "s2-basin", testBasin).expect(t, http.StatusOK)
	c, _ := e.openSSE("/v1/streams/m/records?seq_num=0", "s2-basin", testBasin)
	c.expect("batch")
	c.expect("ping") // following now

	r := e.call("GET", "/metrics", nil).expect(t, http.StatusOK)
	if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		t.Fatalf("content type %q", ct)
	}
	text := string(r.body)
	for _, want := range []string{
		"s2_append_ack_latency_seconds_count 1",
		"s2_append_permit_latency_seconds",
		"s2_append_batch_records_sum 1",
		"s2_append_batch_bytes_sum 9",
		"s2lite_append_inflight_bytes 0",
		"s2lite_append_sessions 0",
		"s2lite_read_latency_seconds_count 1",
		`s2lite_read_sessions{transport="sse"} 1`,
		`s2lite_read_followers{transport="sse"} 1`,
		`s2lite_http_requests_total{method="POST",route="/v1/streams/{stream}/records",status="200"} 1`,
		"s2lite_engine_wal_put_seconds_total",
		"s2lite_engine_wal_bytes_written_total",
		"s2lite_engine_memtable_bytes",
		"s2lite_engine_l0_bytes",
		"s2lite_engine_block_cache_hit_ratio",
		"s2lite_engine_write_stalls_total",
		"go_goroutines",
		"process_",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
	c.close()
	// The gauges fall back when the session ends.
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(string(e.call("GET", "/metrics", nil).body), `s2lite_read_sessions{transport="sse"} 0`) {
		if time.Now().After(deadline) {
			t.Fatal("read session gauge did not drop")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestRouting(t *testing.T) {
	e := newEnv(t, envOptions{})
	e.basinAndStream("", nil)
	hb := []string{"s2-basin", testBasin}

	for _, p := range []string{"/", "/v1", "/v1/", "/v2/basins", "/v1/basins/", "/v1/streams//records", "/v1/streams/a/b/records", "/healthz"} {
		r := e.call("GET", p, nil, hb...).expect(t, http.StatusNotFound)
		if len(r.body) != 0 {
			t.Fatalf("%s: 404 body %q", p, r.body)
		}
	}
	r := e.call("DELETE", "/v1/streams", nil, hb...).expect(t, http.StatusMethodNotAllowed)
	if r.header.Get("Allow") == "" || len(r.body) != 0 {
		t.Fatalf("405: %v %q", r.header, r.body)
	}
	e.call("POST", "/v1/streams/x/records/tail", nil, hb...).expect(t, http.StatusMethodNotAllowed)
	e.call("HEAD", "/health", nil).expect(t, http.StatusOK)

	// Stream names are single percent-decoded segments.
	for _, name := range []string{"a/b", "日本語", "with space", "a%2Fb", "..."} {
		e.call("POST", "/v1/streams", map[string]any{"stream": name}, hb...).expect(t, http.StatusCreated)
		path := "/v1/streams/" + url.PathEscape(name)
		e.call("GET", path, nil, hb...).expect(t, http.StatusOK)
		e.call("POST", path+"/records", map[string]any{"records": []any{map[string]any{"body": name}}}, hb...).expect(t, http.StatusOK)
		e.call("GET", path+"/records/tail", nil, hb...).expect(t, http.StatusOK)
		var b jsonReadBatch
		e.call("GET", path+"/records?seq_num=0", nil, hb...).expect(t, http.StatusOK).decode(t, &b)
		if len(b.Records) != 1 || b.Records[0].Body != name {
			t.Fatalf("%q read back %+v", name, b)
		}
	}
}

func TestCORS(t *testing.T) {
	preflight := func(e *env, origin string) *response {
		return e.call("OPTIONS", "/v1/basins", nil, "Origin", origin, "Access-Control-Request-Method", "POST",
			"Access-Control-Request-Headers", "content-type,authorization")
	}
	// Default: any origin, never with credentials.
	e := newEnv(t, envOptions{})
	r := preflight(e, "https://app.example").expect(t, http.StatusOK)
	for k, want := range map[string]string{
		"Access-Control-Allow-Origin":      "*",
		"Access-Control-Allow-Credentials": "",
		"Access-Control-Allow-Methods":     "POST",
		"Access-Control-Allow-Headers":     "content-type,authorization",
	} {
		if got := r.header.Get(k); got != want {
			t.Errorf("preflight %s = %q, want %q", k, got, want)
		}
	}
	r = e.call("GET", "/v1/basins", nil, "Origin", "https://evil.example").expect(t, http.StatusOK)
	if r.header.Get("Access-Control-Allow-Origin") != "*" || r.header.Get("Access-Control-Allow-Credentials") != "" {
		t.Fatalf("simple request headers %v", r.header)
	}

	// An allow-list: listed origins with credentials, others nothing.
	listed := newEnv(t, envOptions{server: Options{CORSOrigins: []string{"https://app.example"}}})
	r = preflight(listed, "https://app.example").expect(t, http.StatusOK)
	if r.header.Get("Access-Control-Allow-Origin") != "https://app.example" || r.header.Get("Access-Control-Allow-Credentials") != "true" {
		t.Fatalf("listed origin: %v", r.header)
	}
	preflight(listed, "https://evil.example").expect(t, http.StatusMethodNotAllowed)
	r = listed.call("GET", "/v1/basins", nil, "Origin", "https://evil.example").expect(t, http.StatusOK)
	if r.header.Get("Access-Control-Allow-Origin") != "" {
		t.Fatalf("an unlisted origin got CORS headers: %v", r.header)
	}

	off := newEnv(t, envOptions{server: Options{DisableCORS: true}})
	r = off.call("GET", "/v1/basins", nil, "Origin", "https://app.example").expect(t, http.StatusOK)
	if r.header.Get("Access-Control-Allow-Origin") != "" {
		t.Fatalf("CORS header with CORS disabled: %v", r.header)
	}
	off.call("OPTIONS", "/v1/basins", nil, "Origin", "https://app.example", "Access-Control-Request-Method", "POST").expect(t, http.StatusMethodNotAllowed)
}

func TestUnsupportedEndpoints(t *testing.T) {
	e := newEnv(t, envOptions{})
	for _, c := range []struct {
		method, path string
		body         any
	}{
		{"GET", "/v1/access-tokens", nil},
		{"GET", "/v1/access-tokens?prefix=a&limit=5", nil},
		{"POST", "/v1/access-tokens", map[string]any{"id": "tok", "scope": map[string]any{}}},
		{"DELETE", "/v1/access-tokens/tok", nil},
		{"GET", "/v1/metrics?set=account-ops&start=1&end=2&interval=hour", nil},
		{"GET", "/v1/metrics/some-basin?set=storage", nil},
		{"GET", "/v1/metrics/some-basin/some%2Fstream?set=storage", nil},
		{"GET", "/v1/locations", nil},
		{"GET", "/v1/locations/default", nil},
		{"PUT", "/v1/locations/default", json.RawMessage(`"aws:us-east-1"`)},
	} {
		r := e.call(c.method, c.path, c.body).expectError(t, http.StatusNotImplemented, "not_implemented")
		jsonEqual(t, r.body, `{"code":"not_implemented","message":"Not implemented"}`)
	}
	e.call("GET", "/v1/access-tokens?limit=-1", nil).expectError(t, http.StatusBadRequest, "bad_query")
	e.call("POST", "/v1/access-tokens", map[string]any{"scope": map[string]any{}}).expectError(t, http.StatusBadRequest, "bad_json")
	e.call("POST", "/v1/access-tokens", `{"id":"x","scope":{}}`).expectError(t, http.StatusBadRequest, "bad_json")
	e.call("DELETE", "/v1/access-tokens/..", nil).expectError(t, http.StatusBadRequest, "bad_path")
	e.call("DELETE", "/v1/access-tokens/"+strings.Repeat("t", 97), nil).expectError(t, http.StatusBadRequest, "bad_path")
	e.call("GET", "/v1/metrics", nil).expectError(t, http.StatusBadRequest, "bad_query")
	e.call("GET", "/v1/metrics?set=storage", nil).expectError(t, http.StatusBadRequest, "bad_query")
	e.call("GET", "/v1/metrics?set=account-ops&start=-5", nil).expectError(t, http.StatusBadRequest, "bad_query")
	e.call("GET", "/v1/metrics?set=account-ops&interval=week", nil).expectError(t, http.StatusBadRequest, "bad_query")
	e.call("GET", "/v1/metrics/Bad_Basin?set=storage", nil).expectError(t, http.StatusBadRequest, "bad_path")
	e.call("GET", "/v1/metrics/some-basin/..?set=storage", nil).expectError(t, http.StatusBadRequest, "bad_path")
	e.call("PUT", "/v1/locations/default", json.RawMessage(`"bad location!"`)).expectError(t, http.StatusBadRequest, "bad_json")
	e.call("PUT", "/v1/locations/default", `"x"`, "content-type", "text/plain").expectError(t, http.StatusBadRequest, "bad_json")
}

func TestCompressedBodies(t *testing.T) {
	e := newEnv(t, envOptions{})
	e.basinAndStream("c", nil)
	hb := []string{"s2-basin", testBasin}
	big := strings.Repeat("compressible ", 300)

	// Request bodies in gzip and zstd are decoded.
	payload := `{"records":[{"body":"` + big + `"}]}`
	var gz bytes.Buffer
	gw := gzip.NewWriter(&gz)
	_, _ = gw.Write([]byte(payload))
	_ = gw.Close()
	e.call("POST", "/v1/streams/c/records", gz.Bytes(), append(hb, "content-type", "application/json", "content-encoding", "gzip")...).expect(t, http.StatusOK)
	zw, _ := zstd.NewWriter(nil, zstd.WithEncoderConcurrency(1))
	zbody := zw.EncodeAll([]byte(payload), nil)
	_ = zw.Close()
	e.call("POST", "/v1/streams/c/records", zbody, append(hb, "content-type", "application/json", "content-encoding", "zstd")...).expect(t, http.StatusOK)
	e.call("POST", "/v1/streams/c/records", []byte("garbage"), append(hb, "content-type", "application/json", "content-encoding", "gzip")...).
		expectError(t, http.StatusBadRequest, "bad_json")
	e.call("POST", "/v1/streams/c/records", payload, append(hb, "content-type", "application/json", "content-encoding", "br")...).
		expectError(t, http.StatusBadRequest, "bad_header")

	// Large responses are compressed when the client accepts it.
	r := e.call("GET", "/v1/streams/c/records?seq_num=0", nil, append(hb, "accept-encoding", "gzip")...).expect(t, http.StatusOK)
	if r.header.Get("Content-Encoding") != "gzip" {
		t.Fatalf("response encoding %q", r.header.Get("Content-Encoding"))
	}
	gr, err := gzip.NewReader(bytes.NewReader(r.body))
	if err != nil {
		t.Fatal(err)
	}
	plain, err := io.ReadAll(gr)
	if err != nil || !bytes.Contains(plain, []byte(big)) {
		t.Fatalf("decompressed body: %v", err)
	}
	r = e.call("GET", "/v1/streams/c/records?seq_num=0", nil, append(hb, "accept-encoding", "zstd, gzip")...).expect(t, http.StatusOK)
	if r.header.Get("Content-Encoding") != "zstd" {
		t.Fatalf("response encoding %q", r.header.Get("Content-Encoding"))
	}
	// Small ones are not.
	r = e.call("GET", "/v1/streams/c/records/tail", nil, append(hb, "accept-encoding", "gzip")...).expect(t, http.StatusOK)
	if r.header.Get("Content-Encoding") != "" {
		t.Fatalf("small response compressed")
	}
}

func TestTLS(t *testing.T) {
	ctx := context.Background()
	db, err := engine.Open(ctx, engine.Options{Store: objstore.NewMemory()})
	if err != nil {
		t.Fatal(err)
	}
	svc, err := stream.New(ctx, db, stream.Options{})
	if err != nil {
		t.Fatal(err)
	}
	srv := New(svc, Options{})
	cfg, err := SelfSignedTLSConfig()
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.ServeTLS(ln, cfg) }()

	for _, h2 := range []bool{true, false} {
		tr := &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, ForceAttemptHTTP2: h2}
		if !h2 {
			tr.TLSNextProto = map[string]func(string, *tls.Conn) http.RoundTripper{}
		}
		c := &http.Client{Transport: tr}
		resp, err := c.Post("https://"+ln.Addr().String()+"/v1/basins", "application/json", strings.NewReader(`{"basin":"tls-basin-`+map[bool]string{true: "a", false: "b"}[h2]+`"}`))
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		_ = resp.Body.Close()
		wantProto := map[bool]int{true: 2, false: 1}[h2]
		if resp.StatusCode != http.StatusCreated || resp.ProtoMajor != wantProto {
			t.Fatalf("TLS h2=%v: status %d over HTTP/%d", h2, resp.StatusCode, resp.ProtoMajor)
		}
		tr.CloseIdleConnections()
	}
	shutdownCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		t.Fatal(err)
	}
	if err := <-served; err != nil {
		t.Fatal(err)
	}
	if err := errors.Join(svc.Close(), db.Close()); err != nil {
		t.Fatal(err)
	}
}
