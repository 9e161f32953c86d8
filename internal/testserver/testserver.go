// Package testserver runs a complete s2lite server (engine, stream layer,
// HTTP API) in the test's process on a loopback port, for tests of clients
// and tools that speak the API. Production code never imports it.
package testserver

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/s2lite/s2lite/authstore"
	"github.com/s2lite/s2lite/engine"
	"github.com/s2lite/s2lite/objstore"
	"github.com/s2lite/s2lite/server"
	"github.com/s2lite/s2lite/stream"
)

// Options configure a test server; the zero value is an in-memory store
// with short heartbeats.
type Options struct {
	Store  objstore.Store
	Server server.Options
	Stream stream.Options
	// RootToken, when set, turns access tokens on with this root token.
	RootToken string
}

// Server is a running s2lite server.
type Server struct {
	// URL is the endpoint, http://127.0.0.1:port.
	URL   string
	Srv   *server.Server
	Svc   *stream.Service
	DB    *engine.DB
	Store objstore.Store

	t      testing.TB
	served chan error
	closed bool
}

// Start starts a server and stops it when the test ends.
func Start(t testing.TB, o Options) *Server {
	t.Helper()
	ctx := context.Background()
	if o.Store == nil {
		o.Store = objstore.NewMemory()
	}
	db, err := engine.Open(ctx, engine.Options{Store: o.Store})
	if err != nil {
		t.Fatalf("engine.Open: %v", err)
	}
	so := o.Stream
	if so.HeartbeatMin == 0 {
		so.HeartbeatMin, so.HeartbeatMax = 50*time.Millisecond, 100*time.Millisecond
	}
	svc, err := stream.New(ctx, db, so)
	if err != nil {
		_ = db.Close()
		t.Fatalf("stream.New: %v", err)
	}
	o.Server.EngineMetrics = db.Metrics
	if o.RootToken != "" {
		tokens, _, err := authstore.Open(ctx, db, authstore.Options{RootToken: o.RootToken})
		if err != nil {
			_ = errors.Join(svc.Close(), db.Close())
			t.Fatalf("authstore.Open: %v", err)
		}
		o.Server.Auth = tokens
	}
	srv := server.New(svc, o.Server)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	s := &Server{URL: "http://" + ln.Addr().String(), Srv: srv, Svc: svc, DB: db, Store: o.Store, t: t, served: make(chan error, 1)}
	go func() { s.served <- srv.Serve(ln) }()
	t.Cleanup(s.Close)
	return s
}

// Close shuts the server down in the order the binary does; clients should
// have closed their idle connections first, or shutdown waits for them.
func (s *Server) Close() {
	if s.closed {
		return
	}
	s.closed = true
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.Srv.Shutdown(ctx); err != nil {
		s.t.Errorf("Shutdown: %v", err)
	}
	if err := <-s.served; err != nil {
		s.t.Errorf("Serve: %v", err)
	}
	if err := s.Svc.Close(); err != nil {
		s.t.Errorf("stream service Close: %v", err)
	}
	if err := s.DB.Close(); err != nil {
		s.t.Errorf("engine Close: %v", err)
	}
}
