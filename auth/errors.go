package auth

import (
	"fmt"
	"net/http"
)

// API error codes this package produces (API.md section 12.2).
const (
	CodeBadJSON               = "bad_json"
	CodeBadPath               = "bad_path"
	CodeAuthn                 = "authn"
	CodePermissionDenied      = "permission_denied"
	CodeAccessTokenNotFound   = "access_token_not_found"
	CodeResourceAlreadyExists = "resource_already_exists"
	CodeInvalid               = "invalid"
)

// Error is an API error: the server answers it as
// {"code": Code, "message": Message} with HTTP status Status.
type Error struct {
	Status  int
	Code    string
	Message string
}

func (e *Error) Error() string {
	return fmt.Sprintf("%d %s: %s", e.Status, e.Code, e.Message)
}

func newError(status int, code, format string, args ...any) *Error {
	return &Error{Status: status, Code: code, Message: fmt.Sprintf(format, args...)}
}

func badJSON(format string, args ...any) *Error {
	return newError(http.StatusBadRequest, CodeBadJSON, format, args...)
}

func invalid(format string, args ...any) *Error {
	return newError(http.StatusUnprocessableEntity, CodeInvalid, format, args...)
}

func denied(format string, args ...any) *Error {
	return newError(http.StatusForbidden, CodePermissionDenied, format, args...)
}

// ErrAuthn is the 401 for a request whose bearer token is missing,
// malformed, unknown, revoked or expired. The cloud does not tell these
// apart to the caller; msg may (it is not a secret which one it was).
func ErrAuthn(msg string) *Error {
	return &Error{Status: http.StatusUnauthorized, Code: CodeAuthn, Message: msg}
}

// ErrPermissionDenied is the 403 for an operation or resource outside the
// token's scope.
func ErrPermissionDenied(msg string) *Error {
	return &Error{Status: http.StatusForbidden, Code: CodePermissionDenied, Message: msg}
}

// ErrTokenNotFound is the 404 for revoking an id that does not exist (or
// was already revoked).
func ErrTokenNotFound(id string) *Error {
	return newError(http.StatusNotFound, CodeAccessTokenNotFound, "access token `%s` not found", id)
}

// ErrTokenExists is the 409 for issuing an id that is already in use.
func ErrTokenExists(id string) *Error {
	return newError(http.StatusConflict, CodeResourceAlreadyExists, "access token `%s` already exists", id)
}

// ErrBadTokenPath is the 400 for an invalid token id in the
// DELETE /v1/access-tokens/{id} path.
func ErrBadTokenPath(err error) *Error {
	return newError(http.StatusBadRequest, CodeBadPath, "%v", err)
}
