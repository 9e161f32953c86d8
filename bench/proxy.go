package main

import (
	"context"
	"errors"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// countingProxy is a reverse proxy on loopback between s2lite (or the
// baseline client) and the object store. It counts every request by
// operation (PUT, GET, HEAD, LIST, DELETE, POST) and by the kind of object
// (wal, sst, manifest, other, baseline), with the bytes sent (PUT) or
// received (GET), and keeps the size and duration of each WAL PUT. It does
// not touch signed headers: Host is passed through unchanged, so SigV4
// signatures made for the proxy's address still verify.
type countingProxy struct {
	url  string // http://127.0.0.1:port
	srv  *http.Server
	done chan struct{}

	mu      sync.Mutex
	counts  map[string]*opCount // "op class"
	walPuts []walPut
}

// opCount counts one kind of request.
type opCount struct {
	Requests int64 `json:"requests"`
	Bytes    int64 `json:"bytes"`
	Errors   int64 `json:"errors"`
	// Nanos is the summed duration of the requests at the proxy.
	Nanos int64 `json:"total_ns"`
}

// walPut is one WAL object PUT as seen by the proxy.
type walPut struct {
	At   time.Time
	Size int64
	Dur  time.Duration
}

// baselinePrefix marks the baseline client's objects so they are never
// counted as s2lite's.
const baselinePrefix = "bench-baseline"

func startProxy(target string) (*countingProxy, error) {
	u, err := url.Parse(target)
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	tr := &http.Transport{
		Proxy:               nil,
		MaxIdleConns:        1024,
		MaxIdleConnsPerHost: 1024,
		IdleConnTimeout:     time.Minute,
		DisableCompression:  true,
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
	}
	rp := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(u)
			pr.Out.Host = pr.In.Host // signatures cover Host
		},
		Transport:     tr,
		FlushInterval: -1,
		ErrorLog:      log.New(io.Discard, "", 0),
	}
	p := &countingProxy{url: "http://" + ln.Addr().String(), counts: map[string]*opCount{}, done: make(chan struct{})}
	p.srv = &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		op, class := classify(r)
		cw := &countingWriter{ResponseWriter: w, status: http.StatusOK}
		var body *countingReader
		if r.Body != nil && r.Body != http.NoBody {
			body = &countingReader{r: r.Body}
			r.Body = body
		}
		start := time.Now()
		rp.ServeHTTP(cw, r)
		dur := time.Since(start)
		var n int64
		if body != nil {
			n = body.n.Load()
		}
		if op == "GET" {
			n = cw.n
		}
		p.record(op, class, n, cw.status >= 400, start, dur)
	})}
	go func() {
		defer close(p.done)
		if err := p.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Printf("proxy: %v", err)
		}
	}()
	return p, nil
}

func (p *countingProxy) close() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = p.srv.Shutdown(ctx)
	<-p.done
}

// classify names the operation and the kind of object of an S3 request
// (path-style: /bucket/key).
func classify(r *http.Request) (op, class string) {
	path := strings.TrimPrefix(r.URL.Path, "/")
	key := ""
	if i := strings.IndexByte(path, '/'); i >= 0 {
		key = path[i+1:]
	}
	q := r.URL.Query()
	switch r.Method {
	case http.MethodPut:
		op = "PUT"
	case http.MethodGet:
		op = "GET"
		if key == "" || q.Has("list-type") || q.Has("prefix") {
			op = "LIST"
		}
	case http.MethodHead:
		op = "HEAD"
	case http.MethodDelete:
		op = "DELETE"
	case http.MethodPost:
		op = "POST"
		if q.Has("delete") {
			op = "DELETE"
		}
	default:
		op = r.Method
	}
	switch {
	case strings.Contains(key, baselinePrefix) || strings.Contains(q.Get("prefix"), baselinePrefix):
		class = "baseline"
	case op == "LIST":
		class = "list"
	case strings.Contains(key, "wal/"):
		class = "wal"
	case strings.Contains(key, "sst/"):
		class = "sst"
	case strings.Contains(key, "manifest/"):
		class = "manifest"
	default:
		class = "other"
	}
	return op, class
}

func (p *countingProxy) record(op, class string, n int64, failed bool, at time.Time, dur time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	k := op + " " + class
	c := p.counts[k]
	if c == nil {
		c = &opCount{}
		p.counts[k] = c
	}
	c.Requests++
	c.Bytes += n
	c.Nanos += int64(dur)
	if failed {
		c.Errors++
	}
	if op == "PUT" && class == "wal" {
		p.walPuts = append(p.walPuts, walPut{At: at, Size: n, Dur: dur})
	}
}

// proxyMark is a point in the proxy's history, for differences.
type proxyMark struct {
	counts map[string]opCount
	walIdx int
}

func (p *countingProxy) mark() proxyMark {
	p.mu.Lock()
	defer p.mu.Unlock()
	m := proxyMark{counts: map[string]opCount{}, walIdx: len(p.walPuts)}
	for k, c := range p.counts {
		m.counts[k] = *c
	}
	return m
}

// requestCounts are the requests made between two marks (baseline
// traffic excluded).
type requestCounts map[string]opCount

func (p *countingProxy) since(from, to proxyMark) (requestCounts, []walPut) {
	out := requestCounts{}
	for k, c := range to.counts {
		if strings.HasSuffix(k, " baseline") {
			continue
		}
		f := from.counts[k]
		d := opCount{Requests: c.Requests - f.Requests, Bytes: c.Bytes - f.Bytes, Errors: c.Errors - f.Errors, Nanos: c.Nanos - f.Nanos}
		if d.Requests != 0 {
			out[k] = d
		}
	}
	p.mu.Lock()
	puts := append([]walPut(nil), p.walPuts[from.walIdx:to.walIdx]...)
	p.mu.Unlock()
	return out, puts
}

// byOp sums requests and bytes per operation (PUT, GET, LIST, ...).
func (rc requestCounts) byOp() map[string]opCount {
	out := map[string]opCount{}
	for k, c := range rc {
		op, _, _ := strings.Cut(k, " ")
		o := out[op]
		o.Requests += c.Requests
		o.Bytes += c.Bytes
		o.Errors += c.Errors
		o.Nanos += c.Nanos
		out[op] = o
	}
	return out
}

func (rc requestCounts) get(k string) opCount { return rc[k] }

func (rc requestCounts) keys() []string {
	var ks []string
	for k := range rc {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

type countingWriter struct {
	http.ResponseWriter
	status int
	n      int64
}

func (w *countingWriter) WriteHeader(code int) {
	w.status = code
	w.ResponseWriter.WriteHeader(code)
}

func (w *countingWriter) Write(b []byte) (int, error) {
	n, err := w.ResponseWriter.Write(b)
	w.n += int64(n)
	return n, err
}

func (w *countingWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

type countingReader struct {
	r io.ReadCloser
	n atomic.Int64 // read by the transport's goroutine
}

func (c *countingReader) Read(b []byte) (int, error) {
	n, err := c.r.Read(b)
	c.n.Add(int64(n))
	return n, err
}

func (c *countingReader) Close() error { return c.r.Close() }
