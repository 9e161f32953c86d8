package server

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/http2"

	"github.com/s2lite/s2lite/authstore"
	"github.com/s2lite/s2lite/engine"
	"github.com/s2lite/s2lite/internal/s3test"
	"github.com/s2lite/s2lite/objstore"
	"github.com/s2lite/s2lite/stream"
	"github.com/s2lite/s2lite/usage"
)

// env is a server on a loopback port over a fresh engine, with an
// HTTP/1.1 client and a cleartext HTTP/2 (h2c) client.
type env struct {
	t     testing.TB
	srv   *Server
	svc   *stream.Service
	db    *engine.DB
	store objstore.Store
	base  string
	h1    *http.Client
	h2    *http.Client
	// h2tr is kept to close its connections.
	h1tr   *http.Transport
	h2tr   *http2.Transport
	served chan error
	closed bool
	// token is sent with every call unless the call sets authorization.
	token string
	// usage is the usage recorder (envOptions.usage), its object store
	// metered.
	usage *usage.Recorder
}

type envOptions struct {
	store  objstore.Store
	server Options
	stream stream.Options
	// auth turns access tokens on, with rootToken as the root token.
	auth bool
	// usage serves the usage metrics API from a recorder on the engine,
	// on the clock usageNow (default time.Now).
	usage    bool
	usageNow func() time.Time
	// perBasin exports the usage recorder's per-basin object-store
	// counters on /metrics (serve --metrics-per-basin).
	perBasin bool
}

// rootToken is the root token of an env with auth on.
const rootToken = "test-root-token-0123456789"

func newEnv(t testing.TB, o envOptions) *env {
	t.Helper()
	ctx := context.Background()
	if o.store == nil {
		o.store = objstore.NewMemory()
	}
	engineStore := o.store
	var meter *usage.StorageMeter
	if o.usage {
		meter = usage.NewStorageMeter(o.store)
		engineStore = meter
	}
	db, err := engine.Open(ctx, engine.Options{Store: engineStore})
	if err != nil {
		t.Fatalf("engine.Open: %v", err)
	}
	so := o.stream
	if so.HeartbeatMin == 0 {
		so.HeartbeatMin, so.HeartbeatMax = 50*time.Millisecond, 100*time.Millisecond
	}
	var rec *usage.Recorder
	if o.usage {
		rec, err = usage.Open(ctx, usage.EngineStore{DB: db}, usage.Options{Now: o.usageNow, StorageCounts: meter.Counts})
		if err != nil {
			t.Fatalf("usage.Open: %v", err)
		}
		t.Cleanup(func() { _ = rec.Close(context.Background()) })
		so.Usage, o.server.Usage, o.server.Now = rec, rec, o.usageNow
		if o.perBasin {
			o.server.BasinStorage = rec.BasinStorage
		}
	}
	svc, err := stream.New(ctx, db, so)
	if err != nil {
		t.Fatalf("stream.New: %v", err)
	}
	o.server.EngineMetrics = db.Metrics
	if o.auth {
		tokens, _, err := authstore.Open(ctx, db, authstore.Options{RootToken: rootToken})
		if err != nil {
			t.Fatalf("authstore.Open: %v", err)
		}
		o.server.Auth = tokens
	}
	srv := New(svc, o.server)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	e := &env{
		t: t, srv: srv, svc: svc, db: db, store: o.store, usage: rec,
		base:   "http://" + ln.Addr().String(),
		served: make(chan error, 1),
	}
	if o.auth {
		e.token = rootToken
	}
	go func() { e.served <- srv.Serve(ln) }()
	e.h1tr = &http.Transport{DisableCompression: true}
	e.h1 = &http.Client{Transport: e.h1tr, Timeout: 30 * time.Second}
	e.h2tr = &http2.Transport{
		AllowHTTP:          true,
		DisableCompression: true,
		DialTLSContext: func(ctx context.Context, network, addr string, _ *tls.Config) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, network, addr)
		},
	}
	e.h2 = &http.Client{Transport: e.h2tr}
	t.Cleanup(e.close)
	return e
}

// close shuts everything down in the order the binary does.
func (e *env) close() {
	if e.closed {
		return
	}
	e.closed = true
	// Idle client connections go first, or the server would hold each
	// HTTP/2 connection for its GOAWAY grace period.
	e.h1tr.CloseIdleConnections()
	e.h2tr.CloseIdleConnections()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := e.srv.Shutdown(ctx); err != nil {
		e.t.Errorf("Shutdown: %v", err)
	}
	if err := <-e.served; err != nil {
		e.t.Errorf("Serve: %v", err)
	}
	if err := e.svc.Close(); err != nil {
		e.t.Errorf("stream service Close: %v", err)
	}
	if err := e.db.Close(); err != nil {
		e.t.Errorf("engine Close: %v", err)
	}
	e.h1tr.CloseIdleConnections()
	e.h2tr.CloseIdleConnections()
}

