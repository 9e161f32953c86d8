package stream

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/s2lite/s2lite/engine"
)

// API error codes (API 12.2) emitted by this package.
const (
	CodeBasinDeletionPending  = "basin_deletion_pending"
	CodeBasinNotFound         = "basin_not_found"
	CodeInvalid               = "invalid"
	CodeOther                 = "other"
	CodeResourceAlreadyExists = "resource_already_exists"
	CodeStorage               = "storage"
	CodeStreamDeletionPending = "stream_deletion_pending"
	CodeStreamNotFound        = "stream_not_found"
	CodeUnavailable           = "unavailable"
)

// Error is an API error with the standard {"code","message"} body. Status
// is the HTTP status. Err, when set, is the underlying cause (for logs).
type Error struct {
	Code    string
	Status  int
	Message string
	Err     error
}

func (e *Error) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("%s: %s: %v", e.Code, e.Message, e.Err)
	}
	return e.Code + ": " + e.Message
}

func (e *Error) Unwrap() error { return e.Err }

// Is matches another *Error with the same Code, so that
// errors.Is(err, &Error{Code: CodeStreamNotFound}) works.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Code == e.Code
}

// SeqNumMismatchError is the 412 {"seq_num_mismatch": ExpectedSeqNum}.
type SeqNumMismatchError struct {
	// ExpectedSeqNum is the next assignable sequence number.
	ExpectedSeqNum uint64
}

func (e *SeqNumMismatchError) Error() string {
	return fmt.Sprintf("sequence number mismatch: expected %d", e.ExpectedSeqNum)
}

// FencingTokenMismatchError is the 412 {"fencing_token_mismatch": Current}.
type FencingTokenMismatchError struct {
	// CurrentToken is the stream's fencing token.
	CurrentToken string
}

func (e *FencingTokenMismatchError) Error() string {
	return fmt.Sprintf("fencing token mismatch: current token is %q", e.CurrentToken)
}

// RangeNotSatisfiableError is the 416 {"tail": Tail} of a read that starts
// beyond (or at, when it may not follow) the tail (API 8.3).
type RangeNotSatisfiableError struct {
	Tail StreamPosition
}

func (e *RangeNotSatisfiableError) Error() string {
	return fmt.Sprintf("range not satisfiable: tail is %d (timestamp %d)", e.Tail.SeqNum, e.Tail.Timestamp)
}

// NameKind says which name was invalid, so that the transport can map the
// failure to bad_path, bad_json, bad_query or bad_header depending on where
// the name came from (API 1.8, 2.1).
type NameKind string

const (
	BasinName         NameKind = "basin name"
	BasinNamePrefix   NameKind = "basin name prefix"
	BasinStartAfter   NameKind = "basin start_after"
	StreamName        NameKind = "stream name"
	StreamNamePrefix  NameKind = "stream name prefix"
	StreamStartAfter  NameKind = "stream start_after"
	RequestTokenField NameKind = "request token"
)

// InvalidNameError is a name, prefix or token that breaks the rules of API
// section 2. It is a 400; the code depends on where the value appeared.
type InvalidNameError struct {
	Kind    NameKind
	Message string
}

func (e *InvalidNameError) Error() string { return e.Message }

func invalidf(format string, args ...any) *Error {
	return &Error{Code: CodeInvalid, Status: http.StatusUnprocessableEntity, Message: fmt.Sprintf(format, args...)}
}

func basinNotFound(basin string) *Error {
	return &Error{Code: CodeBasinNotFound, Status: http.StatusNotFound, Message: fmt.Sprintf("basin `%s` not found", basin)}
}

func streamNotFound(basin, stream string) *Error {
	return &Error{Code: CodeStreamNotFound, Status: http.StatusNotFound, Message: fmt.Sprintf("stream `%s` in basin `%s` not found", stream, basin)}
}

func basinExists(basin string) *Error {
	return &Error{Code: CodeResourceAlreadyExists, Status: http.StatusConflict, Message: fmt.Sprintf("basin `%s` already exists", basin)}
}

func streamExists(basin, stream string) *Error {
	return &Error{Code: CodeResourceAlreadyExists, Status: http.StatusConflict, Message: fmt.Sprintf("stream `%s` in basin `%s` already exists", stream, basin)}
}

func basinDeletionPending(basin string) *Error {
	return &Error{Code: CodeBasinDeletionPending, Status: http.StatusConflict, Message: fmt.Sprintf("basin `%s` is being deleted", basin)}
}

func streamDeletionPending() *Error {
	return &Error{Code: CodeStreamDeletionPending, Status: http.StatusConflict, Message: "stream deletion pending"}
}

func streamDeleted() *Error {
	return &Error{Code: CodeUnavailable, Status: http.StatusServiceUnavailable, Message: "stream was deleted"}
}

// storageError classifies an engine failure: a fenced or closed engine
// makes the service unavailable; anything else is a storage error whose
// side effects are unknown.
func storageError(op string, err error) error {
	if err == nil {
		return nil
	}
	var apiErr *Error
	if errors.As(err, &apiErr) || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	if errors.Is(err, engine.ErrFenced) || errors.Is(err, engine.ErrClosed) || errors.Is(err, errClosed) {
		return &Error{Code: CodeUnavailable, Status: http.StatusServiceUnavailable, Message: "storage unavailable", Err: fmt.Errorf("%s: %w", op, err)}
	}
	return &Error{Code: CodeStorage, Status: http.StatusInternalServerError, Message: "storage error", Err: fmt.Errorf("%s: %w", op, err)}
}

// errClosed is returned once the Service is closed.
var errClosed = errors.New("stream: service closed")
