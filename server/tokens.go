package server

import (
	"net/http"

	"github.com/s2lite/s2lite/auth"
)

// The access-token API (API 13) when auth is on.

func (s *Server) listTokens(w http.ResponseWriter, r *http.Request) error {
	q, err := parseQuery(r)
	if err != nil {
		return err
	}
	prefix, _, err := q.str("prefix")
	if err != nil {
		return err
	}
	startAfter, _, err := q.str("start_after")
	if err != nil {
		return err
	}
	limit := maxListLimit
	l, err := q.u64("limit")
	if err != nil {
		return err
	}
	if l != nil && *l > 0 && *l < maxListLimit {
		limit = int(*l)
	}
	tokens, more := s.opts.Auth.List(principal(r), prefix, startAfter, limit)
	if tokens == nil {
		tokens = []auth.TokenInfo{}
	}
	writeJSON(w, r, http.StatusOK, struct {
		AccessTokens []auth.TokenInfo `json:"access_tokens"`
		HasMore      bool             `json:"has_more"`
	}{tokens, more})
	return nil
}

func (s *Server) issueToken(w http.ResponseWriter, r *http.Request) error {
	body, err := readJSONBody(r, false)
	if err != nil {
		return err
	}
	req, derr := auth.DecodeTokenInfo(body)
	if derr != nil {
		return authError(derr)
	}
	secret, ierr := s.opts.Auth.Issue(r.Context(), principal(r), req)
	if ierr != nil {
		return authError(ierr)
	}
	writeJSON(w, r, http.StatusCreated, struct {
		AccessToken string `json:"access_token"`
	}{secret})
	return nil
}
