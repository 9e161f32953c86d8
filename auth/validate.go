package auth

import (
	"errors"
	"fmt"
	"time"
	"unicode/utf8"
)

// Limits of API section 2.
const (
	MaxTokenIDLen     = 96
	minBasinNameLen   = 8
	maxBasinNameLen   = 48
	maxStreamNameLen  = 512
	MinRootTokenLen   = 16
	MaxRootTokenLen   = 1024
	permissionsEmpty  = "Access token permissions cannot be empty"
	autoPrefixInvalid = "Auto prefixing is only allowed for streams with prefix matching"
)

// ValidateTokenID checks an access token id: 1 to 96 bytes, not "." or
// "..". The server answers a bad id in the revoke path with ErrBadTokenPath;
// Validate answers one in a request body with 400 bad_json.
func ValidateTokenID(id string) error {
	switch {
	case id == "":
		return errors.New("access token id must not be empty")
	case id == "." || id == "..":
		return errors.New(`access token id must not be "." or ".."`)
	case len(id) > MaxTokenIDLen:
		return fmt.Errorf("access token id must not exceed %d bytes in length", MaxTokenIDLen)
	}
	return nil
}

// Validate checks a request to issue the token req on behalf of the token
// issuer (already authenticated, so not expired) at now, and returns the
// token to store: req with the expiry defaulted, empty resource sets
// normalized to nil, the ops list in enum order, and stream sets moved
// into the issuer's namespace when the issuer has auto_prefix_streams.
// req itself is not modified.
//
// The checks, in order (the first failure is returned as *Error):
//
//  1. 400 bad_json: the id (1..96 bytes, not "."/"..") and the names in
//     the resource sets (valid basin name / basin prefix, stream name
//     1..512 bytes and not "."/".." / stream prefix ≤ 512 bytes, token id
//     / token id prefix ≤ 96 bytes); the cloud rejects these while
//     decoding the body.
//  2. 403 permission_denied: the issuer may not issue-access-token on the
//     new id (op missing or id outside its access_tokens set).
//  3. 422 invalid: the effective ops are empty ("Access token permissions
//     cannot be empty"); auto_prefix_streams without a streams prefix set
//     ("Auto prefixing is only allowed for streams with prefix matching");
//     expires_at not after now.
//  4. 403 permission_denied: the new token would be broader than the
//     issuer: an operation the issuer lacks, a basins/streams/access_tokens
//     set that is not a subset of the issuer's (ResourceSet.SubsetOf), or
//     an expiry later than the issuer's.
func Validate(issuer, req *TokenInfo, now time.Time) (*TokenInfo, error) {
	if err := checkSyntax(req); err != nil {
		return nil, err
	}
	if !issuer.Scope.AllowsToken(OpIssueAccessToken, req.ID) {
		return nil, issuer.Scope.Check(OpIssueAccessToken, req.ID, "")
	}
	ops := req.Scope.Ops()
	if ops == 0 {
		return nil, invalid(permissionsEmpty)
	}
	if req.AutoPrefixStreams && !req.Scope.Streams.IsPrefix() {
		return nil, invalid(autoPrefixInvalid)
	}
	out := req.Clone()
	if out.ExpiresAt == nil && issuer.ExpiresAt != nil {
		e := *issuer.ExpiresAt
		out.ExpiresAt = &e
	}
	if out.ExpiresAt != nil {
		if !out.ExpiresAt.After(now) {
			return nil, invalid("expiration time %s is not in the future", out.ExpiresAt.UTC().Format(time.RFC3339Nano))
		}
		e := out.ExpiresAt.UTC()
		out.ExpiresAt = &e
	}
	out.Scope.Basins = out.Scope.Basins.Normalize()
	out.Scope.Streams = out.Scope.Streams.Normalize()
	out.Scope.AccessTokens = out.Scope.AccessTokens.Normalize()
	out.Scope.Operations = OpsOf(out.Scope.Operations...).Slice()
	if p, ok := issuer.autoPrefix(); ok && out.Scope.Streams != nil {
		// The issuer names streams relative to its namespace, so the new
		// token's streams live inside it.
		out.Scope.Streams = &ResourceSet{Kind: out.Scope.Streams.Kind, Value: p + out.Scope.Streams.Value}
	}

	if extra := ops &^ issuer.Scope.Ops(); extra != 0 {
		return nil, denied("cannot grant operations the issuing token lacks: %s", extra)
	}
	for _, c := range []struct {
		what          string
		child, parent *ResourceSet
	}{
		{"basins", out.Scope.Basins, issuer.Scope.Basins},
		{"streams", out.Scope.Streams, issuer.Scope.Streams},
		{"access_tokens", out.Scope.AccessTokens, issuer.Scope.AccessTokens},
	} {
		if !c.child.SubsetOf(c.parent) {
			return nil, denied("cannot grant %s %v beyond the issuing token's %v", c.what, c.child, c.parent)
		}
	}
	if issuer.ExpiresAt != nil && out.ExpiresAt.After(*issuer.ExpiresAt) {
		return nil, denied("expiration time %s is later than the issuing token's %s",
			out.ExpiresAt.Format(time.RFC3339Nano), issuer.ExpiresAt.UTC().Format(time.RFC3339Nano))
	}
	return out, nil
}

func checkSyntax(t *TokenInfo) error {
	if err := ValidateTokenID(t.ID); err != nil {
		return badJSON("%v", err)
	}
	s := &t.Scope
	if r := s.Basins; r != nil {
		if err := checkBasinSet(r); err != nil {
			return badJSON("scope.basins: %v", err)
		}
	}
	if r := s.Streams; r != nil {
		if err := checkStreamSet(r); err != nil {
			return badJSON("scope.streams: %v", err)
		}
	}
	if r := s.AccessTokens; r != nil && r.Value != "" {
		var err error
		if r.Kind == MatchExact {
			err = ValidateTokenID(r.Value)
		} else if len(r.Value) > MaxTokenIDLen {
			err = fmt.Errorf("access token id prefix must not exceed %d bytes in length", MaxTokenIDLen)
		}
		if err != nil {
			return badJSON("scope.access_tokens: %v", err)
		}
	}
	for _, op := range s.Operations {
		if !op.Valid() {
			return badJSON("scope.ops: unknown operation %q", string(op))
		}
	}
	return nil
}

func checkBasinSet(r *ResourceSet) error {
	v := r.Value
	if v == "" {
		return nil
	}
	if len(v) > maxBasinNameLen {
		return fmt.Errorf("basin name should be at most %d bytes in length", maxBasinNameLen)
	}
	if r.Kind == MatchExact && len(v) < minBasinNameLen {
		return fmt.Errorf("basin name should be at least %d bytes in length", minBasinNameLen)
	}
	if !lowerAlnum(v[0]) {
		return errors.New("basin name must begin with a lowercase letter or number")
	}
	for i := 0; i < len(v); i++ {
		if c := v[i]; !lowerAlnum(c) && c != '-' {
			return errors.New("basin name must comprise lowercase letters, numbers, and hyphens")
		}
	}
	if r.Kind == MatchExact && v[len(v)-1] == '-' {
		return errors.New("basin name must end with a lowercase letter or number")
	}
	return nil
}

func lowerAlnum(c byte) bool { return c >= 'a' && c <= 'z' || c >= '0' && c <= '9' }

func checkStreamSet(r *ResourceSet) error {
	v := r.Value
	if len(v) > maxStreamNameLen {
		return fmt.Errorf("stream name must not exceed %d bytes in length", maxStreamNameLen)
	}
	if r.Kind == MatchExact && (v == "." || v == "..") {
		return errors.New(`stream name must not be "." or ".."`)
	}
	if r.Kind == MatchExact && v != "" && !utf8.ValidString(v) {
		return errors.New("stream name must be valid UTF-8")
	}
	return nil
}

// ValidateRootToken checks an operator-supplied root token: at least
// MinRootTokenLen bytes (the keyed fast hash gives no protection to a
// guessable secret, see doc.go), at most MaxRootTokenLen, and only
// printable ASCII without spaces so that it survives an Authorization
// header unchanged.
func ValidateRootToken(token string) error {
	if len(token) < MinRootTokenLen {
		return fmt.Errorf("root access token must be at least %d bytes long (use a random one, e.g. from `openssl rand -base64 32`)", MinRootTokenLen)
	}
	if len(token) > MaxRootTokenLen {
		return fmt.Errorf("root access token must be at most %d bytes long", MaxRootTokenLen)
	}
	for i := 0; i < len(token); i++ {
		if c := token[i]; c <= ' ' || c > '~' {
			return errors.New("root access token must be printable ASCII without spaces")
		}
	}
	return nil
}
