package server

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/s2lite/s2lite/auth"
	"github.com/s2lite/s2lite/authstore"
	"github.com/s2lite/s2lite/stream"
)

// Access tokens (API 13; DESIGN.md "Access tokens"). With Options.Auth set,
// every /v1 request carries a bearer token: serveHTTP authenticates it
// (401 authn when missing, unknown, revoked or expired), checks the
// route's operation and, where the route names them, its basin, stream or
// token id (403 permission_denied); handlers check the names only a body
// carries (create-basin, create-stream) and filter listings. A token with
// auto_prefix_streams sees stream names without its prefix: they are
// prefixed on the way in (paths, bodies, list parameters) and stripped on
// the way out.

// Authority is what the server needs of access tokens (authstore.Store).
type Authority interface {
	Authenticate(secret string) (*authstore.Principal, error)
	Issue(ctx context.Context, issuer *authstore.Principal, req *auth.TokenInfo) (string, error)
	List(viewer *authstore.Principal, prefix, startAfter string, limit int) ([]auth.TokenInfo, bool)
	Revoke(ctx context.Context, id string) error
}

type principalKey struct{}

// principal is the authenticated token of r, or nil when auth is off.
func principal(r *http.Request) *authstore.Principal {
	p, _ := r.Context().Value(principalKey{}).(*authstore.Principal)
	return p
}

// routeOps is the operation of each route and method; a route missing
// here needs only authentication.
var routeOps = map[string]auth.Operation{
	"GET /v1/basins":                        auth.OpListBasins,
	"POST /v1/basins":                       auth.OpCreateBasin,
	"GET /v1/basins/{basin}":                auth.OpGetBasinConfig,
	"PATCH /v1/basins/{basin}":              auth.OpReconfigureBasin,
	"DELETE /v1/basins/{basin}":             auth.OpDeleteBasin,
	"GET /v1/streams":                       auth.OpListStreams,
	"POST /v1/streams":                      auth.OpCreateStream,
	"GET /v1/streams/{stream}":              auth.OpGetStreamConfig,
	"PATCH /v1/streams/{stream}":            auth.OpReconfigureStream,
	"DELETE /v1/streams/{stream}":           auth.OpDeleteStream,
	"GET /v1/streams/{stream}/records/tail": auth.OpCheckTail,
	"GET /v1/streams/{stream}/records":      auth.OpRead,
	"POST /v1/streams/{stream}/records":     auth.OpAppend,
	"POST /v1/streams/{stream}/import":      auth.OpAppend,
	"GET /v1/access-tokens":                 auth.OpListAccessTokens,
	"POST /v1/access-tokens":                auth.OpIssueAccessToken,
	"DELETE /v1/access-tokens/{id}":         auth.OpRevokeAccessToken,
	"GET /v1/metrics":                       auth.OpAccountMetrics,
	"GET /v1/metrics/{basin}":               auth.OpBasinMetrics,
	"GET /v1/metrics/{basin}/{stream}":      auth.OpStreamMetrics,
	"GET /v1/locations":                     auth.OpListLocations,
	"GET /v1/locations/default":             auth.OpGetDefaultLocation,
	"PUT /v1/locations/default":             auth.OpSetDefaultLocation,
	"PUT /v1/basins/{basin}":                auth.OpCreateBasin, // or reconfigure-basin: see ensureOps
	"PUT /v1/streams/{stream}":              auth.OpCreateStream,
}

// ensureOps: an ensure (PUT) creates or reconfigures, so either
// operation allows it.
var ensureOps = map[auth.Operation]auth.Operation{
	auth.OpCreateBasin:  auth.OpReconfigureBasin,
	auth.OpCreateStream: auth.OpReconfigureStream,
}

func permissionDenied(msg string) *apiError {
	e := auth.ErrPermissionDenied(msg)
	return newAPIError(e.Status, e.Code, e.Message)
}

// authError renders an *auth.Error.
func authError(err error) *apiError {
	var e *auth.Error
	if errors.As(err, &e) {
		ae := newAPIError(e.Status, e.Code, e.Message)
		ae.cause = err
		return ae
	}
	return toAPIError(err, fromJSON)
}

