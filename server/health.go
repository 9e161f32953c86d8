package server

import (
	"net/http"
	"strconv"
)

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
