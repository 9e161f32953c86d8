package auth

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// ReadWritePermissions is the openapi ReadWritePermissions. Absent or null
// fields are false.
type ReadWritePermissions struct {
	Read  bool `json:"read"`
	Write bool `json:"write"`
}

// PermittedOperationGroups is the openapi PermittedOperationGroups. An
// absent or null group grants nothing. It is always written with all three
// groups and both booleans, as the cloud lists it.
type PermittedOperationGroups struct {
	Account ReadWritePermissions `json:"account"`
	Basin   ReadWritePermissions `json:"basin"`
	Stream  ReadWritePermissions `json:"stream"`
}

// Ops returns the operations the groups grant.
func (g PermittedOperationGroups) Ops() OpSet {
	var s OpSet
	for _, e := range []struct {
		group Group
		rw    ReadWritePermissions
	}{{GroupAccount, g.Account}, {GroupBasin, g.Basin}, {GroupStream, g.Stream}} {
		if e.rw.Read {
			s |= GroupOps(e.group, Read)
		}
		if e.rw.Write {
			s |= GroupOps(e.group, Write)
		}
	}
	return s
}

// Scope is the openapi AccessTokenScope.
type Scope struct {
	// Basins, Streams and AccessTokens are the resource sets; nil matches
	// nothing (see ResourceSet).
	Basins       *ResourceSet
	Streams      *ResourceSet
	AccessTokens *ResourceSet
	OpGroups     PermittedOperationGroups
	// Operations is the "ops" list as given.
	Operations []Operation
}

// Ops returns the effective operations: the union of Operations and what
// OpGroups grants.
func (s *Scope) Ops() OpSet {
	return OpsOf(s.Operations...) | s.OpGroups.Ops()
}

// FullScope is the scope of the operator's root token: every operation
// (through all groups as well as every listed operation, so that operations
// added to a group later are covered) on every basin, stream and token.
func FullScope() Scope {
	rw := ReadWritePermissions{Read: true, Write: true}
	return Scope{
		Basins:       Prefix(""),
		Streams:      Prefix(""),
		AccessTokens: Prefix(""),
		OpGroups:     PermittedOperationGroups{Account: rw, Basin: rw, Stream: rw},
		Operations:   AllOperations(),
	}
}

// Allows reports whether the scope permits op on the named resources.
// Resource sets are consulted only where op concerns that kind of resource
// (Operation.Resource):
//
//   - account-level operations (list-basins, list-access-tokens,
//     account-metrics, locations) need only the operation; their listings
//     are filtered with BasinVisible / TokenVisible;
//   - basin operations (create/delete/reconfigure-basin, get-basin-config,
//     list-streams, basin-metrics) need basin in Basins; list-streams
//     results are filtered with StreamVisible;
//   - stream operations need basin in Basins and stream in Streams;
//   - access-token operations (issue-access-token, revoke-access-token) take
//     the token id, which must be in AccessTokens, as the first name
//     argument (basin); AllowsToken says so more plainly.
//
// stream is the name as stored, i.e. after TokenInfo.StreamNameIn. An
// unknown operation is never allowed.
func (s *Scope) Allows(op Operation, basin, stream string) bool {
	if !op.Valid() || !s.Ops().Has(op) {
		return false
	}
	switch op.Resource() {
	case ResourceBasin:
		return s.Basins.Matches(basin)
	case ResourceStream:
		return s.Basins.Matches(basin) && s.Streams.Matches(stream)
	case ResourceAccessToken:
		return s.AccessTokens.Matches(basin)
	}
	return true
}

// AllowsToken reports whether the scope permits an access-token operation
// on the token id.
func (s *Scope) AllowsToken(op Operation, id string) bool {
	return op.Valid() && op.Resource() == ResourceAccessToken && s.Allows(op, id, "")
}

// Check is Allows answering with the 403 to send when it does not allow.
// For access-token operations basin is the token id, as in Allows.
func (s *Scope) Check(op Operation, basin, stream string) error {
	if s.Allows(op, basin, stream) {
		return nil
	}
	if !s.Ops().Has(op) {
		return ErrPermissionDenied(fmt.Sprintf("operation `%s` is not permitted by the access token", op))
	}
	switch op.Resource() {
	case ResourceAccessToken:
		return ErrPermissionDenied(fmt.Sprintf("access token `%s` is outside the access token's scope", basin))
	case ResourceStream:
		if s.Basins.Matches(basin) {
			return ErrPermissionDenied(fmt.Sprintf("stream `%s` is outside the access token's scope", stream))
		}
	}
	return ErrPermissionDenied(fmt.Sprintf("basin `%s` is outside the access token's scope", basin))
}

// BasinVisible reports whether list-basins may show this basin.
func (s *Scope) BasinVisible(name string) bool { return s.Basins.Matches(name) }

// StreamVisible reports whether list-streams may show this stream (the
// stored name; strip it with TokenInfo.StreamNameOut before answering).
func (s *Scope) StreamVisible(name string) bool { return s.Streams.Matches(name) }

// TokenVisible reports whether list-access-tokens may show this token.
func (s *Scope) TokenVisible(id string) bool { return s.AccessTokens.Matches(id) }

// scopeJSON is the wire form. On output every field is present, as the
// cloud lists a token: null resource sets, all three groups, ops as an
// array in enum order.
type scopeJSON struct {
	Basins       *ResourceSet              `json:"basins"`
	Streams      *ResourceSet              `json:"streams"`
	AccessTokens *ResourceSet              `json:"access_tokens"`
	OpGroups     *PermittedOperationGroups `json:"op_groups"`
	Ops          []Operation               `json:"ops"`
}