// storeKinds runs fn against the in-memory store, a local directory and,
// when the harness provides one, MinIO.
func storeKinds(t *testing.T, fn func(t *testing.T, store objstore.Store)) {
	t.Run("memory", func(t *testing.T) { fn(t, objstore.NewMemory()) })
	t.Run("local", func(t *testing.T) {
		store, err := objstore.NewLocal(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		fn(t, store)
	})
	t.Run("s3", func(t *testing.T) {
		if !s3test.Enabled() {
			t.Skip("S2LITE_TEST_S3 not set")
		}
		fn(t, objstore.NewRetrying(s3test.Store(t), objstore.RetryOptions{}))
	})
}

type response struct {
	status int
	header http.Header
	body   []byte
	proto  int
}

// call sends a request. body is nil, a string or []byte (sent as is), or
// any other value (sent as JSON with Content-Type application/json unless
// kv sets one). kv are header name/value pairs.
func (e *env) call(method, path string, body any, kv ...string) *response {
	e.t.Helper()
	return e.callWith(e.h1, method, path, body, kv...)
}

func (e *env) callWith(c *http.Client, method, path string, body any, kv ...string) *response {
	e.t.Helper()
	var rd io.Reader
	var jsonBody bool
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		data, err := json.Marshal(b)
		if err != nil {
			e.t.Fatal(err)
		}
		rd, jsonBody = bytes.NewReader(data), true
	}
	req, err := http.NewRequest(method, e.base+path, rd)
	if err != nil {
		e.t.Fatal(err)
	}
	if jsonBody {
		req.Header.Set("Content-Type", "application/json")
	}
	if e.token != "" {
		req.Header.Set("Authorization", "Bearer "+e.token)
	}
	for i := 0; i+1 < len(kv); i += 2 {
		req.Header.Set(kv[i], kv[i+1])
	}
	resp, err := c.Do(req)
	if err != nil {
		e.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatalf("%s %s: reading body: %v", method, path, err)
	}
	return &response{status: resp.StatusCode, header: resp.Header, body: data, proto: resp.ProtoMajor}
}

func (r *response) String() string { return fmt.Sprintf("%d %s", r.status, r.body) }

// expect fails unless the status is want; it returns r for chaining.
func (r *response) expect(t testing.TB, want int) *response {
	t.Helper()
	if r.status != want {
		t.Fatalf("status %d, want %d; body %s", r.status, want, r.body)
	}
	return r
}

// expectError checks status, JSON content type and error code.
func (r *response) expectError(t testing.TB, status int, code string) *response {
	t.Helper()
	r.expect(t, status)
	if ct := r.header.Get("Content-Type"); ct != "application/json" {
		t.Fatalf("error content type %q", ct)
	}
	var info struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	}
	if err := json.Unmarshal(r.body, &info); err != nil {
		t.Fatalf("error body %s: %v", r.body, err)
	}
	if info.Code != code || info.Message == "" {
		t.Fatalf("error body %s, want code %q with a message", r.body, code)
	}
	return r
}

func (r *response) decode(t testing.TB, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("decoding %s: %v", r.body, err)
	}
}

// object decodes a JSON object body into a generic map.
func (r *response) object(t testing.TB) map[string]any {
	t.Helper()
	var m map[string]any
	r.decode(t, &m)
	return m
}

// jsonEqual compares a body with the JSON text want, ignoring layout.
func jsonEqual(t testing.TB, got []byte, want string) {
	t.Helper()
	var g, w any
	if err := json.Unmarshal(got, &g); err != nil {
		t.Fatalf("body %s: %v", got, err)
	}
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatalf("want %s: %v", want, err)
	}
	gb, _ := json.Marshal(g)
	wb, _ := json.Marshal(w)
	if !bytes.Equal(gb, wb) {
		t.Fatalf("body\n  %s\nwant\n  %s", gb, wb)
	}
}

const testBasin = "test-basin"

// basinAndStream creates testBasin (with config) and a stream in it.
func (e *env) basinAndStream(name string, basinConfig any) {
	e.t.Helper()
	body := map[string]any{"basin": testBasin}
	if basinConfig != nil {
		body["config"] = basinConfig
	}
	if r := e.call("GET", "/v1/basins/"+testBasin, nil); r.status == http.StatusNotFound {
		e.call("POST", "/v1/basins", body).expect(e.t, http.StatusCreated)
	}
	if name != "" {
		e.call("POST", "/v1/streams", map[string]any{"stream": name}, "s2-basin", testBasin).expect(e.t, http.StatusCreated)
	}
}

// appendJSON appends string records and returns the ack.
func (e *env) appendJSON(streamPath string, bodies ...string) jsonAppendAck {
	e.t.Helper()
	recs := make([]map[string]any, len(bodies))
	for i, b := range bodies {
		recs[i] = map[string]any{"body": b}
	}
	var ack jsonAppendAck
	e.call("POST", "/v1/streams/"+streamPath+"/records", map[string]any{"records": recs}, "s2-basin", testBasin).
		expect(e.t, http.StatusOK).decode(e.t, &ack)
	return ack
}

func jsonReader(s string) io.Reader { return strings.NewReader(s) }
