package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"github.com/s2lite/s2lite/internal/membudget"
	"github.com/s2lite/s2lite/stream"
)

// Error codes produced by the transport itself (API 12.2). Codes of
// semantic failures come from package stream.
const (
	codeBadFrame       = "bad_frame"
	codeBadHeader      = "bad_header"
	codeBadJSON        = "bad_json"
	codeBadPath        = "bad_path"
	codeBadProto       = "bad_proto"
	codeBadQuery       = "bad_query"
	codeClientHangup   = "client_hangup"
	codeNotImplemented = "not_implemented"
	codeOther          = "other"
	codeUnavailable    = "unavailable"
	codeRequestTimeout = "request_timeout"
	codeRateLimited    = "rate_limited"
)

// statusClientClosedRequest is the non-standard status the API uses for
// client_hangup; it is only ever logged or counted, as nobody reads it.
const statusClientClosedRequest = 499

// apiError is a rendered API error: an HTTP status and the exact JSON body
// the client gets, whether as a plain response, an SSE error event or an
// S2S terminal frame (API 12.1).
type apiError struct {
	status int
	body   []byte
	// cause is the underlying error, for logs only.
	cause error
}

func (e *apiError) Error() string {
	if e.cause != nil {
		return fmt.Sprintf("%d %s: %v", e.status, e.body, e.cause)
	}
	return fmt.Sprintf("%d %s", e.status, e.body)
}

func (e *apiError) Unwrap() error { return e.cause }

// errorInfo is the standard {"code","message"} body.
type errorInfo struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

func newAPIError(status int, code, message string) *apiError {
	body, _ := json.Marshal(errorInfo{Code: code, Message: message})
	return &apiError{status: status, body: body}
}

func badHeader(format string, args ...any) *apiError {
	return newAPIError(http.StatusBadRequest, codeBadHeader, fmt.Sprintf(format, args...))
}

func badPath(format string, args ...any) *apiError {
	return newAPIError(http.StatusBadRequest, codeBadPath, fmt.Sprintf(format, args...))
}

func badQuery(format string, args ...any) *apiError {
	return newAPIError(http.StatusBadRequest, codeBadQuery, fmt.Sprintf(format, args...))
}

func badJSON(format string, args ...any) *apiError {
	return newAPIError(http.StatusBadRequest, codeBadJSON, fmt.Sprintf(format, args...))
}

func badProto(format string, args ...any) *apiError {
	return newAPIError(http.StatusBadRequest, codeBadProto, fmt.Sprintf(format, args...))
}

func badFrame(format string, args ...any) *apiError {
	return newAPIError(http.StatusBadRequest, codeBadFrame, fmt.Sprintf(format, args...))
}

func invalid(format string, args ...any) *apiError {
	return newAPIError(http.StatusUnprocessableEntity, stream.CodeInvalid, fmt.Sprintf(format, args...))
}

func notImplemented() *apiError {
	return newAPIError(http.StatusNotImplemented, codeNotImplemented, "Not implemented")
}

// outOfMemory answers a request that could not get memory from the
// server's budget: retryable, like any rate limit.
func outOfMemory() *apiError {
	return newAPIError(http.StatusTooManyRequests, codeRateLimited, "server memory budget exhausted; retry later")
}

func shuttingDown() *apiError {
	return newAPIError(http.StatusServiceUnavailable, codeUnavailable, "server is shutting down")
}

// nameSource says where a name came from, which decides the 400 code of an
// invalid one (API 1.8, 2.1).
type nameSource int

const (
	fromJSON nameSource = iota
	fromPath
	fromQuery
	fromHeader
)

func invalidName(src nameSource, msg string) *apiError {
	switch src {
	case fromPath:
		return badPath("%s", msg)
	case fromQuery:
		return badQuery("%s", msg)
	case fromHeader:
		return badHeader("%s", msg)
	default:
		return badJSON("%s", msg)
	}
}

// toAPIError maps any error from package stream (or the transport) to what
// the client sees. src decides the code of an invalid name that the stream
// package reports rather than the transport.
func toAPIError(err error, src nameSource) *apiError {
	var ae *apiError
	if errors.As(err, &ae) {
		return ae
	}
	var se *stream.Error
	if errors.As(err, &se) {
		e := newAPIError(se.Status, se.Code, se.Message)
		e.cause = err
		return e
	}
	var seq *stream.SeqNumMismatchError
	if errors.As(err, &seq) {
		body, _ := json.Marshal(struct {
			SeqNumMismatch uint64 `json:"seq_num_mismatch"`
		}{seq.ExpectedSeqNum})
		return &apiError{status: http.StatusPreconditionFailed, body: body, cause: err}
	}
	var fence *stream.FencingTokenMismatchError
	if errors.As(err, &fence) {
		body, _ := json.Marshal(struct {
			FencingTokenMismatch string `json:"fencing_token_mismatch"`
		}{fence.CurrentToken})
		return &apiError{status: http.StatusPreconditionFailed, body: body, cause: err}
	}
	var rng *stream.RangeNotSatisfiableError
	if errors.As(err, &rng) {
		body, _ := json.Marshal(struct {
			Tail jsonPosition `json:"tail"`
		}{positionJSON(rng.Tail)})
		return &apiError{status: http.StatusRequestedRangeNotSatisfiable, body: body, cause: err}
	}
	var key *stream.EncryptionKeyError
	if errors.As(err, &key) {
		e := badHeader("%s", key.Message)
		e.cause = err
		return e
	}
	var name *stream.InvalidNameError
	if errors.As(err, &name) {
		e := invalidName(src, name.Message)
		e.cause = err
		return e
	}
	switch {
	case errors.Is(err, membudget.ErrExhausted):
		e := outOfMemory()
		e.cause = err
		return e
	case errors.Is(err, errDraining):
		e := shuttingDown()
		e.cause = err
		return e
	case errors.Is(err, context.Canceled):
		e := newAPIError(statusClientClosedRequest, codeClientHangup, "client hung up")
		e.cause = err
		return e
	case errors.Is(err, context.DeadlineExceeded):
		e := newAPIError(http.StatusRequestTimeout, codeRequestTimeout, "request timed out")
		e.cause = err
		return e
	}
	// Anything else may have taken effect: "other" tells the client that
	// a retry is allowed but the outcome is unknown.
	e := newAPIError(http.StatusInternalServerError, codeOther, "internal error")
	e.cause = err
	return e
}

// errDraining marks work cut short because the server is shutting down.
var errDraining = errors.New("server: shutting down")

// errAborted marks an append still waiting for durability when the
// shutdown grace period ended: it may or may not become durable.
var errAborted = errors.New("server: shut down before the append was acknowledged")

// abortedErr turns the abort of ctx into its answer: 503, retryable, with
// the outcome unknown (a retry may duplicate the records).
func abortedErr(ctx context.Context, err error) error {
	if err != nil && errors.Is(context.Cause(ctx), errAborted) {
		return abortAnswer(err)
	}
	return err
}

func abortAnswer(cause error) *apiError {
	e := newAPIError(http.StatusServiceUnavailable, codeUnavailable,
		"server shut down before the append was acknowledged; it may or may not have been written")
	e.cause = cause
	return e
}
