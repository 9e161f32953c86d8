package server

import (
	"net/http"
	"net/url"
	"strconv"

	"github.com/s2lite/s2lite/stream"
)

// maxListLimit is the largest page of a list; 0 or more asks for it.
const maxListLimit = 1000

// query is a parsed query string. Unknown parameters are ignored, as in the
// reference; a known one given twice is a bad_query.
type query url.Values

func parseQuery(r *http.Request) (query, *apiError) {
	v, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return nil, badQuery("Failed to deserialize query string: %v", err)
	}
	return query(v), nil
}

// str returns a parameter's value and whether it was given.
func (q query) str(key string) (string, bool, *apiError) {
	vs := q[key]
	switch len(vs) {
	case 0:
		return "", false, nil
	case 1:
		return vs[0], true, nil
	}
	return "", true, badQuery("Failed to deserialize query string: duplicate field `%s`", key)
}

func (q query) uint(key string, bits int) (*uint64, *apiError) {
	s, ok, err := q.str(key)
	if err != nil || !ok {
		return nil, err
	}
	v, perr := strconv.ParseUint(s, 10, bits)
	if perr != nil {
		return nil, badQuery("Failed to deserialize query string: %s: invalid digit or out of range: %q", key, s)
	}
	return &v, nil
}

func (q query) u64(key string) (*uint64, *apiError) { return q.uint(key, 64) }

func (q query) boolean(key string) (bool, *apiError) {
	s, ok, err := q.str(key)
	if err != nil || !ok {
		return false, err
	}
	switch s {
	case "true":
		return true, nil
	case "false":
		return false, nil
	}
	return false, badQuery("Failed to deserialize query string: %s: expected `true` or `false`, got %q", key, s)
}

// listRequest parses prefix, start_after and limit (API 5.1, 6.1); check
// validates the two names.
func (q query) listRequest(check func(kind stream.NameKind, v string) error, prefixKind, startAfterKind stream.NameKind) (stream.ListRequest, *apiError) {
	var req stream.ListRequest
	var err *apiError
	if req.Prefix, _, err = q.str("prefix"); err != nil {
		return req, err
	}
	if req.StartAfter, _, err = q.str("start_after"); err != nil {
		return req, err
	}
	limit, err := q.u64("limit")
	if err != nil {
		return req, err
	}
	if limit != nil && *limit <= maxListLimit {
		req.Limit = int(*limit)
	}
	if e := check(prefixKind, req.Prefix); e != nil {
		return req, toAPIError(e, fromQuery)
	}
	if e := check(startAfterKind, req.StartAfter); e != nil {
		return req, toAPIError(e, fromQuery)
	}
	return req, nil
}
