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
	// principalStaleLimit is how long an answer keeps being used while the
	// root's owner cannot be asked (moving, cut off): revocations still
	// reach this node through their announcements, so a token known here
	// keeps working through an outage of the root's owner; a token never
	// seen here cannot be checked until it is back.
	principalStaleLimit = 10 * time.Minute
	authTimeout         = 2 * time.Second
)

// Authority authenticates access tokens against the root unit's token
// store wherever it is served. It implements the server's Authority.
type Authority struct {
	g     *Gateway
	mu    sync.Mutex
	cache map[[32]byte]cachedPrincipal
	// revoked is the Revoked channel of each token ID seen from the
	// root's owner, shared by every cached answer for it, closed by
	// Forget: sessions opened with the token end when it is revoked.
	revoked map[string]chan struct{}
	// onRevoke, when set, is told of each revocation made here.
	onRevoke func(id string)
}

type cachedPrincipal struct {
	p       *authstore.Principal
	err     error
	expires time.Time
	fetched time.Time
}

func newAuthority(g *Gateway) *Authority {
	return &Authority{g: g, cache: make(map[[32]byte]cachedPrincipal), revoked: make(map[string]chan struct{})}
}

// OnRevoke sets fn to be told of each token revoked through this node (it
// serves the root): a cluster announces it to the other nodes, which then
// Forget it instead of trusting their cache until it expires.
func (a *Authority) OnRevoke(fn func(id string)) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.onRevoke = fn
}

// Forget drops what the cache knows of token id and ends the sessions
// opened here with it.
func (a *Authority) Forget(id string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for k, c := range a.cache {
		if c.p != nil && c.p.Info.ID == id {
			delete(a.cache, k)
		}
	}
	if ch, ok := a.revoked[id]; ok {
		close(ch)
		delete(a.revoked, id)
	}
}

// revokedChan is the shared Revoked channel of token id; the caller holds mu.
func (a *Authority) revokedChan(id string) chan struct{} {
	ch, ok := a.revoked[id]
	if !ok {
		if len(a.revoked) >= principalCacheMax {
			clear(a.revoked) // sessions of the dropped IDs end at their next revocation only
		}
		ch = make(chan struct{})
		a.revoked[id] = ch
	}
	return ch
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
		a.mu.Lock()
		p = &authstore.Principal{Info: ans.Info, Revoked: a.revokedChan(ans.Info.ID)}
		a.mu.Unlock()
	case err == nil:
		return nil, unavailable("access tokens: empty answer from the root's owner")
	case errors.As(err, &es) && es.status == http.StatusUnauthorized:
		var eb errorBody
		_ = json.Unmarshal(es.body, &eb)
		err = auth.ErrAuthn(eb.Message)
	default:
		if ok && now.Sub(c.fetched) < principalStaleLimit {
			// Stale, but the root's owner cannot be asked: keep using it,
			// and ask again only after another TTL, so that requests do
			// not each wait for the failing question.
			c.expires = now.Add(principalCacheTTL)
			a.mu.Lock()
			if cur, still := a.cache[key]; still && cur.fetched.Equal(c.fetched) {
				a.cache[key] = c
			}
			a.mu.Unlock()
			return c.p, c.err
		}
		return nil, unavailable("access tokens: " + err.Error())
	}
	a.mu.Lock()
	if len(a.cache) >= principalCacheMax {
		clear(a.cache)
	}
	a.cache[key] = cachedPrincipal{p: p, err: err, expires: now.Add(principalCacheTTL), fetched: now}
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
	if err := tokens.Revoke(ctx, id); err != nil {
		return err
	}
	a.mu.Lock()
	fn := a.onRevoke
	a.mu.Unlock()
	if fn != nil {
		fn(id)
	}
	return nil
}
