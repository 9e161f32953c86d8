package server

import (
	"net/http"
	"strconv"
)

// handleReady answers /ready, the readiness probe: 200 "OK" while appends
// can become durable, 503 with the reason otherwise: shutting down,
// fenced, a table lost, or the object store not answering its periodic
// probe. It turns back to 200 by itself once the store answers again.
// /health stays the liveness probe: it fails only for conditions a
// restart may cure (fenced, damaged storage), never for a store outage,
// so a supervisor does not restart a server that is waiting for its store.
func (s *Server) handleReady(w http.ResponseWriter, r *http.Request, _ []string) error {
	status, body := http.StatusOK, "OK"
	reason := func() error {
		if s.opts.Ready != nil {
			if err := s.opts.Ready(); err != nil {
				return err
			}
		}
		if s.opts.Durable != nil {
			return s.opts.Durable()
		}
		return nil
	}
	if s.isDraining() {
		status, body = http.StatusServiceUnavailable, "shutting down"
	} else if err := reason(); err != nil {
		status, body = http.StatusServiceUnavailable, "unavailable: "+err.Error()
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, _ = w.Write([]byte(body))
	return nil
}

// handleHealth answers /health and /ping (API 14.1): 200 "OK" while the
// server can serve, 503 with a short reason once it is shutting down or
// storage reports a failure.
func (s *Server) handleHealth(w http.ResponseWriter, r *http.Request, _ []string) error {
	status, body := http.StatusOK, "OK"
	if s.isDraining() {
		status, body = http.StatusServiceUnavailable, "shutting down"
	} else if s.opts.Ready != nil {
		if err := s.opts.Ready(); err != nil {
			status, body = http.StatusServiceUnavailable, "unavailable: "+err.Error()
		}
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, _ = w.Write([]byte(body))
	return nil
}
