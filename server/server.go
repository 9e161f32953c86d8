// Package server is the HTTP transport of s2lite: it maps the S2 v1 API
// (JSON, protobuf, Server-Sent Events and S2S sessions over HTTP/1.1,
// cleartext HTTP/2 and TLS) onto stream.Service, which owns every semantic
// rule. See shared/spec/API.md.
package server

import (
	"cmp"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/s2lite/s2lite/engine"
	"github.com/s2lite/s2lite/internal/membudget"
	"github.com/s2lite/s2lite/stream"
	"github.com/s2lite/s2lite/usage"
)

// Options configure a Server. The zero value is usable.
type Options struct {
	// Logger receives request failures and lifecycle events. Default:
	// discard.
	Logger *slog.Logger
	// DisableCORS turns off CORS handling (--no-cors).
	DisableCORS bool
	// CORSOrigins are the origins allowed to send credentials (mirrored,
	// with Access-Control-Allow-Credentials); empty lets any origin call
	// without credentials (--cors-allow-origin).
	CORSOrigins []string
	// EngineMetrics, when set, feeds storage-engine gauges and counters to
	// /metrics (typically engine.DB.Metrics).
	EngineMetrics func() engine.Metrics
	// Ready, when set, is consulted by /health and before every /v1
	// request, so it must be cheap: a non-nil error makes them answer 503
	// with the error as the reason.
	Ready func() error
	// Durable, when set, is consulted by /ready on top of Ready: a
	// non-nil error says appends cannot become durable now (the store
	// does not answer). It must be cheap.
	Durable func() error
	// BodyStallTimeout ends a unary request whose body makes no progress
	// for this long (default 30 s).
	BodyStallTimeout time.Duration
	// Memory is the server-wide memory budget that request bodies,
	// decoded inputs, S2S frames and read-session buffers draw from; a
	// request that cannot get memory is answered 429 rate_limited. Nil
	// means unlimited.
	Memory *membudget.Budget
	// ReadMemory, when set, is the budget that SSE and S2S read sessions
	// draw their buffers from instead of Memory, so that readers cannot
	// starve appends of memory.
	ReadMemory *membudget.Budget
	// SessionWriteStallTimeout drops a read session (and ends a unary
	// response) whose client stops taking data for this long, returning
	// its memory (default 30 s).
	SessionWriteStallTimeout time.Duration
	// MaxReadSessions caps the SSE and S2S read sessions open at once;
	// more are answered 429 rate_limited (default 4096; negative: no cap).
	MaxReadSessions int
	// MaxConcurrentStreams caps the HTTP/2 streams (requests) one
	// connection may have open at once (default 128).
	MaxConcurrentStreams int
	// Auth, when set, turns on access tokens: every /v1 request must
	// carry a token that permits it, and /v1/access-tokens issues, lists
	// and revokes them. Nil serves every request (serve --no-auth).
	Auth Authority
	// SeparateMetrics stops serving /metrics on the API's listener: they
	// are served on their own (MetricsHandler).
	SeparateMetrics bool
	// EnableImport turns on POST /v1/streams/{stream}/import, which writes
	// records at given sequence numbers (serve --enable-import).
	EnableImport bool
	// Usage, when set, serves the usage metrics API (/v1/metrics…) and
	// counts account and basin operations; nil answers it 501.
	Usage UsageMetrics
	// BasinStorage, when set, exports each basin's attributed
	// object-store requests and bytes on /metrics, labelled by basin
	// (typically usage.Recorder.BasinStorage; serve --metrics-per-basin).
	// Off by default: one series per basin.
	BasinStorage func() map[string]usage.StorageUse
	// Now is the clock of the metrics API's range checks. Default
	// time.Now.
	Now func() time.Time
}

// Server serves the S2 API over HTTP for one stream.Service.
type Server struct {
	svc     *stream.Service
	log     *slog.Logger
	opts    Options
	metrics *metrics
	errLog  *logThrottle
	router  router
	handler http.Handler

	// drainCtx is cancelled when shutdown begins: read sessions and long
	// polls end, append sessions stop taking input.
	drainCtx context.Context
	drain    context.CancelFunc
	// abortCtx is cancelled when the grace period of a shutdown is over:
	// appends still waiting for durability (a hung store) are answered
	// 503 with their outcome unknown, rather than cut off without an
	// answer when the connections close.
	abortCtx context.Context
	abort    context.CancelFunc

	readSessions atomic.Int64 // open SSE and S2S read sessions

	mu       sync.Mutex
	draining bool
	active   int           // requests being served
	idle     chan struct{} // closed when draining and active reaches 0
	servers  []*http.Server
}

