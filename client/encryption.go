package client

import (
	"encoding/base64"
	"fmt"
	"strings"
)

// Stream ciphers a basin can give the streams created in it (API 7.9,
// BasinConfig.StreamCipher, StreamInfo.Cipher).
const (
	CipherAegis256  = "aegis-256"
	CipherAes256Gcm = "aes-256-gcm"
)

// EncryptionKeySize is the size of a stream encryption key: both ciphers
// take 32 bytes.
const EncryptionKeySize = 32

// encryptionKeyHeader carries the base64 of the key on appends, reads and
// imports (API 7.9).
const encryptionKeyHeader = "s2-encryption-key"

// EncryptionKey is the key of an encrypted stream (one whose basin had a
// stream_cipher when it was created). The server encrypts appended records
// with it and decrypts read ones; it never stores it. The zero value is no
// key.
//
// An EncryptionKey prints as "EncryptionKey(<redacted>)" with any fmt verb,
// also inside a Stream, so it does not end up in logs by accident; the
// client sends it only in the s2-encryption-key header of appends, reads
// and imports, never in an error message.
type EncryptionKey struct {
	// fmt cannot call String on an unexported field (a Stream's key) and
	// prints what it holds instead; a closure is the one thing it prints
	// as a bare address whatever the verb, so the key lives in one.
	s *encodedKey
}

type encodedKey struct{ header func() string }

func newEncodedKey(header string) *encodedKey {
	return &encodedKey{func() string { return header }}
}

// NewEncryptionKey returns the key made of raw, which must be 32 bytes.
// The bytes are copied (encoded).
func NewEncryptionKey(raw []byte) (EncryptionKey, error) {
	if len(raw) != EncryptionKeySize {
		return EncryptionKey{}, fmt.Errorf("client: invalid encryption key: %d bytes, want %d", len(raw), EncryptionKeySize)
	}
	return EncryptionKey{newEncodedKey(base64.StdEncoding.EncodeToString(raw))}, nil
}

// ParseEncryptionKey returns the key whose standard base64 (with padding,
// surrounding spaces ignored) is text, as the official CLI's --encryption-key
// and S2_ENCRYPTION_KEY take it: it must decode to 32 bytes.
func ParseEncryptionKey(text string) (EncryptionKey, error) {
	text = strings.TrimSpace(text)
	raw, err := base64.StdEncoding.DecodeString(text)
	if err != nil {
		// Not the decoder's message: it quotes the offending byte.
		return EncryptionKey{}, fmt.Errorf("client: invalid encryption key: not standard base64 (%d characters)", len(text))
	}
	defer clear(raw)
	return NewEncryptionKey(raw)
}

// IsZero reports whether k is no key.
func (k EncryptionKey) IsZero() bool { return k.s == nil }

// String never shows the key.
func (k EncryptionKey) String() string {
	if k.s == nil {
		return "EncryptionKey(none)"
	}
	return "EncryptionKey(<redacted>)"
}

// GoString never shows the key either (%#v).
func (k EncryptionKey) GoString() string { return k.String() }

// Format makes every verb, %x and %q included, print String.
func (k EncryptionKey) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(k.String())) }

func (k EncryptionKey) header() string {
	if k.s == nil {
		return ""
	}
	return k.s.header()
}

// WithEncryptionKey returns a handle on the same stream whose appends,
// reads, read sessions, append sessions and imports carry key (the
// official SDKs' per-stream option: Rust S2Stream::with_encryption_key, Go
// StreamOptions.EncryptionKey). The zero key sends none. The handle s is
// not changed.
func (s *Stream) WithEncryptionKey(key EncryptionKey) *Stream {
	c := *s
	c.key = key
	return &c
}

// EncryptionKey is the key the stream's record operations carry, or the
// zero key.
func (s *Stream) EncryptionKey() EncryptionKey { return s.key }
