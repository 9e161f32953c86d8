package auth

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"strings"
)

// SecretBytes is the entropy of a generated secret.
const SecretBytes = 32

// KeySize is the size of a Hasher key.
const KeySize = 32

// NewSecret returns a new access token secret: SecretBytes bytes from
// crypto/rand as unpadded base64url, 43 characters of [A-Za-z0-9_-].
func NewSecret() (string, error) {
	var b [SecretBytes]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("auth: generating secret: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b[:]), nil
}

// NewKey returns a random Hasher key, for a deployment that has none yet.
func NewKey() ([KeySize]byte, error) {
	var k [KeySize]byte
	if _, err := rand.Read(k[:]); err != nil {
		return k, fmt.Errorf("auth: generating key: %w", err)
	}
	return k, nil
}

// Hasher hashes secrets for storage and lookup with HMAC-SHA256 under a
// per-deployment key. It is safe for concurrent use.
type Hasher struct {
	key [KeySize]byte
}

// NewHasher returns a Hasher with the given KeySize-byte key.
func NewHasher(key []byte) (*Hasher, error) {
	if len(key) != KeySize {
		return nil, fmt.Errorf("auth: hash key must be %d bytes, got %d", KeySize, len(key))
	}
	h := &Hasher{}
	copy(h.key[:], key)
	return h, nil
}

// Hash returns HMAC-SHA256(key, secret).
func (h *Hasher) Hash(secret string) [32]byte {
	m := hmac.New(sha256.New, h.key[:])
	m.Write([]byte(secret))
	var out [32]byte
	m.Sum(out[:0])
	return out
}

// Verify reports, in constant time, whether secret hashes to sum.
func (h *Hasher) Verify(secret string, sum [32]byte) bool {
	got := h.Hash(secret)
	return subtle.ConstantTimeCompare(got[:], sum[:]) == 1
}

// KeyID names the key without revealing it: 16 hex digits of an HMAC of a
// fixed label. Records carry it so that a server started with another key
// can tell its hashes cannot match rather than failing every lookup.
func (h *Hasher) KeyID() string {
	m := hmac.New(sha256.New, h.key[:])
	m.Write([]byte("s2lite access token hash key id"))
	return hex.EncodeToString(m.Sum(nil)[:8])
}

// ParseBearer extracts the token from an Authorization header value of the
// form "Bearer <token>" (scheme case-insensitive). It reports false for a
// missing scheme, an empty token, a token with spaces or control
// characters, or one longer than any token this package accepts.
func ParseBearer(header string) (string, bool) {
	scheme, token, ok := strings.Cut(strings.TrimSpace(header), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	token = strings.TrimLeft(token, " ")
	if token == "" || len(token) > MaxRootTokenLen {
		return "", false
	}
	for i := 0; i < len(token); i++ {
		if c := token[i]; c <= ' ' || c > '~' {
			return "", false
		}
	}
	return token, true
}
