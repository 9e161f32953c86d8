package server

import (
	"io"
	"net/http"
	"time"
)

// bodyStallTimeout ends a unary request whose body stops arriving: each
// read of the body must make progress within it. Without it a client that
// announces a large body and sends a byte a minute holds its connection,
// a handler and the body read so far for as long as it likes. S2S append
// sessions are exempt: their input may rightly pause between batches.
const bodyStallTimeout = 30 * time.Second

// sessionWriteStallTimeout ends a response, typically a read session,
// whose client takes none of it for this long.
const sessionWriteStallTimeout = 30 * time.Second

// defaultMaxConcurrentStreams caps the HTTP/2 streams of one connection.
const defaultMaxConcurrentStreams = 128

// defaultMaxReadSessions caps the read sessions open at once.
const defaultMaxReadSessions = 4096

// stallGuard moves the connection's read deadline forward before every
// read of the body, so only a body that stalls is cut.
type stallGuard struct {
	io.ReadCloser
	ctrl    *http.ResponseController
	timeout time.Duration
}

func (g *stallGuard) Read(p []byte) (int, error) {
	// An error (a ResponseWriter without deadlines) leaves the body
	// unguarded rather than failing the request.
	_ = g.ctrl.SetReadDeadline(time.Now().Add(g.timeout))
	return g.ReadCloser.Read(p)
}

// guardBody installs the stall guard on a unary request's body.
func guardBody(w http.ResponseWriter, r *http.Request, timeout time.Duration) {
	if r.Body == nil || r.Body == http.NoBody || contentType(r) == mediaTypeS2S {
		return
	}
	r.Body = &stallGuard{ReadCloser: r.Body, ctrl: http.NewResponseController(w), timeout: timeout}
}
