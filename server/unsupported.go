package server

import (
	"encoding/json"
	"net/http"
)

// Endpoints lite does not support (API 13): the request is parsed as the
// reference parses it, so that malformed input still gets its 400, and
// the answer is then 501 not_implemented. Access tokens are served when
// auth is on (tokens.go).

func validAccessTokenID(id string) bool {
	return len(id) >= 1 && len(id) <= 96 && id != "." && id != ".."
}

func (s *Server) listAccessTokens(w http.ResponseWriter, r *http.Request, _ []string) error {
	if s.opts.Auth != nil {
		return s.listTokens(w, r)
	}
	q, err := parseQuery(r)
	if err != nil {
		return err
	}
	for _, key := range []string{"prefix", "start_after"} {
		if _, _, err := q.str(key); err != nil {
			return err
		}
	}
	if _, err := q.u64("limit"); err != nil {
		return err
	}
	return notImplemented()
}

func (s *Server) issueAccessToken(w http.ResponseWriter, r *http.Request, _ []string) error {
	if s.opts.Auth != nil {
		return s.issueToken(w, r)
	}
	body, err := readJSONBody(r, false)
	if err != nil {
		return err
	}
	obj, derr := parseObject("", body)
	if derr == nil {
		var id string
		if id, derr = obj.requiredString("", "id"); derr == nil && !validAccessTokenID(id) {
			derr = fieldErrorf("id", "access token id must be 1 to 96 bytes and not `.` or `..`")
		}
	}
	if derr == nil {
		if raw, ok := obj.get("scope"); !ok {
			derr = fieldErrorf("", "missing field `scope`")
		} else {
			_, derr = parseObject("scope", raw)
		}
	}
	if derr != nil {
		return badJSON("Failed to deserialize the JSON body into the target type: %v", derr)
	}
	return notImplemented()
}

func (s *Server) revokeAccessToken(w http.ResponseWriter, r *http.Request, params []string) error {
	if !validAccessTokenID(params[0]) {
		return badPath("access token id must be 1 to 96 bytes and not `.` or `..`")
	}
	if s.opts.Auth != nil {
		if err := s.opts.Auth.Revoke(r.Context(), params[0]); err != nil {
			return authError(err)
		}
		writeEmpty(w, http.StatusNoContent)
		return nil
	}
	return notImplemented()
}

// metricsQuery parses the usage-metrics query: a required set from sets,
// optional start/end (u32 epoch seconds) and interval.
func metricsQuery(r *http.Request, sets ...string) *apiError {
	q, err := parseQuery(r)
	if err != nil {
		return err
	}
	set, ok, err := q.str("set")
	if err != nil {
		return err
	}
	if !ok {
		return badQuery("Failed to deserialize query string: missing field `set`")
	}
	known := false
	for _, s := range sets {
		known = known || s == set
	}
	if !known {
		return badQuery("Failed to deserialize query string: unknown variant `%s` for `set`", set)
	}
	for _, key := range []string{"start", "end"} {
		if _, err := q.uint(key, 32); err != nil {
			return err
		}
	}
	if v, ok, err := q.str("interval"); err != nil {
		return err
	} else if ok && v != "minute" && v != "hour" && v != "day" {
		return badQuery("Failed to deserialize query string: unknown variant `%s` for `interval`", v)
	}
	return nil
}

func (s *Server) listLocations(http.ResponseWriter, *http.Request, []string) error {
	return notImplemented()
}

func (s *Server) getDefaultLocation(http.ResponseWriter, *http.Request, []string) error {
	return notImplemented()
}

// validLocationName: 1 to 64 ASCII characters from A-Za-z0-9:-.
func validLocationName(name string) bool {
	if len(name) < 1 || len(name) > 64 {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == ':' || c == '-' || c == '.') {
			return false
		}
	}
	return true
}

func (s *Server) setDefaultLocation(_ http.ResponseWriter, r *http.Request, _ []string) error {
	body, err := readJSONBody(r, false)
	if err != nil {
		return err
	}
	var name string
	if jerr := json.Unmarshal(body, &name); jerr != nil || isNull(body) {
		return badJSON("Failed to deserialize the JSON body into the target type: expected a location name string")
	}
	if !validLocationName(name) {
		return badJSON("Failed to deserialize the JSON body into the target type: invalid location name")
	}
	return notImplemented()
}