// bearerToken is the request's access token, "" when there is none.
func bearerToken(r *http.Request) string {
	v := r.Header.Get("Authorization")
	scheme, token, ok := strings.Cut(v, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return ""
	}
	return strings.TrimSpace(token)
}

// authorize authenticates r and checks what the route names; it returns
// the request to serve (with the principal in its context, and stream
// names of an auto-prefixing token prefixed in params).
func (s *Server) authorize(r *http.Request, rt *route, params []string) (*http.Request, *apiError) {
	p, err := s.opts.Auth.Authenticate(bearerToken(r))
	if err != nil {
		return r, authError(err)
	}
	r = r.WithContext(context.WithValue(r.Context(), principalKey{}, p))
	if p.IsRoot() {
		return r, nil
	}
	method := r.Method
	if method == http.MethodHead {
		method = http.MethodGet
	}
	op, ok := routeOps[method+" "+rt.name]
	if !ok {
		return r, nil
	}
	scope := &p.Info.Scope
	allows := func(basin, stream string) bool {
		if scope.Allows(op, basin, stream) {
			return true
		}
		alt, ok := ensureOps[op]
		return ok && method == http.MethodPut && scope.Allows(alt, basin, stream)
	}
	// Names from the path and the s2-basin header; bodies are checked by
	// their handlers. A malformed name is left for the handler to report:
	// it matches no resource set anyway.
	var basin, name string
	switch {
	case strings.HasPrefix(rt.name, "/v1/basins/{basin}"), strings.HasPrefix(rt.name, "/v1/metrics/{basin}"):
		basin = params[0]
		if len(params) > 1 {
			name = p.Info.StreamNameIn(params[1])
			params[1] = name
		}
	case strings.HasPrefix(rt.name, "/v1/streams"):
		basin = r.Header.Get(headerBasin)
		if len(params) > 0 {
			name = p.Info.StreamNameIn(params[0])
			params[0] = name
		}
	case rt.name == "/v1/access-tokens/{id}":
		basin = params[0]
	}
	switch {
	case op == auth.OpCreateBasin && method == http.MethodPost,
		op == auth.OpCreateStream && method == http.MethodPost,
		op == auth.OpIssueAccessToken:
		// The name is in the body: the handler checks (Validate for a
		// token). Only the operation itself is checked here.
		if !scope.Ops().Has(op) {
			return r, permissionDenied("operation not permitted: " + string(op))
		}
		if op == auth.OpCreateStream && !scope.Basins.Matches(basin) {
			return r, permissionDenied("basin not permitted: " + basin)
		}
	case !allows(basin, name):
		return r, permissionDenied("operation not permitted on this resource: " + string(op))
	}
	return r, nil
}

// allowNamed checks op on names that only a request body carried.
func allowNamed(r *http.Request, op auth.Operation, basin, stream string) *apiError {
	p := principal(r)
	if p == nil || p.IsRoot() || p.Info.Scope.Allows(op, basin, stream) {
		return nil
	}
	return permissionDenied("operation not permitted on this resource: " + string(op))
}

// allowEnsure checks an ensure (PUT) against what it will do: creating
// needs the create operation, changing an existing resource the
// reconfigure one. get reports whether the resource exists (a not-found
// error when it does not).
func (s *Server) allowEnsure(r *http.Request, create, reconfigure auth.Operation, basin, name string, get func() error) *apiError {
	p := principal(r)
	if p == nil || p.IsRoot() {
		return nil
	}
	op := reconfigure
	var se *stream.Error
	if err := get(); errors.As(err, &se) && se.Status == http.StatusNotFound {
		op = create
	}
	return allowNamed(r, op, basin, name)
}