// New returns a Server for svc. The caller keeps ownership of svc: after
// Shutdown it closes svc and then the engine.
func New(svc *stream.Service, opts Options) *Server {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Server{
		svc:  svc,
		log:  opts.Logger,
		opts: opts,
		idle: make(chan struct{}),
		// One line per kind of server error every 10 s at most.
		errLog: newLogThrottle(10 * time.Second),
	}
	s.drainCtx, s.drain = context.WithCancel(context.Background())
	s.abortCtx, s.abort = context.WithCancel(context.Background())
	s.metrics = newMetrics(opts.EngineMetrics)
	if opts.BasinStorage != nil {
		s.metrics.reg.MustRegister(&basinStorageCollector{snapshot: opts.BasinStorage})
	}
	s.routes()
	var h http.Handler = http.HandlerFunc(s.serveHTTP)
	if !opts.DisableCORS {
		h = cors(h, opts.CORSOrigins)
	}
	s.handler = h
	return s
}

// Handler is the API handler. It serves HTTP/2 when the http.Server it is
// mounted on does; Serve and ServeTLS set that up.
func (s *Server) Handler() http.Handler { return s.handler }

// Serve accepts HTTP/1.1 and cleartext HTTP/2 (prior knowledge, h2c) on
// ln until Shutdown. It returns nil after a shutdown.
func (s *Server) Serve(ln net.Listener) error {
	hs := s.newHTTPServer()
	hs.Protocols = new(http.Protocols)
	hs.Protocols.SetHTTP1(true)
	hs.Protocols.SetUnencryptedHTTP2(true)
	if !s.register(hs) {
		_ = ln.Close()
		return nil
	}
	if err := hs.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("server: serve: %w", err)
	}
	return nil
}

// ServeTLS accepts HTTPS on ln, negotiating HTTP/2 or HTTP/1.1 with ALPN,
// until Shutdown. cfg must hold a certificate.
func (s *Server) ServeTLS(ln net.Listener, cfg *tls.Config) error {
	hs := s.newHTTPServer()
	hs.Protocols = new(http.Protocols)
	hs.Protocols.SetHTTP1(true)
	hs.Protocols.SetHTTP2(true)
	hs.TLSConfig = cfg.Clone()
	if !s.register(hs) {
		_ = ln.Close()
		return nil
	}
	if err := hs.ServeTLS(ln, "", ""); !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("server: serve TLS: %w", err)
	}
	return nil
}

func (s *Server) bodyStallTimeout() time.Duration {
	if s.opts.BodyStallTimeout > 0 {
		return s.opts.BodyStallTimeout
	}
	return bodyStallTimeout
}

func (s *Server) sessionWriteStallTimeout() time.Duration {
	if s.opts.SessionWriteStallTimeout > 0 {
		return s.opts.SessionWriteStallTimeout
	}
	return sessionWriteStallTimeout
}

func (s *Server) newHTTPServer() *http.Server {
	return NewHTTPServer(s.handler, s.log, s.opts.MaxConcurrentStreams)
}

// NewHTTPServer is the http.Server every s2lite listener uses for h (a
// Server's handler, or a gateway in front of several): no read or write
// timeouts, since sessions last as long as clients want; only slow header
// delivery and idle connections are cut. Set its Protocols before serving.
func NewHTTPServer(h http.Handler, log *slog.Logger, maxConcurrentStreams int) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelDebug),
		HTTP2: &http.HTTP2Config{
			// Each stream is a handler and its buffers: a cap per
			// connection keeps one client from opening thousands.
			// Streams past it are refused (REFUSED_STREAM), which
			// clients retry.
			MaxConcurrentStreams: cmp.Or(maxConcurrentStreams, defaultMaxConcurrentStreams),
		},
	}
}

// register adds hs to the servers Shutdown stops; false if shutdown has
// already begun.
func (s *Server) register(hs *http.Server) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.draining {
		return false
	}
	s.servers = append(s.servers, hs)
	return true
}

// Shutdown stops the server gracefully: listeners close and /health turns
// to 503; unary appends in flight run to completion; append sessions stop
// reading input, deliver the acks of every append already submitted and
// end with a retryable error; read sessions and long polls end. It returns
// once every request has finished, or with ctx's error after forcibly
// closing the connections that remain.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	if !s.draining {
		s.draining = true
		if s.active == 0 {
			close(s.idle)
		}
	}
	servers := append([]*http.Server(nil), s.servers...)
	s.mu.Unlock()
	s.drain()

	errs := make(chan error, len(servers))
	for _, hs := range servers {
		go func() { errs <- hs.Shutdown(ctx) }()
	}
	var err error
	for range servers {
		err = errors.Join(err, <-errs)
	}
	select {
	case <-s.idle:
	case <-ctx.Done():
		err = errors.Join(err, ctx.Err())
		// The grace period is over: appends still waiting are answered
		// now, and their handlers get a moment to write the answers
		// before the connections close.
		s.abort()
		answerCtx, cancel := context.WithTimeout(context.Background(), abortAnswerTime)
		defer cancel()
		select {
		case <-s.idle:
		case <-answerCtx.Done():
		}
		// Handlers that returned may still have answers in connection
		// buffers (HTTP/2 writes them from another goroutine): let the
		// connections go idle and close by themselves first.
		var wg sync.WaitGroup
		for _, hs := range servers {
			wg.Go(func() { _ = hs.Shutdown(answerCtx) })
		}
		wg.Wait()
	}
	if err != nil {
		for _, hs := range servers {
			_ = hs.Close()
		}
		return fmt.Errorf("server: shutdown: %w", err)
	}
	s.log.Info("http server stopped")
	return nil
}

