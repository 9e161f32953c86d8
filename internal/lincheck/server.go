package lincheck

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/s2lite/s2lite/authstore"
	"github.com/s2lite/s2lite/compaction"
	"github.com/s2lite/s2lite/engine"
	"github.com/s2lite/s2lite/objstore"
	"github.com/s2lite/s2lite/server"
	"github.com/s2lite/s2lite/stream"
)

// Server is an s2lite server in this process, wired like cmd/s2lite
// (engine -> stream service -> HTTP server) and served on loopback.
type Server struct {
	DB  *engine.DB
	Svc *stream.Service
	URL string

	http   *server.Server
	served chan error
}

// ServerOptions tune a Server to make more of the engine and stream layer
// run during a short test.
type ServerOptions struct {
	// Small memtables make flushes and compactions happen under load, so
	// that reads also go through tables, not just memtables.
	MemtableSize int64
	// A short idle timeout evicts stream handles between calls, so that
	// streams are reloaded from storage while the workload runs.
	IdleStreamTimeout time.Duration
}

// RootToken is the root access token of the servers StartServer starts.
const RootToken = "lincheck-root-token-0123456789"

// StartServer opens an engine on store and serves the API on a fresh
// 127.0.0.1 port.
func StartServer(ctx context.Context, store objstore.Store, o ServerOptions) (*Server, error) {
	eo := engine.Options{
		Store:      store,
		Compaction: compaction.Options{Partition: stream.CompactionPartition},
	}
	if o.MemtableSize > 0 {
		eo.MemtableSize = o.MemtableSize
		eo.MaxMemtableWALObjects = 64
	}
	db, err := engine.Open(ctx, eo)
	if err != nil {
		return nil, fmt.Errorf("engine.Open: %w", err)
	}
	so := stream.Options{}
	if o.IdleStreamTimeout > 0 {
		so.IdleStreamTimeout = o.IdleStreamTimeout
		so.BackgroundInterval = o.IdleStreamTimeout
	}
	svc, err := stream.New(ctx, db, so)
	if err != nil {
		return nil, errors.Join(fmt.Errorf("stream.New: %w", err), db.Close())
	}
	// Access tokens on, as in the binary by default: clients carry
	// RootToken.
	tokens, _, err := authstore.Open(ctx, db, authstore.Options{RootToken: RootToken})
	if err != nil {
		return nil, errors.Join(fmt.Errorf("authstore.Open: %w", err), svc.Close(), db.Close())
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, errors.Join(err, svc.Close(), db.Close())
	}
	s := &Server{
		DB: db, Svc: svc, URL: "http://" + ln.Addr().String(),
		http: server.New(svc, server.Options{
			Auth:          tokens,
			EngineMetrics: db.Metrics,
			// As in cmd/s2lite: a fenced server answers 503.
			Ready: func() error {
				if db.Fenced() {
					return engine.ErrFenced
				}
				return nil
			},
		}),
		served: make(chan error, 1),
	}
	go func() { s.served <- s.http.Serve(ln) }()
	return s, nil
}

// Close shuts the server down like the binary does: HTTP first, then the
// stream service, then the engine. The engine's error is returned apart,
// since a fenced engine is expected to report one.
func (s *Server) Close() (serveErr, engineErr error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	serveErr = errors.Join(s.http.Shutdown(ctx), <-s.served, s.Svc.Close())
	return serveErr, s.DB.Close()
}
