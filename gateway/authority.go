package gateway

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"net/http"
	"sync"
	"time"

	"github.com/s2lite/s2lite/auth"
	"github.com/s2lite/s2lite/authstore"
	"github.com/s2lite/s2lite/partition"
)

const (
	// principalCacheTTL is how long a token's answer from the root's owner
	// is reused: a token revoked there keeps working on other nodes this
	// long.
	principalCacheTTL = 5 * time.Second
	// principalCacheMax bounds the cache; it is cleared when full (answers
	// are cheap to fetch again, and a flood of bad tokens must not grow
	// memory).
	principalCacheMax = 10000
	authTimeout       = 5 * time.Second
)

// Authority authenticates access tokens against the root unit's token
// store wherever it is served. It implements the server's Authority.
type Authority struct {
	g     *Gateway
	mu    sync.Mutex
	cache map[[32]byte]cachedPrincipal
}

type cachedPrincipal struct {
	p       *authstore.Principal
	err     error
	expires time.Time
}

func newAuthority(g *Gateway) *Authority {
	return &Authority{g: g, cache: make(map[[32]byte]cachedPrincipal)}
}

// Authority returns the gateway's token authority, for the units' API
// servers.
func (g *Gateway) Authority() *Authority { return g.auth }

func unavailable(msg string) error {
	return &auth.Error{Status: http.StatusServiceUnavailable, Code: "unavailable", Message: msg}
}

// localTokens is the root's token store when this node serves the root.
func (a *Authority) localTokens() (*authstore.Store, Route, error) {
	rt, err := a.g.opts.Directory.Route(partition.Root)
	if err != nil {
		return nil, rt, unavailable("access tokens: " + err.Error())
	}
	if rt.Local != nil {
		if rt.Local.Tokens == nil {
			return nil, rt, unavailable("access tokens are not loaded")
		}
		return rt.Local.Tokens, rt, nil
	}
	return nil, rt, nil
}

// Authenticate returns the principal of secret.
func (a *Authority) Authenticate(secret string) (*authstore.Principal, error) {
	tokens, rt, err := a.localTokens()
	if err != nil {
		return nil, err
	}
	if tokens != nil {
		return tokens.Authenticate(secret)
	}
	if secret == "" {
		return nil, auth.ErrAuthn("missing access token")
	}
	// The secret itself is never kept: the cache is keyed by its hash.
	key := sha256.Sum256([]byte(secret))
	now := a.g.now()
	a.mu.Lock()
	c, ok := a.cache[key]
	a.mu.Unlock()
	if ok && now.Before(c.expires) {
		return c.p, c.err
	}
	ctx, cancel := context.WithTimeout(context.Background(), authTimeout)
	defer cancel()
	var ans principalAnswer
	err = a.g.internalGet(ctx, rt, "principal", secret, &ans)
	var p *authstore.Principal
	var es *errStatus
	switch {
	case err == nil && ans.Root:
		p = &authstore.Principal{Info: auth.Root()}
	case err == nil && ans.Info != nil:
		p = &authstore.Principal{Info: ans.Info}
	case err == nil:
		return nil, unavailable("access tokens: empty answer from the root's owner")
	case errors.As(err, &es) && es.status == http.StatusUnauthorized:
		var eb errorBody
		_ = json.Unmarshal(es.body, &eb)
		err = auth.ErrAuthn(eb.Message)
	default:
		return nil, unavailable("access tokens: " + err.Error())
	}
	a.mu.Lock()
	if len(a.cache) >= principalCacheMax {
		clear(a.cache)
	}
	a.cache[key] = cachedPrincipal{p: p, err: err, expires: now.Add(principalCacheTTL)}
	a.mu.Unlock()
	return p, err
}

// Issue, List and Revoke are served by the root's owner only: the gateway
// sends /v1/access-tokens requests there.
func (a *Authority) Issue(ctx context.Context, issuer *authstore.Principal, req *auth.TokenInfo) (string, error) {
	tokens, _, err := a.localTokens()
	if err != nil {
		return "", err
	}
	if tokens == nil {
		return "", unavailable("access tokens moved to another node; retry")
	}
	return tokens.Issue(ctx, issuer, req)
}

func (a *Authority) List(viewer *authstore.Principal, prefix, startAfter string, limit int) ([]auth.TokenInfo, bool) {
	tokens, _, err := a.localTokens()
	if err != nil || tokens == nil {
		return nil, false
	}
	return tokens.List(viewer, prefix, startAfter, limit)
}

func (a *Authority) Revoke(ctx context.Context, id string) error {
	tokens, _, err := a.localTokens()
	if err != nil {
		return err
	}
	if tokens == nil {
		return unavailable("access tokens moved to another node; retry")
	}
	return tokens.Revoke(ctx, id)
}