func (s Scope) MarshalJSON() ([]byte, error) {
	ops := OpsOf(s.Operations...).Slice()
	return json.Marshal(scopeJSON{
		Basins:       s.Basins.Normalize(),
		Streams:      s.Streams.Normalize(),
		AccessTokens: s.AccessTokens.Normalize(),
		OpGroups:     &s.OpGroups,
		Ops:          ops,
	})
}

func (s *Scope) UnmarshalJSON(b []byte) error {
	if isNull(b) {
		return errors.New("scope must be an object, not null")
	}
	var w scopeJSON
	if err := json.Unmarshal(b, &w); err != nil {
		return err
	}
	*s = Scope{Basins: w.Basins, Streams: w.Streams, AccessTokens: w.AccessTokens, Operations: w.Ops}
	if w.OpGroups != nil {
		s.OpGroups = *w.OpGroups
	}
	return nil
}

// TokenInfo is the openapi AccessTokenInfo: the request body of
// POST /v1/access-tokens and an element of the list response. It never
// holds the secret.
type TokenInfo struct {
	ID string
	// ExpiresAt is nil for a token that does not expire.
	ExpiresAt         *time.Time
	AutoPrefixStreams bool
	Scope             Scope
}

type tokenInfoJSON struct {
	ID                *string    `json:"id"`
	ExpiresAt         *time.Time `json:"expires_at"`
	AutoPrefixStreams *bool      `json:"auto_prefix_streams"`
	Scope             *Scope     `json:"scope"`
}

// MarshalJSON writes every field; expires_at is null for no expiry and in
// UTC otherwise.
func (t TokenInfo) MarshalJSON() ([]byte, error) {
	var exp *time.Time
	if t.ExpiresAt != nil {
		u := t.ExpiresAt.UTC()
		exp = &u
	}
	return json.Marshal(tokenInfoJSON{ID: &t.ID, ExpiresAt: exp, AutoPrefixStreams: &t.AutoPrefixStreams, Scope: &t.Scope})
}

// UnmarshalJSON requires "id" and "scope" (as the cloud does); an absent
// or null auto_prefix_streams is false, an absent or null expires_at is
// none. The id is not validated here; Validate does that.
func (t *TokenInfo) UnmarshalJSON(b []byte) error {
	if isNull(b) {
		return errors.New("access token info must be an object, not null")
	}
	var w tokenInfoJSON
	if err := json.Unmarshal(b, &w); err != nil {
		return err
	}
	if w.ID == nil {
		return errors.New("missing field `id`")
	}
	if w.Scope == nil {
		return errors.New("missing field `scope`")
	}
	*t = TokenInfo{ID: *w.ID, ExpiresAt: w.ExpiresAt, Scope: *w.Scope}
	if w.AutoPrefixStreams != nil {
		t.AutoPrefixStreams = *w.AutoPrefixStreams
	}
	return nil
}

// DecodeTokenInfo decodes a JSON request body, answering problems with a
// 400 bad_json.
func DecodeTokenInfo(body []byte) (*TokenInfo, error) {
	var t TokenInfo
	if err := json.Unmarshal(body, &t); err != nil {
		return nil, badJSON("%v", err)
	}
	return &t, nil
}

// Expired reports whether the token has expired at now. A token expires at
// its expires_at instant: it is valid strictly before it.
func (t *TokenInfo) Expired(now time.Time) bool {
	return t.ExpiresAt != nil && !now.Before(*t.ExpiresAt)
}

// autoPrefix is the prefix stream names are namespaced under, if any.
func (t *TokenInfo) autoPrefix() (string, bool) {
	if !t.AutoPrefixStreams || !t.Scope.Streams.IsPrefix() {
		return "", false
	}
	return t.Scope.Streams.Value, true
}

// StreamNameIn maps a stream name from a request of this token to the
// stored name: with auto_prefix_streams the streams prefix is prepended,
// otherwise name is returned as is. Apply it to every stream name argument:
// path names, the list-streams prefix and start_after, and stream names in
// bodies. The result may exceed the 512-byte stream name limit, which the
// caller checks as for any name.
func (t *TokenInfo) StreamNameIn(name string) string {
	if p, ok := t.autoPrefix(); ok {
		return p + name
	}
	return name
}

// StreamNameOut maps a stored stream name to the name this token sees: with
// auto_prefix_streams the prefix is stripped, and false is returned for a
// name that is not under the prefix, or is the prefix itself (it would show
// as the empty name); such names must not be shown. Without auto-prefixing
// it returns (name, true).
func (t *TokenInfo) StreamNameOut(name string) (string, bool) {
	p, ok := t.autoPrefix()
	if !ok {
		return name, true
	}
	if len(name) <= len(p) || !strings.HasPrefix(name, p) {
		return "", false
	}
	return name[len(p):], true
}

// Root returns the token info of the operator's root token: full scope, no
// expiry, no auto-prefixing. Its empty id is not a valid token id, so no
// issued token can collide with it and it is never listed or revocable.
func Root() *TokenInfo {
	return &TokenInfo{Scope: FullScope()}
}

// Clone returns a deep copy of t.
func (t *TokenInfo) Clone() *TokenInfo {
	c := *t
	if t.ExpiresAt != nil {
		e := *t.ExpiresAt
		c.ExpiresAt = &e
	}
	c.Scope.Basins = t.Scope.Basins.Clone()
	c.Scope.Streams = t.Scope.Streams.Clone()
	c.Scope.AccessTokens = t.Scope.AccessTokens.Clone()
	c.Scope.Operations = append([]Operation(nil), t.Scope.Operations...)
	return &c
}

func isNull(b []byte) bool { return bytes.Equal(bytes.TrimSpace(b), []byte("null")) }
