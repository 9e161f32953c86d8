// Package authstore keeps access tokens durably in the engine and answers
// the server's questions about them from memory: which token a secret is
// (microseconds: one HMAC and a map lookup), issue, list and revoke.
//
// Only a hash of each secret is stored (auth.Hasher, HMAC-SHA256 under a
// per-deployment key kept next to the tokens), never the secret. Records
// live under their own key prefix, so backups, restores and checkpoints
// carry them with everything else:
//
//	a/key       the hashing key (32 random bytes, made once)
//	a/root      the root token's hash
//	a/t/<id>    an issued token (auth.Record, versioned JSON)
//
// A revoked token's record is deleted: it then authenticates nobody, and
// revoking it again answers 404. Every token is held in memory (one small
// record each), loaded at Open.
package authstore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/s2lite/s2lite/auth"
	"github.com/s2lite/s2lite/engine"
)

var (
	keyKey     = []byte("a/key")
	rootKey    = []byte("a/root")
	tokenPrefx = "a/t/"
)

func tokenKey(id string) []byte { return []byte(tokenPrefx + id) }

// Principal is an authenticated token.
type Principal struct {
	// Info is the token; for the root token, auth.Root().
	Info *auth.TokenInfo
	// Revoked is closed when the token is revoked (never for the root).
	Revoked <-chan struct{}
}

// IsRoot reports whether p is the root token.
func (p *Principal) IsRoot() bool { return p.Info.ID == "" }

type entry struct {
	rec     *auth.Record
	revoked chan struct{}
}

// Store is the set of tokens of one database.
type Store struct {
	db     *engine.DB
	hasher *auth.Hasher
	now    func() time.Time
	root   *Principal

	mu       sync.RWMutex
	rootHash [32]byte
	byHash   map[[32]byte]*entry
	byID     map[string]*entry
	ids      []string // sorted
}

// Options configure Open.
type Options struct {
	// RootToken, when set, is the root token (and replaces a stored one);
	// when empty, the stored one is kept or, on a database that has none,
	// one is generated.
	RootToken string
	// Now is the clock for expiry (default time.Now).
	Now func() time.Time
}

// Open loads the tokens of db. generated is the new root token's secret
// when one was made (to show the operator once), else "".
func Open(ctx context.Context, db *engine.DB, opts Options) (s *Store, generated string, err error) {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.RootToken != "" {
		if err := auth.ValidateRootToken(opts.RootToken); err != nil {
			return nil, "", err
		}
	}
	key, err := db.Get(ctx, keyKey)
	switch {
	case errors.Is(err, engine.ErrNotFound):
		k, err := auth.NewKey()
		if err != nil {
			return nil, "", err
		}
		key = k[:]
		b := engine.NewBatch()
		b.Set(keyKey, key)
		if err := db.Write(ctx, b); err != nil {
			return nil, "", fmt.Errorf("authstore: storing the hashing key: %w", err)
		}
	case err != nil:
		return nil, "", fmt.Errorf("authstore: reading the hashing key: %w", err)
	}
	hasher, err := auth.NewHasher(key)
	if err != nil {
		return nil, "", fmt.Errorf("authstore: %w", err)
	}
	s = &Store{
		db: db, hasher: hasher, now: opts.Now,
		root:   &Principal{Info: auth.Root()},
		byHash: map[[32]byte]*entry{}, byID: map[string]*entry{},
	}

	root := opts.RootToken
	stored, err := db.Get(ctx, rootKey)
	switch {
	case err != nil && !errors.Is(err, engine.ErrNotFound):
		return nil, "", fmt.Errorf("authstore: reading the root token: %w", err)
	case root == "" && err == nil && len(stored) == len(s.rootHash):
		copy(s.rootHash[:], stored)
	default:
		if root == "" {
			if root, err = auth.NewSecret(); err != nil {
				return nil, "", err
			}
			generated = root
		}
		s.rootHash = hasher.Hash(root)
		if !bytes.Equal(stored, s.rootHash[:]) {
			b := engine.NewBatch()
			b.Set(rootKey, s.rootHash[:])
			if err := db.Write(ctx, b); err != nil {
				return nil, "", fmt.Errorf("authstore: storing the root token's hash: %w", err)
			}
		}
	}

	it, err := db.NewIter(ctx, &engine.IterOptions{LowerBound: []byte(tokenPrefx), UpperBound: []byte("a/t0")})
	if err != nil {
		return nil, "", fmt.Errorf("authstore: %w", err)
	}
	defer it.Close()
	for ok := it.First(); ok; ok = it.Next() {
		rec, err := auth.DecodeRecord(it.Value())
		if err != nil {
			return nil, "", fmt.Errorf("authstore: token %q: %w", strings.TrimPrefix(string(it.Key()), tokenPrefx), err)
		}
		if rec.Revoked() || rec.KeyID != hasher.KeyID() {
			continue
		}
		s.add(rec)
	}
	if err := it.Error(); err != nil {
		return nil, "", fmt.Errorf("authstore: loading tokens: %w", err)
	}
	return s, generated, nil
}

