package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"iter"
	"net/http"
	"net/url"
	"time"
)

// Operation is an operation an access token may be allowed (API 13, the
// openapi Operation enum), by its wire name.
type Operation string

// The operations of the openapi Operation enum.
const (
	OpListBasins        Operation = "list-basins"
	OpCreateBasin       Operation = "create-basin"
	OpDeleteBasin       Operation = "delete-basin"
	OpReconfigureBasin  Operation = "reconfigure-basin"
	OpGetBasinConfig    Operation = "get-basin-config"
	OpIssueAccessToken  Operation = "issue-access-token"
	OpRevokeAccessToken Operation = "revoke-access-token"
	OpListAccessTokens  Operation = "list-access-tokens"
	OpListStreams       Operation = "list-streams"
	OpCreateStream      Operation = "create-stream"
	OpDeleteStream      Operation = "delete-stream"
	OpGetStreamConfig   Operation = "get-stream-config"
	OpReconfigureStream Operation = "reconfigure-stream"
	OpCheckTail         Operation = "check-tail"
	OpAppend            Operation = "append"
	OpRead              Operation = "read"
	OpTrim              Operation = "trim"
	OpFence             Operation = "fence"
	OpAccountMetrics    Operation = "account-metrics"
	OpBasinMetrics      Operation = "basin-metrics"
	OpStreamMetrics     Operation = "stream-metrics"
)

// ResourceSet is a set of basins, streams or access tokens by name (the
// openapi ResourceSet): exactly one of Exact and Prefix is set. An exact
// name of "" matches nothing, a prefix of "" everything. Make one with
// MatchExact or MatchPrefix.
type ResourceSet struct {
	Exact  *string `json:"exact,omitempty"`
	Prefix *string `json:"prefix,omitempty"`
}

// MatchExact is the set of the one resource with this name.
func MatchExact(name string) *ResourceSet { return &ResourceSet{Exact: &name} }

// MatchPrefix is the set of the resources whose names start with prefix.
func MatchPrefix(prefix string) *ResourceSet { return &ResourceSet{Prefix: &prefix} }

// MarshalJSON writes {"exact": name} or {"prefix": prefix}.
func (r ResourceSet) MarshalJSON() ([]byte, error) {
	switch {
	case r.Exact != nil && r.Prefix != nil:
		return nil, errors.New("client: a ResourceSet has both Exact and Prefix")
	case r.Exact != nil:
		return json.Marshal(struct {
			Exact string `json:"exact"`
		}{*r.Exact})
	case r.Prefix != nil:
		return json.Marshal(struct {
			Prefix string `json:"prefix"`
		}{*r.Prefix})
	}
	return nil, errors.New("client: a ResourceSet has neither Exact nor Prefix")
}

// ReadWritePermissions are the read and write halves of an operation
// group.
type ReadWritePermissions struct {
	Read  bool `json:"read"`
	Write bool `json:"write"`
}

// PermittedOperationGroups grant whole groups of operations: account
// (basins, access tokens), basin (streams) and stream (records). A nil
// group grants nothing.
type PermittedOperationGroups struct {
	Account *ReadWritePermissions `json:"account,omitempty"`
	Basin   *ReadWritePermissions `json:"basin,omitempty"`
	Stream  *ReadWritePermissions `json:"stream,omitempty"`
}

// AccessTokenScope is what a token may do (the openapi AccessTokenScope):
// the union of Ops and of the operations OpGroups grants, on the basins,
// streams and access tokens of the resource sets. A nil resource set
// matches nothing.
type AccessTokenScope struct {
	Basins       *ResourceSet              `json:"basins,omitempty"`
	Streams      *ResourceSet              `json:"streams,omitempty"`
	AccessTokens *ResourceSet              `json:"access_tokens,omitempty"`
	OpGroups     *PermittedOperationGroups `json:"op_groups,omitempty"`
	Ops          []Operation               `json:"ops,omitempty"`
}

// AccessTokenInfo describes an access token (the openapi AccessTokenInfo):
// what is sent to issue one, and what a listing returns (never the secret).
type AccessTokenInfo struct {
	// ID is unique to the account, 1 to 96 bytes.
	ID string `json:"id"`
	// ExpiresAt, when nil in an issue request, is the issuing token's
	// expiry; a listed token without one does not expire.
	ExpiresAt *time.Time `json:"expires_at,omitempty"`
	// AutoPrefixStreams namespaces the token's streams by its streams
	// prefix: stream names it sends are prefixed, names it lists are
	// stripped of the prefix. Scope.Streams must then be a prefix.
	AutoPrefixStreams bool             `json:"auto_prefix_streams,omitempty"`
	Scope             AccessTokenScope `json:"scope"`
}

// ListAccessTokensPage is one page of access tokens.
type ListAccessTokensPage struct {
	AccessTokens []AccessTokenInfo `json:"access_tokens"`
	HasMore      bool              `json:"has_more"`
}

// IssueAccessToken issues an access token and returns its secret, which
// the server shows only this once (API 13). The new token may not be
// broader than the client's own, nor outlive it.
//
// Issuing is not idempotent, and an id can be issued only once: a retry of
// an issue that took effect would fail with resource_already_exists and
// the secret would be lost. So a failed issue is retried only when the
// failure guarantees it took no effect (as appends are by default): a
// connection that could not be made, or a retryable error the API says
// has no side effects.
func (c *Client) IssueAccessToken(ctx context.Context, info AccessTokenInfo) (string, error) {
	body, err := json.Marshal(info)
	if err != nil {
		return "", err
	}
	var out struct {
		AccessToken string `json:"access_token"`
	}
	err = c.getJSON(ctx, &request{method: http.MethodPost, base: c.account, path: "/access-tokens", body: body,
		ctype: "application/json", onlyIfNoEffect: true}, &out)
	if err != nil {
		return "", err
	}
	if out.AccessToken == "" {
		return "", fmt.Errorf("client: POST /access-tokens answered no access_token")
	}
	return out.AccessToken, nil
}

// ListAccessTokens returns one page of the access tokens the client's
// token may see, by id (API 13). ListOptions.Prefix and StartAfter are
// token ids.
func (c *Client) ListAccessTokens(ctx context.Context, o ListOptions) (ListAccessTokensPage, error) {
	var page ListAccessTokensPage
	err := c.getJSON(ctx, &request{method: http.MethodGet, base: c.account, path: "/access-tokens", query: listQuery(o)}, &page)
	return page, err
}

// AllAccessTokens iterates over every access token matching o, page
// after page. Limit, if set, bounds the total.
func (c *Client) AllAccessTokens(ctx context.Context, o ListOptions) iter.Seq2[AccessTokenInfo, error] {
	return paginate(o, func(o ListOptions) ([]AccessTokenInfo, bool, error) {
		p, err := c.ListAccessTokens(ctx, o)
		return p.AccessTokens, p.HasMore, err
	}, func(t AccessTokenInfo) string { return t.ID })
}

// RevokeAccessToken revokes an access token (API 13); requests carrying it
// fail from then on, and its open sessions end. A token that does not
// exist is a 404 access_token_not_found, which a retry of a revocation
// that took effect also gets.
func (c *Client) RevokeAccessToken(ctx context.Context, id string) error {
	_, err := c.do(ctx, &request{method: http.MethodDelete, base: c.account, path: "/access-tokens/" + url.PathEscape(id)})
	return err
}