// allowCommands checks that an append's command records are permitted:
// a fence needs the fence operation and a trim the trim operation, on
// top of append.
func allowCommands(r *http.Request, basin, name string, in stream.AppendInput) *apiError {
	p := principal(r)
	if p == nil || p.IsRoot() {
		return nil
	}
	for _, rec := range in.Records {
		if len(rec.Headers) != 1 || len(rec.Headers[0].Name) != 0 {
			continue
		}
		var op auth.Operation
		switch string(rec.Headers[0].Value) {
		case "fence":
			op = auth.OpFence
		case "trim":
			op = auth.OpTrim
		default:
			continue
		}
		if !p.Info.Scope.Allows(op, basin, name) {
			return permissionDenied("operation not permitted on this resource: " + string(op))
		}
	}
	return nil
}

// streamNameIn and streamNameOut map stream names of an auto-prefixing
// token (identity otherwise).
func streamNameIn(r *http.Request, name string) string {
	if p := principal(r); p != nil {
		return p.Info.StreamNameIn(name)
	}
	return name
}

func streamNameOut(r *http.Request, name string) (string, bool) {
	if p := principal(r); p != nil {
		return p.Info.StreamNameOut(name)
	}
	return name, true
}

// errTokenRevoked ends the sessions of a revoked or expired token.
var errTokenRevoked = errors.New("server: access token revoked or expired")

// tokenContext is ctx, also ended (cause errTokenRevoked) when the
// request's token is revoked or expires: a session opened with a token
// lasts no longer than the token.
func tokenContext(ctx context.Context, r *http.Request) (context.Context, context.CancelFunc) {
	p := principal(r)
	if p == nil || (p.Revoked == nil && p.Info.ExpiresAt == nil) {
		return ctx, func() {}
	}
	ctx, cancel := context.WithCancelCause(ctx)
	var timer *time.Timer
	var expiry <-chan time.Time
	if p.Info.ExpiresAt != nil {
		timer = time.NewTimer(time.Until(*p.Info.ExpiresAt))
		expiry = timer.C
	}
	go func() {
		if timer != nil {
			defer timer.Stop()
		}
		select {
		case <-p.Revoked:
			cancel(errTokenRevoked)
		case <-expiry:
			cancel(errTokenRevoked)
		case <-ctx.Done():
		}
	}()
	return ctx, func() { cancel(context.Canceled) }
}

// narrowPrefix narrows a listing's prefix to a token's resource set, so
// that pages hold visible names: empty reports that nothing can be
// visible. An exact set narrows to its one name, which sorts first among
// the names it prefixes.
func narrowPrefix(prefix string, set *auth.ResourceSet) (string, bool) {
	switch {
	case set.IsNone():
		return prefix, true
	case strings.HasPrefix(set.Value, prefix):
		return set.Value, false
	case !set.IsPrefix():
		return prefix, true
	case strings.HasPrefix(prefix, set.Value):
		return prefix, false
	}
	return prefix, true
}

// maxFillPages bounds the pages fillPage reads for one answer.
const maxFillPages = 16

// fillPage lists with list from req and keeps the items keep accepts
// (keep may rewrite an item), reading further pages until the answer holds
// req.Limit items or the listing ends, so that a token's filtered page is
// never empty while more visible names follow; a nil keep keeps all, in
// one call. more says whether another
// visible item follows (looked for within the same bound of pages).
func fillPage[T any](req stream.ListRequest, list func(stream.ListRequest) ([]T, bool, error),
	name func(T) string, keep func(*T) bool) (out []T, more bool, err error) {
	if keep == nil {
		return list(req)
	}
	limit := req.Limit
	if limit <= 0 || limit > maxListLimit {
		limit = maxListLimit
	}
	for range maxFillPages {
		items, hasMore, err := list(req)
		if err != nil {
			return nil, false, err
		}
		if len(items) == 0 {
			return out, false, nil
		}
		last := name(items[len(items)-1]) // before keep rewrites it
		for i := range items {
			if !keep(&items[i]) {
				continue
			}
			if len(out) == limit {
				return out, true, nil
			}
			out = append(out, items[i])
		}
		if !hasMore {
			return out, false, nil
		}
		req.StartAfter = last
	}
	return out, true, nil
}

// tokenRevoked ends a session whose token was revoked or expired.
func tokenRevoked() *apiError {
	e := auth.ErrAuthn("access token revoked or expired")
	return newAPIError(e.Status, e.Code, e.Message)
}