// add indexes rec; the caller holds mu or owns s.
func (s *Store) add(rec *auth.Record) {
	e := &entry{rec: rec, revoked: make(chan struct{})}
	s.byHash[rec.Hash] = e
	s.byID[rec.Info.ID] = e
	i, _ := slices.BinarySearch(s.ids, rec.Info.ID)
	s.ids = slices.Insert(s.ids, i, rec.Info.ID)
}

// Authenticate returns the principal of a secret: 401 authn for an
// unknown, revoked or expired one.
func (s *Store) Authenticate(secret string) (*Principal, error) {
	if secret == "" {
		return nil, auth.ErrAuthn("missing access token")
	}
	h := s.hasher.Hash(secret)
	s.mu.RLock()
	isRoot := h == s.rootHash
	e := s.byHash[h]
	s.mu.RUnlock()
	switch {
	case isRoot:
		return s.root, nil
	case e == nil:
		return nil, auth.ErrAuthn("invalid access token")
	case e.rec.Info.Expired(s.now()):
		return nil, auth.ErrAuthn("access token expired")
	}
	return &Principal{Info: &e.rec.Info, Revoked: e.revoked}, nil
}

// Issue validates req against issuer, stores it durably and returns its
// secret, shown this once.
func (s *Store) Issue(ctx context.Context, issuer *Principal, req *auth.TokenInfo) (string, error) {
	now := s.now()
	info, err := auth.Validate(issuer.Info, req, now)
	if err != nil {
		return "", err
	}
	secret, err := auth.NewSecret()
	if err != nil {
		return "", err
	}
	rec := &auth.Record{Info: *info, Hash: s.hasher.Hash(secret), KeyID: s.hasher.KeyID(), CreatedAt: now.UTC(), IssuedBy: issuer.Info.ID}
	val, err := auth.EncodeRecord(rec)
	if err != nil {
		return "", err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.byID[info.ID]; ok {
		return "", auth.ErrTokenExists(info.ID)
	}
	b := engine.NewBatch()
	b.Set(tokenKey(info.ID), val)
	if err := s.db.Write(ctx, b); err != nil {
		return "", fmt.Errorf("authstore: storing token %q: %w", info.ID, err)
	}
	s.add(rec)
	return secret, nil
}

// List returns up to limit tokens visible to viewer with ids starting with
// prefix and after startAfter, in id order, and whether there are more.
func (s *Store) List(viewer *Principal, prefix, startAfter string, limit int) ([]auth.TokenInfo, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	i, _ := slices.BinarySearch(s.ids, max(prefix, startAfter))
	var out []auth.TokenInfo
	for ; i < len(s.ids); i++ {
		id := s.ids[i]
		if !strings.HasPrefix(id, prefix) {
			break
		}
		if id <= startAfter || !viewer.Info.Scope.TokenVisible(id) {
			continue
		}
		if len(out) == limit {
			return out, true
		}
		out = append(out, *s.byID[id].rec.Info.Clone())
	}
	return out, false
}

// Revoke deletes token id durably; sessions of the token see Revoked
// closed. 404 access_token_not_found when there is no such token.
func (s *Store) Revoke(ctx context.Context, id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.byID[id]
	if !ok {
		return auth.ErrTokenNotFound(id)
	}
	b := engine.NewBatch()
	b.Delete(tokenKey(id))
	if err := s.db.Write(ctx, b); err != nil {
		return fmt.Errorf("authstore: revoking token %q: %w", id, err)
	}
	delete(s.byID, id)
	delete(s.byHash, e.rec.Hash)
	if i, found := slices.BinarySearch(s.ids, id); found {
		s.ids = slices.Delete(s.ids, i, i+1)
	}
	close(e.revoked)
	return nil
}
