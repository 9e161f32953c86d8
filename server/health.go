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
	s.probe(w, s.opts.Ready, s.opts.Durable)
	return nil
}

// handleHealth answers /health and /ping (API 14.1): 200 "OK" while the
// server can serve, 503 with a short reason once it is shutting down or
// storage reports a failure.
func (s *Server) handleHealth(w http.ResponseWriter, r *http.Request, _ []string) error {
	s.probe(w, s.opts.Ready)
	return nil
}

// probe answers a health probe: 503 while shutting down or when a check
// (nil ones are skipped) reports a reason, else 200 "OK".
func (s *Server) probe(w http.ResponseWriter, checks ...func() error) {
	status, body := http.StatusOK, "OK"
	if s.isDraining() {
		status, body = http.StatusServiceUnavailable, "shutting down"
	} else {
		for _, check := range checks {
			if check == nil {
				continue
			}
			if err := check(); err != nil {
				status, body = http.StatusServiceUnavailable, "unavailable: "+err.Error()
				break
			}
		}
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, _ = w.Write([]byte(body))
}