// abortAnswerTime is how long handlers of aborted appends have to write
// their answers once the grace period is over.
const abortAnswerTime = 2 * time.Second

// abortable is ctx, also ended (with errAborted as the cause) when the
// shutdown grace period is over.
func (s *Server) abortable(ctx context.Context) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancelCause(ctx)
	stop := context.AfterFunc(s.abortCtx, func() { cancel(errAborted) })
	return ctx, func() {
		stop()
		cancel(context.Canceled)
	}
}

// enter counts a request in; false once draining.
func (s *Server) enter() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.draining {
		return false
	}
	s.active++
	return true
}

func (s *Server) leave() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.active--
	if s.draining && s.active == 0 {
		close(s.idle)
	}
}

// isDraining reports whether shutdown has begun.
func (s *Server) isDraining() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.draining
}

func (s *Server) serveHTTP(w http.ResponseWriter, r *http.Request) {
	rt, h, params := s.router.lookup(r)
	if rt == nil {
		// Unknown path: an empty 404, like the reference's router.
		writeEmpty(w, http.StatusNotFound)
		return
	}
	if h == nil {
		w.Header().Set("Allow", rt.allowed())
		writeEmpty(w, http.StatusMethodNotAllowed)
		return
	}
	rec := &statusRecorder{ResponseWriter: w, stall: s.sessionWriteStallTimeout()}
	start := time.Now()
	defer func() { s.metrics.observeRequest(rt.name, r.Method, rec.status, time.Since(start)) }()
	if !s.enter() {
		writeError(rec, r, shuttingDown())
		return
	}
	defer s.leave()
	if strings.HasPrefix(r.URL.Path, "/v1/") && s.opts.Ready != nil {
		// A fenced server must not answer from its stale memory: another
		// server owns the streams now.
		if err := s.opts.Ready(); err != nil {
			writeError(rec, r, newAPIError(http.StatusServiceUnavailable, codeUnavailable, "server unavailable: "+err.Error()))
			return
		}
	}
	if s.opts.Auth != nil && strings.HasPrefix(r.URL.Path, "/v1/") {
		var aerr *apiError
		if r, aerr = s.authorize(r, rt, params); aerr != nil {
			s.logError(r, aerr)
			writeError(rec, r, aerr)
			return
		}
	}
	if lease := s.opts.Memory.NewLease(); lease != nil {
		defer lease.Close()
		r = r.WithContext(withLease(r.Context(), lease))
	}
	guardBody(w, r, s.bodyStallTimeout())
	if s.opts.Usage != nil {
		defer func() { s.countUsage(r, rt, params, rec.status) }()
	}
	if err := h(rec, r, params); err != nil {
		e := toAPIError(err, fromJSON)
		s.logError(r, e)
		if rec.status != 0 {
			// The response has started; the handler should have
			// reported the error in-band. Nothing more can be said.
			return
		}
		writeError(rec, r, e)
	}
}

func (s *Server) logError(r *http.Request, e *apiError) {
	level := slog.LevelDebug
	if e.status >= http.StatusInternalServerError {
		level = slog.LevelError
	}
	if !s.log.Enabled(r.Context(), level) {
		return
	}
	attrs := []any{"method", r.Method, "path", r.URL.Path, "status", e.status, "body", string(e.body), "err", e.cause}
	if level == slog.LevelError {
		// Server-side failures come in bursts (a store outage fails every
		// request): the first of each kind, then one per window.
		ok, held := s.errLog.allow(string(e.body))
		if !ok {
			return
		}
		if held > 0 {
			attrs = append(attrs, "similar_errors_not_logged", held)
		}
	}
	s.log.Log(r.Context(), level, "request failed", attrs...)
}

// statusRecorder remembers the status for metrics. Unwrap lets
// http.ResponseController reach the real writer for flushes and deadlines.
// Every write and flush must complete within stall: a client that stops
// reading its response (a read session that never drains) would otherwise
// hold the handler and its buffers for as long as it likes. The deadline
// is cleared after each write, so an idle session is not cut.
type statusRecorder struct {
	http.ResponseWriter
	status int
	stall  time.Duration
}

// guard arms the write deadline; the returned func disarms it.
func (r *statusRecorder) guard() func() {
	if r.stall <= 0 {
		return func() {}
	}
	rc := http.NewResponseController(r.ResponseWriter)
	if rc.SetWriteDeadline(time.Now().Add(r.stall)) != nil {
		return func() {}
	}
	return func() { _ = rc.SetWriteDeadline(time.Time{}) }
}

func (r *statusRecorder) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *statusRecorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	defer r.guard()()
	return r.ResponseWriter.Write(b)
}

// FlushError is what http.ResponseController.Flush calls: unlike Flush,
// it reports a client that has gone away.
func (r *statusRecorder) FlushError() error {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	defer r.guard()()
	return http.NewResponseController(r.ResponseWriter).Flush()
}

func (r *statusRecorder) Flush() { _ = r.FlushError() }

func (r *statusRecorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }
