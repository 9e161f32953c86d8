package client

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
)

// Error is an error answered by the server: an HTTP status with the API's
// {"code", "message"} body (API 12.1), or a terminal message of a session.
type Error struct {
	Status  int    // HTTP status, e.g. 404
	Code    string // API error code, e.g. "stream_not_found"; may be empty for bodies that are not API errors
	Message string
}

func (e *Error) Error() string {
	switch {
	case e.Code != "" && e.Message != "":
		return fmt.Sprintf("%s (%d): %s", e.Code, e.Status, e.Message)
	case e.Code != "":
		return fmt.Sprintf("%s (%d)", e.Code, e.Status)
	case e.Message != "":
		return fmt.Sprintf("HTTP %d: %s", e.Status, e.Message)
	}
	return fmt.Sprintf("HTTP %d %s", e.Status, http.StatusText(e.Status))
}

// retryableCodes are the codes API 12.2 marks retryable.
var retryableCodes = map[string]bool{
	"hot_server": true, "other": true, "rate_limited": true, "request_timeout": true,
	"server_draining": true, "storage": true, "transaction_conflict": true,
	"unavailable": true, "upstream_timeout": true,
}

// mayHaveSideEffects are the retryable codes after which a request may have
// taken effect (API 12.2, "no side effects guaranteed" excludes them).
var mayHaveSideEffects = map[string]bool{
	"client_hangup": true, "other": true, "request_timeout": true, "storage": true,
	"unavailable": true, "upstream_timeout": true,
}

// Retryable reports whether the API says the request may succeed if sent
// again.
func (e *Error) Retryable() bool {
	if e.Code != "" {
		return retryableCodes[e.Code]
	}
	switch e.Status {
	case http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout,
		http.StatusTooManyRequests, http.StatusRequestTimeout:
		return true
	}
	return false
}

// noSideEffects reports whether the failed request is known to have
// changed nothing.
func (e *Error) noSideEffects() bool {
	if e.Code != "" {
		return !mayHaveSideEffects[e.Code]
	}
	return e.Status == http.StatusTooManyRequests || e.Status == http.StatusBadGateway
}

// AppendConditionError is a 412 answer to an append: the batch's
// match_seq_num or fencing_token did not hold. Nothing was appended.
type AppendConditionError struct {
	// SeqNumMismatch is the stream's next sequence number when the
	// match_seq_num did not match.
	SeqNumMismatch *uint64
	// FencingTokenMismatch is the stream's current fencing token when the
	// fencing token did not match.
	FencingTokenMismatch *string
}

func (e *AppendConditionError) Error() string {
	switch {
	case e.SeqNumMismatch != nil:
		return fmt.Sprintf("append condition failed: sequence number mismatch, next is %d", *e.SeqNumMismatch)
	case e.FencingTokenMismatch != nil:
		return fmt.Sprintf("append condition failed: fencing token mismatch, current is %q", *e.FencingTokenMismatch)
	}
	return "append condition failed"
}

// RangeNotSatisfiableError is a 416 answer to a read: the start is beyond
// the tail, or at it for a read that may not wait.
type RangeNotSatisfiableError struct {
	Tail Position
}

func (e *RangeNotSatisfiableError) Error() string {
	return fmt.Sprintf("read start out of range: tail is %d @ %d", e.Tail.SeqNum, e.Tail.Timestamp)
}

// decodeError turns an error status and body into an error value.
func decodeError(status int, body []byte) error {
	switch status {
	case http.StatusPreconditionFailed:
		var b struct {
			SeqNumMismatch       *uint64 `json:"seq_num_mismatch"`
			FencingTokenMismatch *string `json:"fencing_token_mismatch"`
		}
		if json.Unmarshal(body, &b) == nil && (b.SeqNumMismatch != nil || b.FencingTokenMismatch != nil) {
			return &AppendConditionError{SeqNumMismatch: b.SeqNumMismatch, FencingTokenMismatch: b.FencingTokenMismatch}
		}
	case http.StatusRequestedRangeNotSatisfiable:
		var b struct {
			Tail *Position `json:"tail"`
		}
		if json.Unmarshal(body, &b) == nil && b.Tail != nil {
			return &RangeNotSatisfiableError{Tail: *b.Tail}
		}
	}
	e := &Error{Status: status}
	var b struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	}
	if json.Unmarshal(body, &b) == nil && b.Code != "" {
		e.Code, e.Message = b.Code, b.Message
	} else {
		e.Message = strings.TrimSpace(string(body))
		if len(e.Message) > 512 {
			e.Message = e.Message[:512] + "…"
		}
	}
	return e
}

// IsRetryable reports whether err is worth retrying: a retryable server
// error, or a transport failure (connection refused or reset, timeout).
func IsRetryable(err error) bool {
	var e *Error
	if errors.As(err, &e) {
		return e.Retryable()
	}
	var ace *AppendConditionError
	var rne *RangeNotSatisfiableError
	if errors.As(err, &ace) || errors.As(err, &rne) {
		return false
	}
	return isTransportError(err)
}

// TransportError is a failure below HTTP: no answer came from the
// server (connection refused or reset, a response cut short).
type TransportError struct{ Err error }

func (e *TransportError) Error() string { return e.Err.Error() }
func (e *TransportError) Unwrap() error { return e.Err }

func isTransportError(err error) bool {
	var te *TransportError
	return errors.As(err, &te)
}

// notSent reports whether err shows the request never reached a server,
// so that resending it cannot duplicate its effect.
func notSent(err error) bool {
	var oe *net.OpError
	return errors.As(err, &oe) && oe.Op == "dial"
}

// safeToRetryAppend: an append (or an access-token issue) that failed
// with err changed nothing.
func safeToRetryAppend(err error) bool {
	var e *Error
	if errors.As(err, &e) {
		return e.Retryable() && e.noSideEffects()
	}
	return notSent(err)
}
