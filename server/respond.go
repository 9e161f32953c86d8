package server

import (
	"net/http"
	"strconv"
)

const (
	contentTypeJSON     = "application/json"
	contentTypeProtobuf = "application/protobuf"
)

// writeBody writes a complete, buffered response body, compressed when the
// client accepts it and the body is large enough to gain (API 1.7).
func writeBody(w http.ResponseWriter, r *http.Request, status int, contentType string, body []byte) {
	h := w.Header()
	h.Set("Content-Type", contentType)
	if enc := responseEncoding(r, len(body)); enc != "" {
		if compressed, err := compress(enc, body); err == nil {
			h.Set("Content-Encoding", enc)
			h.Add("Vary", "Accept-Encoding")
			body = compressed
		}
	}
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// writeJSON renders v as the JSON body of a response.
func writeJSON(w http.ResponseWriter, r *http.Request, status int, v any) {
	body, err := marshalJSON(v)
	if err != nil {
		writeError(w, r, toAPIError(err, fromJSON))
		return
	}
	writeBody(w, r, status, contentTypeJSON, body)
}

// writeError renders an API error. Error bodies are always JSON, even for
// protobuf requests (API 7.8).
func writeError(w http.ResponseWriter, r *http.Request, e *apiError) {
	status := e.status
	if status == statusClientClosedRequest {
		// Nobody is listening; a 499 is not a status net/http knows.
		status = http.StatusBadRequest
	}
	writeBody(w, r, status, contentTypeJSON, e.body)
}

// writeEmpty answers with no body. Content-Length: 0 matters: the SDK's
// HTTP client only treats a success as empty when it sees it (API 1.6).
func writeEmpty(w http.ResponseWriter, status int) {
	w.Header().Set("Content-Length", "0")
	w.WriteHeader(status)
}
